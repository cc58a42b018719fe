"""Request and response bodies of the HTTP API (Pydantic v2).

GeoJSON is accepted as plain JSON here and validated by the scenario
format's rules in the services, which name every problem at once; these
models bound sizes and shapes so hostile input fails early and clearly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, ConfigDict, Field

from detente.domain.agreements import AgreementKind
from detente.domain.model import Role

ID = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

#: The largest row id or world version the stores hold (SQLite INTEGER, PostgreSQL BIGINT).
#: A larger number in a request is refused with 422 instead of overflowing in the database.
MAX_ROW_ID = 2**63 - 1
#: The largest agreement version the stores hold (PostgreSQL INTEGER).
MAX_AGREEMENT_VERSION = 2**31 - 1

RowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection; foreign members are allowed (RFC 7946 §6.1)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(max_length=10_000)


class PartyIn(Strict):
    id: str = ID
    name: str = Field(min_length=1, max_length=200)
    role: Role


class PartyOut(BaseModel):
    id: str
    name: str
    role: Role


class Me(BaseModel):
    member: str
    party: str
    role: Role
    world_version: int


class MemberIn(Strict):
    name: str = Field(min_length=1, max_length=200)


class MemberOut(BaseModel):
    id: str
    party: str
    name: str
    created_at: datetime


class TokenIn(Strict):
    ttl_days: float = Field(default=90, gt=0, le=366)


class TokenOut(BaseModel):
    id: str
    member: str
    party: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class IssuedToken(TokenOut):
    token: str = Field(description="The bearer token: shown once, only its hash is stored")


class WorldOut(BaseModel):
    world_version: int
    separation: dict[str, dict[str, float | None]]


class ObjectCollection(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]
    world_version: int
    next: str | None = Field(default=None, description="Pass as `after` for the next page")


class WorldChange(BaseModel):
    world_version: int
    notice: dict[str, Any] | None = Field(
        default=None, description="For a site or movement: the notice sent (id, deadline, recipients)"
    )


class Override(Strict):
    justification: str = Field(min_length=10, max_length=4000)


class IntentIn(Strict):
    """An intent to file: its features, the world version checked against, an optional override."""

    intent: FeatureCollection
    world_version: int | None = Field(default=None, ge=0, le=MAX_ROW_ID, description="Required unless dry_run")
    override: Override | None = None


class Conflict(BaseModel):
    model_config = ConfigDict(extra="allow")

    intent: str
    volume: int
    type: str
    severity: str
    other: dict[str, Any]
    time: list[str | None]
    altitude_m: list[float | None] | None
    distance_m: float


class FilingOut(BaseModel):
    intent: str
    filed: bool
    world_version: int
    filing: int | None
    overridden: bool
    notified: list[str]
    blocking: int
    conflicts: list[Conflict]


class IntentOut(BaseModel):
    intent: dict[str, Any] | None = Field(description="The filed intent as a FeatureCollection; null once cancelled")
    filings: list[dict[str, Any]]


class AgreementIn(Strict):
    kind: AgreementKind
    title: str = Field(min_length=1, max_length=200)
    parties: list[str] = Field(min_length=2, max_length=32)
    body: dict[str, Any] = Field(
        description="A GeoJSON FeatureCollection (line, nfz, boundary) or minima such as "
        '{"air": {"horizontal_m": 9260, "vertical_m": 305}} (separation)'
    )


class AgreementAmend(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: dict[str, Any]


class PartySignature(Strict):
    """A party's Ed25519 signature, made with its registered key, over a statement's RFC 8785 JSON."""

    key_id: str = Field(min_length=1, max_length=100)
    signature: str = Field(min_length=1, max_length=200, description="base64 of the 64-byte signature")


class Decide(Strict):
    version: int = Field(ge=1, le=MAX_AGREEMENT_VERSION)
    signature: PartySignature | None = Field(
        default=None,
        description=(
            "Required when the party registered a key: its signature over "
            '{"type": "agreement.sign", "party", "agreement", "version", "digest"} (digest: see the agreement)'
        ),
    )


class RejectIn(Decide):
    reason: str | None = Field(default=None, max_length=4000)


class WithdrawIn(Strict):
    reason: str | None = Field(default=None, max_length=4000)


class AgreementOut(BaseModel):
    id: str
    version: int
    kind: AgreementKind
    title: str
    proposer: str
    parties: list[str]
    status: str
    signed: list[str]
    unsigned: list[str]
    body: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    digest: str = Field(description="SHA-256 of the terms' RFC 8785 JSON: what a party's signature binds it to")
    decisions: list[dict[str, Any]] | None = None


class Notification(BaseModel):
    id: int
    type: str
    party: str
    body: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    acked_at: datetime | None = None
    acked_by: str | None = None


class AckIn(Strict):
    signature: PartySignature | None = Field(
        default=None, description="Required when the party registered a key: its signature of the ack statement"
    )


class AckOut(BaseModel):
    notification: int
    acked_at: datetime
    acked_by: str
    signed: bool
    receipt: dict[str, Any] = Field(description="Proof, checkable offline, that the acknowledgement is in the log")


class AckTerms(BaseModel):
    statement: dict[str, Any] = Field(description="What to sign (its RFC 8785 JSON) to acknowledge")
    receipt: dict[str, Any] = Field(description="The receipt of the notification as sent")


class TreeHeadOut(BaseModel):
    log: str
    size: int
    root: str
    at: str
    key_id: str
    signature: str


class AuditKeys(BaseModel):
    log: str
    keys: list[dict[str, Any]]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    proof: list[str]


class InclusionOut(BaseModel):
    index: int
    size: int
    proof: list[str]


class AuditEntryOut(BaseModel):
    index: int
    type: str
    subject: str
    audience: list[str]
    entry: str = Field(description="The entry's RFC 8785 JSON, exactly as hashed into the log")


class AuditAbout(BaseModel):
    index: int
    type: str
    subject: str
    audience: list[str]
    at: datetime


class PartyKeyIn(Strict):
    public_key: str = Field(min_length=1, max_length=1000, description="Ed25519: base64 of 32 bytes, or PEM")
    proof: str = Field(
        min_length=1,
        max_length=200,
        description='base64 signature, with this key, of the RFC 8785 JSON {"key_id", "party", "type": "party.key"}',
    )


class PartyKeyOut(BaseModel):
    key_id: str
    public_key: str
    registered_at: datetime
    revoked_at: datetime | None


class Inbox(BaseModel):
    items: list[Notification]
    unread: int


class ReadIn(Strict):
    ids: list[RowId] = Field(max_length=500)


class ReadOut(BaseModel):
    marked: int


class WebhookIn(Strict):
    url: str = Field(min_length=8, max_length=2000)


class WebhookOut(BaseModel):
    id: str
    url: str
    created_at: datetime


class WebhookCreated(BaseModel):
    id: str
    url: str
    secret: str = Field(description="HMAC-SHA256 signing secret: shown once")


class Health(BaseModel):
    status: str
    world_version: int


# -- request examples: shown in the OpenAPI, and sent by Schemathesis --------

_SQUARE = [[[40.0, 35.0], [40.1, 35.0], [40.1, 35.1], [40.0, 35.1], [40.0, 35.0]]]
_MORNING = ["2017-07-07T06:00:00Z", "2017-07-07T12:00:00Z"]


def _collection(**properties: Any) -> dict[str, Any]:
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": _SQUARE}, "properties": properties}
    return {"type": "FeatureCollection", "features": [feature]}


def _example(summary: str, value: Any) -> Example:
    return {"summary": summary, "value": value}


NFZ_EXAMPLE = _collection(kind="nfz", id="nfz-north", altitude_m=[None, None], time=[None, None])
INTENT_EXAMPLE = _collection(kind="intent", id="sortie-1", category="air", altitude_m=[3000, 6000], time=_MORNING)

DECLARE_EXAMPLES = {"nfz": _example("A no-fly zone at every altitude, at all times", NFZ_EXAMPLE)}
REPLACE_EXAMPLES = {
    "nfz": _example(
        "New geometry for the object in the URL (kind, id and party default to the URL and the caller)",
        _collection(altitude_m=[None, None], time=[None, None]),
    )
}
FILE_EXAMPLES = {
    "file": _example(
        "File an air intent checked against world version 0", {"intent": INTENT_EXAMPLE, "world_version": 0}
    ),
    "override": _example(
        "File despite blocking conflicts, with a justification",
        {
            "intent": INTENT_EXAMPLE,
            "world_version": 0,
            "override": {"justification": "medical evacuation, no other route"},
        },
    ),
}
AMEND_INTENT_EXAMPLES = {
    "amend": _example(
        "A new version of the intent in the URL (its id defaults to the URL)",
        {
            "intent": _collection(kind="intent", category="air", altitude_m=[4000, 7000], time=_MORNING),
            "world_version": 0,
        },
    )
}
PARTY_EXAMPLES = {"party": _example("A military party", {"id": "green", "name": "Green", "role": "military"})}
MEMBER_EXAMPLES = {"member": _example("A member", {"name": "Duty officer"})}
TOKEN_EXAMPLES = {"token": _example("A token valid for 30 days", {"ttl_days": 30})}
PROPOSE_EXAMPLES = {
    "separation": _example(
        "Air separation minima between two parties",
        {
            "kind": "separation",
            "title": "Air separation",
            "parties": ["blue", "red"],
            "body": {"air": {"horizontal_m": 9260, "vertical_m": 305}},
        },
    )
}
AMEND_AGREEMENT_EXAMPLES = {
    "separation": _example(
        "Wider air separation",
        {"title": "Wider air separation", "body": {"air": {"horizontal_m": 18520, "vertical_m": 610}}},
    )
}
SIGN_EXAMPLES = {"sign": _example("Sign version 1", {"version": 1})}
REJECT_EXAMPLES = {"reject": _example("Reject version 1", {"version": 1, "reason": "the minima are too small"})}
WITHDRAW_EXAMPLES = {"withdraw": _example("Withdraw, saying why", {"reason": "superseded by a bilateral accord"})}
READ_EXAMPLES = {"read": _example("Mark two notifications read", {"ids": [1, 2]})}
WEBHOOK_EXAMPLES = {"webhook": _example("An HTTPS receiver", {"url": "https://example.org/detente/hook"})}
