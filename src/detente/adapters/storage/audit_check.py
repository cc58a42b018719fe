"""Export the audit log, and check a live database against it.

``export`` writes the log and its signed heads in the format
``audit.verify`` reads (no database needed to check it).  ``verify_store``
runs that same offline check on the live log, then what only the database
can show:

- the stored Merkle nodes (from which proofs are built) are the hashes of
  the entries, level by level, so no proof handed out can be wrong;
- the published key list is the one the log introduced;
- every audited row is what the log last said of it: a row changed,
  added or deleted behind the service's back is named, with the entry
  that says otherwise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from detente.adapters.storage import audit_log, audit_rows
from detente.adapters.storage.store import Store
from detente.adapters.storage.tables import AuditEntryRow, AuditKeyRow, AuditNodeRow
from detente.audit.canonical import canonical, parse
from detente.audit.heads import TreeHead, format_time
from detente.audit.keys import PublicKey
from detente.audit.merkle import leaf_hash, node_hash
from detente.audit.verify import Finding, Report, export_lines, verify_export, write_export


def export(store: Store, out: TextIO) -> int:
    """Write the whole log and its heads to ``out`` (one read snapshot); returns the number of entries."""
    with store.read() as tx:
        session = tx.session
        state = audit_log.log_state(session)
        return write_export(
            out,
            state.log,
            audit_log.exported_entries(session),
            audit_log.heads(session),
            datetime.now(UTC),
            size=int(state.size),
        )


def verify_store(
    store: Store, *, trusted: Sequence[PublicKey] | None = None, known_heads: Sequence[TreeHead] = ()
) -> Report:
    """Check the live log offline-style, then the database's nodes, keys and rows against it."""
    with store.read() as tx:
        session = tx.session
        state = audit_log.log_state(session)
        lines = export_lines(
            state.log,
            audit_log.exported_entries(session),
            audit_log.heads(session),
            datetime.now(UTC),
            int(state.size),
        )
        report = verify_export(lines, trusted=trusted, known_heads=known_heads)
        scan = _scan(session)
        report.findings.extend(scan.findings)
        report.findings.extend(_check_nodes(session, int(state.size), scan.leaves))
        report.findings.extend(_check_keys(session, scan.keys))
        report.findings.extend(_check_rows(session, scan.last))
        if store.dialect == "sqlite":
            report.findings.extend(_check_sqlite_index(session))
    return report


@dataclass
class _Scan:
    """What one pass over the stored entries gathers for the database-only checks."""

    #: Leaf hashes of the entries 0, 1, 2, ... up to the first gap.
    leaves: list[bytes] = field(default_factory=list)
    #: Log keys introduced: key id -> (public key, entry index).
    keys: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Audited subject -> (index of its latest entry, digest of the state logged; None: deleted).
    last: dict[str, tuple[int, bytes | None]] = field(default_factory=dict)
    #: Entries whose columns disagree with their text.
    findings: list[Finding] = field(default_factory=list)


def _scan(session: Session) -> _Scan:
    """One pass over the entries: leaves, keys, the latest state of each subject, the copied columns."""
    scan = _Scan()
    rows = session.execute(
        select(
            AuditEntryRow.idx,
            AuditEntryRow.at,
            AuditEntryRow.type,
            AuditEntryRow.subject,
            AuditEntryRow.audience,
            AuditEntryRow.entry,
        ).order_by(AuditEntryRow.idx)
    )
    for idx, at, kind, column_subject, audience, text in rows.yield_per(5000):
        if idx == len(scan.leaves):
            scan.leaves.append(leaf_hash(text.encode()))
        try:
            value = parse(text)
            subject, state = value["subject"], value["state"]
        except (ValueError, TypeError, KeyError):
            continue  # the offline check reports a malformed entry
        columns = {"at": format_time(at), "type": kind, "subject": column_subject, "audience": audience}
        differs = [
            f"{name}: column {_short(got)}, entry {_short(value.get(name))}"
            for name, got in columns.items()
            if got != value.get(name)
        ]
        if differs:
            scan.findings.append(
                Finding(
                    f"entry {idx}",
                    "audit_entries' columns differ from the entry's text, and the columns decide how it is found "
                    f"and who may read it: {'; '.join(differs)}",
                    position=int(idx),
                )
            )
        if value.get("type") == "audit.key":
            try:
                key = value["data"]["key"]
                scan.keys[str(key["key_id"])] = (str(key["public_key"]), int(idx))
            except (KeyError, TypeError):
                pass  # the offline check reports a malformed key entry
        if isinstance(subject, str) and audit_rows.parse_subject(subject) is not None:
            scan.last[subject] = (int(idx), None if state is None else _digest(state))
    return scan


def _check_nodes(session: Session, size: int, leaves: list[bytes]) -> Iterator[Finding]:
    """Every stored subtree hash, level by level, against the level below (level 0: the entries' leaves)."""
    below = leaves
    level = 0
    while True:
        count = size >> level
        if count == 0:
            break
        query = select(AuditNodeRow.idx, AuditNodeRow.hash).where(AuditNodeRow.level == level)
        stored = {int(i): bytes(h) for i, h in session.execute(query)}
        expected = below if level == 0 else [node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)]
        for i in range(min(count, len(expected))):
            got = stored.get(i)
            if got is None:
                yield Finding(f"node ({level}, {i})", "missing from audit_nodes: proofs through it cannot be built")
            elif bytes(got) != expected[i]:
                what = "the stored leaf hash" if level == 0 else "the stored subtree hash"
                yield Finding(
                    f"node ({level}, {i})",
                    f"{what} does not match the entries below it: proofs through it would be wrong",
                    position=i << level,
                )
        for extra in sorted(set(stored) - set(range(count))):
            yield Finding(f"node ({level}, {extra})", "a subtree beyond the log's size is stored")
        below = expected
        level += 1


def _check_keys(session: Session, logged: dict[str, tuple[str, int]]) -> Iterator[Finding]:
    """The published keys (``audit_keys``) must be the keys the log introduced, at the entries it says."""
    published = {r.key_id: r for r in session.scalars(select(AuditKeyRow))}
    for key_id, row in published.items():
        if key_id not in logged:
            yield Finding(f"key {key_id}", "published in audit_keys but never introduced by the log")
        elif (row.public_key, row.introduced_at) != logged[key_id]:
            yield Finding(
                f"key {key_id}",
                f"audit_keys differs from entry {logged[key_id][1]}, which introduced it (key swapped?)",
            )
    for key_id, (_, idx) in logged.items():
        if key_id not in published:
            yield Finding(f"key {key_id}", f"introduced by entry {idx} but missing from audit_keys")


def _check_sqlite_index(session: Session) -> Iterator[Finding]:
    """SQLite's 4D index (``volume_rtree``, kept by triggers) must hold every volume, and only them.

    It is derived data, not logged, but a volume missing from it is missing
    from every conflict check: a hospital dropped from the index could be
    struck without a conflict.  (On PostGIS the indexed columns are
    generated by the database and cannot be edited apart from the row.)
    The R*Tree stores 32-bit floats rounded outwards, so its box must
    contain the volume's box rather than equal it.
    """
    query = sql(
        "SELECT v.id, v.kind, v.object_id, r.id IS NULL, "
        "r.min_lon <= v.min_lon AND r.max_lon >= v.max_lon AND r.min_lat <= v.min_lat AND r.max_lat >= v.max_lat "
        "FROM volumes v LEFT JOIN volume_rtree r ON r.id = v.id ORDER BY v.id"
    )
    for volume, kind, object_id, missing, contains in session.execute(query):
        subject = f"object/{kind}/{object_id}"
        if missing:
            yield Finding(subject, f"volume row {volume} is missing from the 4D index: conflict checks cannot see it")
        elif not contains:
            yield Finding(subject, f"the 4D index holds a wrong box for volume row {volume}: checks may miss it")
    orphans = session.execute(sql("SELECT id FROM volume_rtree WHERE id NOT IN (SELECT id FROM volumes)"))
    for (volume,) in orphans:
        yield Finding(f"index row {volume}", "the 4D index holds a volume that is not stored")


def _digest(state: Any) -> bytes:
    return hashlib.sha256(canonical(state)).digest()


def _check_rows(session: Session, last: dict[str, tuple[int, bytes | None]]) -> Iterator[Finding]:
    """Every audited row against the state its subject's latest entry logged."""
    seen: set[str] = set()
    for record in audit_rows.RECORDS.values():
        for subject, state in audit_rows.all_states(session, record):
            seen.add(subject)
            logged = last.get(subject)
            if logged is None:
                yield Finding(subject, "in the database but never logged: added behind the log's back")
            elif logged[1] is None:
                yield Finding(subject, f"entry {logged[0]} logged it deleted, but it is in the database")
            elif logged[1] != _digest(state):
                yield Finding(subject, _difference(session, logged[0], state), position=logged[0])
    for subject, (idx, digest) in last.items():
        if digest is not None and subject not in seen:
            yield Finding(
                subject, f"logged by entry {idx} but missing from the database: deleted behind the log's back"
            )


def _difference(session: Session, index: int, now: dict[str, Any]) -> str:
    """What differs between the rows now and as entry ``index`` logged them, field by field."""
    row = audit_log.entry(session, index)
    then = parse(row.entry)["state"] if row is not None else {}
    logged, state = _rows(then), _rows(now)
    changes = []
    for i, (then, now) in enumerate(zip(logged, state, strict=False)):
        for name in sorted(set(then) | set(now)):
            if then.get(name) != now.get(name):
                prefix = f"row {i} " if len(state) > 1 else ""
                changes.append(f"{prefix}{name}: logged {_short(then.get(name))}, now {_short(now.get(name))}")
    if len(logged) != len(state):
        changes.append(f"{len(logged)} row(s) logged, {len(state)} now")
    return f"differs from entry {index}, which logged it: " + "; ".join(changes[:5])


def _rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    many = state.get("volumes") if isinstance(state, dict) and set(state) == {"volumes"} else None
    return list(many) if isinstance(many, list) else [state]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
