"""The tables detente keeps its world in, as typed SQLAlchemy declarations.

These classes describe the columns both backends share.  The PostGIS-only
columns (``geom``, ``reach``, ``alt``, ``during``) and the SQLite R*Tree are
created by the migration and derived from these columns inside the database,
so the repository writes the same rows on both backends.  The migrations
under ``migrations/versions`` are the schema's source of truth; keep this
module in step with them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on every backend.

    SQLite has no time zone type and SQLAlchemy stores its datetimes naive,
    so the instant is converted to UTC before it is written and marked UTC
    when it is read; PostgreSQL keeps ``timestamptz`` and hands back the
    session's zone, which is converted to UTC too.  Naive times are refused:
    the model never holds one (SEMANTICS.md, "naive times are rejected").
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetime: an explicit UTC offset is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: 64-bit ids on PostgreSQL; on SQLite exactly ``INTEGER`` so the column is the rowid.
ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of detente's storage tables."""


class PartyRow(Base):
    """One party of the scenario."""

    __tablename__ = "parties"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)


class ScenarioMetaRow(Base):
    """The scenario's name, separation minima and extras: always row ``id = 1``."""

    __tablename__ = "scenario_meta"
    __table_args__ = (CheckConstraint("id = 1", name="ck_scenario_meta_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    separation: Mapped[dict[str, Any]] = mapped_column(JSON)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)


class VolumeRow(Base):
    """One 4D volume of one object; object-level fields repeat on each row.

    ``min_lon`` .. ``max_lat`` is a lon/lat box that covers the footprint
    grown by its radius (see ``box.footprint_box``); the spatial indexes are
    built from it, so a query box finds circles and corridors whose base
    geometry lies outside it.
    """

    __tablename__ = "volumes"
    __table_args__ = (UniqueConstraint("kind", "object_id", "volume", name="uq_volumes_kind_object_volume"),)

    #: Row id; on SQLite the rowid, which is also the R*Tree entry's id.
    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String)
    object_id: Mapped[str] = mapped_column(String)
    volume: Mapped[int] = mapped_column(Integer)
    party: Mapped[str] = mapped_column(String)
    #: The base geometry as GeoJSON text: readable, portable, exact (floats round-trip).
    geojson: Mapped[str] = mapped_column(String)
    radius_m: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    altitude_lower_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    altitude_upper_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    time_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    time_end: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: The world version at which the object was last written (migration 0002).
    changed_version: Mapped[int] = mapped_column(BigInteger, default=0)


class WorldVersionRow(Base):
    """The world's version: bumped by every committed change, always row ``id = 1``.

    A filing records the version it was checked against; a writer holds this
    row locked for the length of its transaction, so versions never interleave.
    """

    __tablename__ = "world_version"
    __table_args__ = (CheckConstraint("id = 1", name="ck_world_version_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    #: The world version at which the separation minima last changed (migration 0002).
    separation_version: Mapped[int] = mapped_column(BigInteger, default=0)


# -- the service (migration 0002) ---------------------------------------------


class MemberRow(Base):
    """A person (or system) acting for one party."""

    __tablename__ = "members"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    party: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenRow(Base):
    """An API token: only the SHA-256 of its secret is kept."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    member_id: Mapped[str] = mapped_column(String)
    party: Mapped[str] = mapped_column(String)
    secret_hash: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class FilingRow(Base):
    """One filing, amendment or cancellation of an intent, with what it was told."""

    __tablename__ = "filings"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    intent_id: Mapped[str] = mapped_column(String)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    checked_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    world_version: Mapped[int] = mapped_column(BigInteger)
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    justification: Mapped[str | None] = mapped_column(String, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DisclosureRow(Base):
    """What one party was told of a conflict with another party's filing."""

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String)
    filing_id: Mapped[int] = mapped_column(BigInteger)
    intent_id: Mapped[str] = mapped_column(String)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRow(Base):
    """One message in a party's inbox."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String)
    type: Mapped[str] = mapped_column(String)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The formal acknowledgement (not the same as reading): when, by whom, and the party's signature if any.
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String, nullable=True)
    ack_signature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class WebhookRow(Base):
    """A party's webhook endpoint and the secret its deliveries are signed with."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    party: Mapped[str] = mapped_column(String)
    url: Mapped[str] = mapped_column(String)
    secret: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean)


class DeliveryRow(Base):
    """The outbox: one notification still to deliver (or delivered) to one webhook."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(BigInteger)
    webhook_id: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String, nullable=True)


class AgreementRow(Base):
    """One version of an agreement."""

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(String)
    proposer: Mapped[str] = mapped_column(String)
    parties: Mapped[list[str]] = mapped_column(JSON)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DecisionRow(Base):
    """A party's signature, rejection or withdrawal of one agreement version."""

    __tablename__ = "agreement_decisions"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    decision: Mapped[str] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(String, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The party's own signature of its decision, when it has registered a key.
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class AccessRow(Base):
    """A read of another party's protected object (a site or a movement)."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    object_id: Mapped[str] = mapped_column(String)
    owner: Mapped[str] = mapped_column(String)
    via: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class PartyKeyRow(Base):
    """A party's own Ed25519 public key, with which it signs acknowledgements and agreement decisions."""

    __tablename__ = "party_keys"

    key_id: Mapped[str] = mapped_column(String, primary_key=True)
    party: Mapped[str] = mapped_column(String, index=True)
    public_key: Mapped[str] = mapped_column(String)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class NoticeRow(Base):
    """One humanitarian notice: a site or movement notified, amended or withdrawn, and its deadline."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_object", "kind", "object_id", "id"),
        Index("ix_notices_party", "party", "id"),
    )

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String)
    object_id: Mapped[str] = mapped_column(String)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    urgent: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When every military party must have acknowledged (None: a withdrawal, which needs no deadline).
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The object's GeoJSON features as notified (as they were withdrawn, for a withdrawal).
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: Filed intents found in conflict with it when it was notified: ``{intent, party, conflicts}``.
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class NoticeRecipientRow(Base):
    """A military party a notice was sent to: its inbox message, reminder and escalation."""

    __tablename__ = "notice_recipients"
    __table_args__ = (
        UniqueConstraint("notice_id", "party"),
        Index("ix_notice_recipients_party", "party", "notice_id"),
        Index("ix_notice_recipients_due", "escalated_at", "remind_at"),
    )

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    notice_id: Mapped[int] = mapped_column(BigInteger)
    party: Mapped[str] = mapped_column(String)
    notification_id: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DisseminationRow(Base):
    """A military party's record that one of its units was told of a notice."""

    __tablename__ = "disseminations"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    notice_id: Mapped[int] = mapped_column(BigInteger, index=True)
    party: Mapped[str] = mapped_column(String)
    unit: Mapped[str] = mapped_column(String)
    method: Mapped[str] = mapped_column(String)
    reference: Mapped[str | None] = mapped_column(String, nullable=True)
    member_id: Mapped[str] = mapped_column(String)
    #: When the unit was told (stated by the party), and when the party recorded it.
    told_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutcomeRow(Base):
    """How a notified movement went: facilitated, impeded, denied or cancelled, and why."""

    __tablename__ = "movement_outcomes"

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    movement_id: Mapped[str] = mapped_column(String, index=True)
    party: Mapped[str] = mapped_column(String)
    outcome: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    #: The military party the humanitarian actor holds responsible (impeded or denied), if any.
    attributed_to: Mapped[str | None] = mapped_column(String, nullable=True)
    member_id: Mapped[str] = mapped_column(String)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RulesRow(Base):
    """A set of the mechanism's rules (``humanitarian``: lead times and deadlines), as JSON."""

    __tablename__ = "mechanism_rules"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String)


class AuditEntryRow(Base):
    """One entry of the audit log: its canonical JSON text, as hashed into the Merkle tree.

    ``type``, ``subject``, ``at`` and ``audience`` repeat fields of the entry
    so it can be found without parsing; the verifier trusts only ``entry``.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_subject", "subject", "idx"),)

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String)
    subject: Mapped[str] = mapped_column(String)
    audience: Mapped[list[str]] = mapped_column(JSON)
    entry: Mapped[str] = mapped_column(Text)


class AuditNodeRow(Base):
    """A perfect subtree of the Merkle tree (level 0: the leaves), so any proof reads O(log n) rows."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditHeadRow(Base):
    """A signed tree head: the log's size and root at a time, signed by the service's key."""

    __tablename__ = "audit_heads"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class AuditKeyRow(Base):
    """A log-signing public key and the entry that introduced it (a copy; the log is the truth)."""

    __tablename__ = "audit_keys"

    key_id: Mapped[str] = mapped_column(String, primary_key=True)
    public_key: Mapped[str] = mapped_column(String)
    introduced_at: Mapped[int] = mapped_column(BigInteger)
    retired_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuditStateRow(Base):
    """The log's one row: its id, size and current signing key; writers lock it to append in turn."""

    __tablename__ = "audit_state"
    __table_args__ = (CheckConstraint("id = 1", name="ck_audit_state_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log: Mapped[str] = mapped_column(String)
    size: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str | None] = mapped_column(String, nullable=True)


class TrackEventRow(Base):
    """One monitoring episode (SEMANTICS.md): open while it lasts, its end moving as positions come in."""

    __tablename__ = "track_events"
    __table_args__ = (
        Index("ix_track_events_party", "party", "id"),
        Index("ix_track_events_other_party", "other_party", "id"),
        Index("ix_track_events_open", "open", "id"),
    )

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String)
    track: Mapped[str] = mapped_column(String)
    party: Mapped[str] = mapped_column(String)
    other_kind: Mapped[str] = mapped_column(String)
    other_id: Mapped[str] = mapped_column(String)
    other_party: Mapped[str] = mapped_column(String)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    min_distance_m: Mapped[float] = mapped_column(Float)
    #: Where the track was at the episode's start.
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    alt_m: Mapped[float] = mapped_column(Float)
    open: Mapped[bool] = mapped_column(Boolean)
    incident_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IncidentRow(Base):
    """An incident: what happened, to whom, where and when, and where it stands.

    Monitoring opens one per episode (or reopens the one of the same track
    and object if it ended a short while before); the incidents issue adds
    reports by parties and observers and the workflow.
    """

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_key", "key", "id"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    severity: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(String)
    #: What makes two reports one incident (for monitoring: type, track and the other object or track).
    key: Mapped[str] = mapped_column(String)
    title: Mapped[str] = mapped_column(String)
    parties: Mapped[list[str]] = mapped_column(JSON)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Who reported it (the monitor's incidents: the secretariat's ``monitor``), and what they said.
    reported_by: Mapped[str | None] = mapped_column(String, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    #: The de-escalation protocol as it was when the incident opened (later edits do not change it).
    protocol: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The notified sites and movements it fell near, each with its notice and every party's acknowledgement,
    #: as they stood when the incident opened: the proof that they knew.
    notice_proof: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class IncidentPartyRow(Base):
    """A party involved in an incident, and when (and by whom) it acknowledged."""

    __tablename__ = "incident_parties"
    __table_args__ = (
        UniqueConstraint("incident_id", "party"),
        Index("ix_incident_parties_party", "party", "incident_id"),
    )

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger)
    party: Mapped[str] = mapped_column(String)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String, nullable=True)


class IncidentStepRow(Base):
    """One step of an incident's frozen protocol: when it is due, and when it fired or was found met."""

    __tablename__ = "incident_steps"
    __table_args__ = (UniqueConstraint("incident_id", "idx"), Index("ix_incident_steps_due", "done_at", "due_at"))

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger)
    idx: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the timer sweep dealt with it (None: still to come); ``fired`` says whether it escalated.
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fired: Mapped[bool] = mapped_column(Boolean, default=False)


class IncidentTransitionRow(Base):
    """A change of an incident's status: to what, by whom, when, and why."""

    __tablename__ = "incident_transitions"
    __table_args__ = (Index("ix_incident_transitions_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text)


class IncidentMessageRow(Base):
    """A hotline message of an incident: a message, a joint call held, a proposed resolution or its acceptance."""

    __tablename__ = "incident_messages"
    __table_args__ = (Index("ix_incident_messages_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(Text)
    #: For an acceptance: the proposal it accepts.
    proposal_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ObserverReportRow(Base):
    """An observer's report (the OSCE fields, as sent), where it places the event, and the incident it joined."""

    __tablename__ = "observer_reports"
    __table_args__ = (UniqueConstraint("party", "ref"), Index("ix_observer_reports_time", "start", "end"))

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    #: The observer's own id for the report (one per mission): sending it again is refused, not duplicated.
    ref: Mapped[str] = mapped_column(String)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    uncertainty_m: Mapped[float] = mapped_column(Float)
    incident_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceRow(Base):
    """A file attached to an observer's report: kept as bytes with its SHA-256, never opened by detente."""

    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_report", "report_id", "id"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(BigInteger)
    party: Mapped[str] = mapped_column(String)
    member_id: Mapped[str] = mapped_column(String)
    filename: Mapped[str] = mapped_column(String)
    media_type: Mapped[str] = mapped_column(String)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
