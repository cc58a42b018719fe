"""The audit log over HTTP: keys, signed heads, proofs, receipts, acknowledgements, party keys.

The log's keys are public (``/.well-known/detente/audit-keys``) so anyone
can check a head or a receipt without an account.  Heads and consistency
proofs are for every party (a witness keeps the last head it saw and asks
for a proof to the current one); entries, inclusion proofs and receipts
only for the parties an entry concerns.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import AUTHED, documented
from detente.adapters.api.schemas import (
    MAX_ROW_ID,
    AckIn,
    AckOut,
    AckTerms,
    AuditAbout,
    AuditEntryOut,
    AuditKeys,
    ConsistencyOut,
    InclusionOut,
    PartyKeyIn,
    PartyKeyOut,
    TreeHeadOut,
)
from detente.domain.errors import Forbidden
from detente.services import audit

router = APIRouter(responses=AUTHED, tags=["audit"])
public = APIRouter(tags=["audit"], responses=documented(404))

Index = Annotated[int, Path(ge=0, le=MAX_ROW_ID)]
Size = Annotated[int, Query(ge=1, le=MAX_ROW_ID)]


@public.get("/.well-known/detente/audit-keys")
def audit_keys(m: Mech) -> AuditKeys:
    """The log's signing keys, current and retired, and the log's id (no account needed)."""
    return AuditKeys(log=audit.log_id(m), keys=audit.keys(m))


@router.get("/audit/head")
def head(m: Mech, who: Who, size: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None) -> TreeHeadOut:
    """The latest signed tree head, or the one signed at exactly ``size`` entries."""
    return TreeHeadOut(**audit.head(m, size).to_json())


@router.get("/audit/consistency")
def consistency(m: Mech, who: Who, first: Size, second: Size) -> ConsistencyOut:
    """RFC 9162 proof that the log at ``first`` entries is a prefix of the log at ``second``."""
    return ConsistencyOut(**audit.consistency(m, first, second))


@router.get("/audit/entries/{index}")
def entry(m: Mech, who: Who, index: Index) -> AuditEntryOut:
    return AuditEntryOut(**audit.entry(m, who, index))


@router.get("/audit/entries/{index}/receipt")
def receipt(m: Mech, who: Who, index: Index) -> dict[str, Any]:
    """The entry, the latest signed head and the inclusion proof: enough to prove it later, offline."""
    return audit.receipt(m, who, index).to_json()


@router.get("/audit/entries/{index}/inclusion")
def inclusion(m: Mech, who: Who, index: Index, size: Size) -> InclusionOut:
    return InclusionOut(**audit.inclusion(m, who, index, size))


@router.get("/audit/about")
def about(
    m: Mech, who: Who, subject: Annotated[str, Query(min_length=1, max_length=300, examples=["notification/1"])]
) -> list[AuditAbout]:
    """The entries about one record (``notification/5``, ``agreement/a-1/2``) you may read, oldest first."""
    return [AuditAbout(**e) for e in audit.about(m, who, subject)]


@router.get("/notifications/{notification_id}/receipt")
def notification_receipt(m: Mech, who: Who, notification_id: Index) -> dict[str, Any]:
    """Proof that this notification was logged as sent to your party, and when."""
    return audit.notification_receipt(m, who, notification_id).to_json()


@router.get("/notifications/{notification_id}/ack")
def ack_terms(m: Mech, who: Who, notification_id: Index) -> AckTerms:
    """The statement your party signs to acknowledge this notification (if it registered a key)."""
    return AckTerms(**audit.ack_terms(m, who, notification_id))


@router.post("/notifications/{notification_id}/ack", responses=documented(409))
def ack(m: Mech, who: Who, notification_id: Index, body: Annotated[AckIn, Body()]) -> AckOut:
    """Acknowledge a notification formally, once; the answer carries the acknowledgement's receipt."""
    signature = None if body.signature is None else body.signature.model_dump()
    return AckOut(**audit.ack(m, who, notification_id, signature))


@router.get("/parties/{party}/keys")
def party_keys(m: Mech, who: Who, party: Annotated[str, Path(max_length=64)]) -> list[PartyKeyOut]:
    """A party's signing keys, active and revoked: what its signatures are checked with."""
    return [PartyKeyOut(**k) for k in audit.party_keys(m, party)]


@router.post("/parties/{party}/keys", status_code=status.HTTP_201_CREATED, responses=documented(409))
def register_key(
    m: Mech, who: Who, party: Annotated[str, Path(max_length=64)], body: Annotated[PartyKeyIn, Body()]
) -> dict[str, Any]:
    """Register an Ed25519 public key of your party; from then on its acknowledgements must be signed."""
    _own(who.party, party)
    return audit.register_key(m, who, body.public_key, body.proof)


@router.delete("/parties/{party}/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(
    m: Mech, who: Who, party: Annotated[str, Path(max_length=64)], key_id: Annotated[str, Path(max_length=100)]
) -> None:
    _own(who.party, party)
    audit.revoke_key(m, who, key_id)


def _own(caller_party: str, party: str) -> None:
    if caller_party != party:
        raise Forbidden(f"only party {party} may manage its keys")
