"""Which rows each audit subject names, and their state as JSON.

Every audited record has a *subject*: ``notification/5``, ``object/site/h1``,
``agreement/nfz-1/2``.  When a record changes, its entry in the log carries
the record's rows as they now stand in the database (read back in the same
transaction, so what is logged is exactly what is stored).  The same
function reads them again when ``detente audit verify --db`` compares the
live tables with the log: a row changed, added or removed behind the
service's back shows as a difference, named by its subject.

Secrets are logged as their SHA-256 (a webhook's signing key must not be
readable from an export), and a webhook delivery's retry bookkeeping
(attempts, next try, last error) is not state anyone is accountable for, so
only its outcome is logged.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, Table, bindparam, select
from sqlalchemy.orm import Session

from detente.adapters.storage.tables import (
    AccessRow,
    AgreementRow,
    Base,
    DecisionRow,
    DeliveryRow,
    DisclosureRow,
    DisseminationRow,
    EvidenceRow,
    FilingRow,
    IncidentMessageRow,
    IncidentPartyRow,
    IncidentRow,
    IncidentStepRow,
    IncidentTransitionRow,
    MemberRow,
    NoticeRecipientRow,
    NoticeRow,
    NotificationRow,
    ObserverReportRow,
    OutcomeRow,
    PartyKeyRow,
    PartyRow,
    RulesRow,
    ScenarioMetaRow,
    TokenRow,
    TrackEventRow,
    VolumeRow,
    WebhookRow,
)
from detente.audit.heads import format_time

#: A record's state as logged: its row, or ``{"volumes": [rows]}`` for an object (one row per volume).
State = dict[str, Any]


@dataclass(frozen=True)
class Record:
    """One kind of audited record: its table, how a subject finds its rows, and what is logged."""

    prefix: str
    row: type[Base]
    key_columns: tuple[str, ...]
    redact: frozenset[str] = frozenset()
    omit: frozenset[str] = frozenset()
    order: str | None = None
    #: The state's key when a record is several rows (an object's volumes); None: one row.
    many: str | None = None

    @property
    def table(self) -> Table:
        table = self.row.__table__
        assert isinstance(table, Table)
        return table

    @functools.cached_property
    def query(self) -> Select[Any]:
        """The rows of one record, keys as bound parameters: built once, run after every change."""
        table = self.table
        keyed = select(table).where(*(table.c[name] == bindparam(name) for name in self.key_columns))
        return keyed.order_by(table.c[self.order or (self.key_columns or ("id",))[0]])

    def params(self, key: tuple[str, ...]) -> dict[str, Any]:
        return {name: _typed(self.table.c[name], part) for name, part in zip(self.key_columns, key, strict=True)}

    def subject(self, values: Mapping[str, Any] | RowMapping) -> str:
        return "/".join([self.prefix, *(str(values[name]) for name in self.key_columns)])

    def json(self, values: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name in self.omit:
                continue
            if name in self.redact and value is not None:
                out[name] = {"sha256": hashlib.sha256(str(value).encode()).hexdigest()}
            else:
                out[name] = _jsonable(value)
        return out


RECORDS: dict[str, Record] = {
    r.prefix: r
    for r in (
        Record("party", PartyRow, ("id",)),
        Record("scenario", ScenarioMetaRow, ()),
        Record("object", VolumeRow, ("kind", "object_id"), order="volume", many="volumes"),
        Record("member", MemberRow, ("id",)),
        Record("token", TokenRow, ("id",), redact=frozenset({"secret_hash"})),
        Record("filing", FilingRow, ("id",)),
        Record("disclosure", DisclosureRow, ("id",)),
        Record("notification", NotificationRow, ("id",)),
        Record("webhook", WebhookRow, ("id",), redact=frozenset({"secret"})),
        Record(
            "delivery",
            DeliveryRow,
            ("id",),
            omit=frozenset({"attempts", "next_attempt_at", "last_error"}),
        ),
        Record("agreement", AgreementRow, ("id", "version")),
        Record("decision", DecisionRow, ("id",)),
        Record("access", AccessRow, ("id",)),
        Record("party-key", PartyKeyRow, ("key_id",)),
        Record("notice", NoticeRow, ("id",)),
        Record("recipient", NoticeRecipientRow, ("id",)),
        Record("dissemination", DisseminationRow, ("id",)),
        Record("outcome", OutcomeRow, ("id",)),
        Record("rules", RulesRow, ("name",)),
        Record("track-event", TrackEventRow, ("id",)),
        Record("incident", IncidentRow, ("id",)),
        Record("incident-party", IncidentPartyRow, ("id",)),
        Record("incident-step", IncidentStepRow, ("id",)),
        Record("incident-transition", IncidentTransitionRow, ("id",)),
        Record("incident-message", IncidentMessageRow, ("id",)),
        Record("observer-report", ObserverReportRow, ("id",)),
        Record("evidence", EvidenceRow, ("id",), redact=frozenset({"content"})),
    )
}


def subject(prefix: str, *key: object) -> str:
    """The subject naming a record, e.g. ``subject("notification", 5)`` is ``notification/5``."""
    return "/".join([prefix, *(str(k) for k in key)])


def parse_subject(text: str) -> tuple[Record, tuple[str, ...]] | None:
    """The record kind and key a subject names, or None for a subject that names no rows."""
    prefix, _, rest = text.partition("/")
    record = RECORDS.get(prefix)
    if record is None:
        return None
    key = tuple(rest.split("/", len(record.key_columns) - 1)) if record.key_columns else ()
    if len(key) != len(record.key_columns):
        return None
    return record, key


def state(session: Session, subject_text: str) -> State | None:
    """The rows a subject names, as logged: None when there are none."""
    parsed = parse_subject(subject_text)
    if parsed is None:
        raise ValueError(f"{subject_text!r} names no audited record")
    record, key = parsed
    rows = [record.json(row._mapping) for row in session.execute(record.query, record.params(key))]
    return _state(record, rows) if rows else None


def _state(record: Record, rows: list[dict[str, Any]]) -> State:
    return {record.many: rows} if record.many else rows[0]


def all_states(session: Session, record: Record) -> Iterator[tuple[str, State]]:
    """Every subject of one kind of record present in the database, with its state (for verification)."""
    order = [record.table.c[c] for c in record.key_columns] or [record.table.c.id]
    if record.order:
        order.append(record.table.c[record.order])
    current: str | None = None
    rows: list[dict[str, Any]] = []
    for row in session.execute(select(record.table).order_by(*order)):
        name = record.subject(row._mapping)
        if name != current and current is not None:
            yield current, _state(record, rows)
            rows = []
        current = name
        rows.append(record.json(row._mapping))
    if current is not None:
        yield current, _state(record, rows)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _typed(column: Any, part: str) -> Any:
    """The subject's text key as the column's Python type (ids of some tables are integers)."""
    python_type: Callable[[str], Any] | None
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    return python_type(part) if python_type is int else part
