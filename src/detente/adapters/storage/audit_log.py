"""The audit log in the database: append entries, sign heads, build proofs and receipts.

A write transaction collects its entries as it changes rows (``Tx.record``)
and appends them here just before it commits, so a change and its entry
commit together or not at all.  Appending locks the ``audit_state`` row
(on PostgreSQL; SQLite has one writer anyway) only at the end of the
transaction, so writers queue for the log for the few milliseconds of the
append, not for the whole use case.

Every perfect subtree of the Merkle tree is stored as it completes
(``audit_nodes``): an append touches O(log n) of them and any inclusion or
consistency proof reads O(log n) rows with one query, instead of rehashing
the log.  After each batch the service signs a tree head with its Ed25519
key, which lives on disk, outside the database (see ``audit.keys``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, insert, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from detente.adapters.storage.tables import (
    AuditEntryRow,
    AuditHeadRow,
    AuditKeyRow,
    AuditNodeRow,
    AuditStateRow,
)
from detente.audit import EVERYONE
from detente.audit.canonical import canonical
from detente.audit.heads import TreeHead, format_time, sign_head
from detente.audit.keys import PublicKey, Signer
from detente.audit.merkle import (
    Appender,
    Node,
    consistency_nodes,
    consistency_proof,
    frontier,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
)
from detente.audit.receipts import Receipt
from detente.domain.errors import DetenteError, NotFound


class Keys(Protocol):
    """Where the service's log-signing keys are kept (``audit.keys.KeyDir`` or ``EphemeralKeys``)."""

    def current(self) -> Signer: ...
    def get(self, key_id: str) -> Signer | None: ...


class AuditKeyMissing(DetenteError):
    """The log was signed with a key this server does not hold: it must not go on with another."""


@dataclass
class Pending:
    """An entry a transaction will append when it commits."""

    type: str
    subject: str
    audience: list[str]
    state: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)


def entry_json(pending: Pending, actor: dict[str, str] | None, at: datetime) -> dict[str, Any]:
    """The entry as logged (see ``audit.verify`` for the fields a verifier reads)."""
    return {
        "v": 1,
        "at": format_time(at),
        "type": pending.type,
        "subject": pending.subject,
        "actor": actor,
        "audience": sorted(set(pending.audience)),
        "state": pending.state,
        "data": pending.data,
    }


def append(
    session: Session,
    dialect: str,
    pending: Sequence[Pending],
    *,
    actor: dict[str, str] | None,
    at: datetime,
    keys: Keys,
) -> list[int]:
    """Append the entries and sign the new tree head; returns each entry's index.

    The first append of a log introduces the signing key (entry 0).  When
    the key on disk is no longer the one the log was signed with, the old
    key signs an entry introducing the new one before it retires (a key
    rotation); a log whose key is gone altogether is refused.
    """
    if not pending:
        return []
    query = select(AuditStateRow).where(AuditStateRow.id == 1)
    if dialect == "postgresql":
        query = query.with_for_update()
    state = session.execute(query).scalar_one()
    size = int(state.size)
    nodes_needed = frontier(size)
    known = fetch_nodes(session, nodes_needed)
    tree = Appender(size, [known[n] for n in nodes_needed])
    signer = keys.current()
    entry_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    head_rows: list[dict[str, Any]] = []

    def add(item: Pending, who: dict[str, str] | None) -> int:
        text = canonical(entry_json(item, who, at))
        index = tree.size
        for level, idx, digest in tree.append(leaf_hash(text)):
            node_rows.append({"level": level, "idx": idx, "hash": digest})
        entry_rows.append(
            {
                "idx": index,
                "at": at,
                "type": item.type,
                "subject": item.subject,
                "audience": sorted(set(item.audience)),
                "entry": text.decode(),
            }
        )
        return index

    def sign_with(key: Signer) -> None:
        head = sign_head(key, state.log, tree.size, tree.root(), at)
        head_rows.append(_head_row(head))

    if state.key_id is None:
        index = add(_key_entry(signer.public, None), None)
        session.add(AuditKeyRow(key_id=signer.public.key_id, public_key=_b64(signer.public), introduced_at=index))
    elif state.key_id != signer.public.key_id:
        old = keys.get(state.key_id)
        if old is None:
            raise AuditKeyMissing(
                f"the audit log is signed with key {state.key_id}, which this server does not hold; "
                "restore that key file (the log cannot be continued with another key unless the old one endorses it)"
            )
        index = add(_key_entry(signer.public, old.public.key_id), None)
        sign_with(old)
        session.execute(update(AuditKeyRow).where(AuditKeyRow.key_id == old.public.key_id).values(retired_at=index))
        session.add(AuditKeyRow(key_id=signer.public.key_id, public_key=_b64(signer.public), introduced_at=index))
    indexes = [add(item, actor) for item in pending]
    sign_with(signer)
    _insert(session, dialect, AuditEntryRow.__table__, entry_rows)
    _insert(session, dialect, AuditNodeRow.__table__, node_rows)
    # One head per size: the rotation head (old key) and the batch head can share a size only
    # when the batch is empty, which never reaches here.
    session.execute(insert(AuditHeadRow), head_rows)
    session.execute(
        update(AuditStateRow).where(AuditStateRow.id == 1).values(size=tree.size, key_id=signer.public.key_id)
    )
    return indexes


def _insert(session: Session, dialect: str, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows of one batch, as cheaply as each driver allows.

    PostgreSQL: COPY for a large batch (an order faster than executemany).
    SQLite: the driver's own executemany with the columns' bind processors
    applied once per value, skipping the statement machinery SQLAlchemy
    runs for each of the tens of thousands of parameter sets.
    """
    assert isinstance(table, Table)
    if not rows:
        return
    columns = list(rows[0])
    if dialect == "postgresql" and len(rows) >= COPY_FROM:
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_copy_value(row[c]) for c in columns])
        return
    if dialect != "sqlite":
        session.execute(insert(table), rows)
        return
    connection = session.connection()
    processors = [table.c[c].type.bind_processor(connection.dialect) for c in columns]
    values = [
        tuple(row[c] if process is None else process(row[c]) for c, process in zip(columns, processors, strict=True))
        for row in rows
    ]
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection.exec_driver_sql(statement, values)


def _copy_value(value: Any) -> Any:
    """A value as COPY's text format takes it (JSON columns as JSON text)."""
    return json.dumps(value) if isinstance(value, list | dict) else value


#: Batches at least this large go through COPY on PostgreSQL.
COPY_FROM = 64


def _key_entry(key: PublicKey, previous: str | None) -> Pending:
    return Pending(
        type="audit.key",
        subject=f"audit-key/{key.key_id}",
        audience=[EVERYONE],
        data={"key": key.to_json(), "previous": previous},
    )


def _b64(key: PublicKey) -> str:
    return str(key.to_json()["public_key"])


def _head_row(head: TreeHead) -> dict[str, Any]:
    return {"size": head.size, "root": head.root, "at": head.at, "key_id": head.key_id, "signature": head.signature}


def _head(row: AuditHeadRow, log: str) -> TreeHead:
    return TreeHead(log=log, size=row.size, root=row.root, at=row.at, key_id=row.key_id, signature=row.signature)


# -- reading ----------------------------------------------------------------


def log_state(session: Session) -> AuditStateRow:
    return session.execute(select(AuditStateRow).where(AuditStateRow.id == 1)).scalar_one()


def fetch_nodes(session: Session, needed: Sequence[Node]) -> dict[Node, bytes]:
    """The stored perfect subtrees ``needed``, in one primary-key join.

    Not ``(level, idx) IN (VALUES ...)``: SQLite plans that as a scan of
    the whole table (two million rows at 10^6 entries, 200 ms a proof).
    The keys go in as one parameter (a JSON array on SQLite, two arrays on
    PostgreSQL) joined on the primary key, so the statement has one shape
    whatever the number of nodes, and each node is one index lookup.
    """
    if not needed:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_PG_NODES, {"levels": [n[0] for n in needed], "indexes": [n[1] for n in needed]})
    else:
        rows = session.execute(_SQLITE_NODES, {"nodes": json.dumps([list(n) for n in needed])})
    return {(int(level), int(idx)): bytes(digest) for level, idx, digest in rows}


_SQLITE_NODES = sql(
    "SELECT n.level, n.idx, n.hash FROM json_each(:nodes) AS v "
    "JOIN audit_nodes AS n ON n.level = json_extract(v.value, '$[0]') AND n.idx = json_extract(v.value, '$[1]')"
)
_PG_NODES = sql(
    # LATERAL ... LIMIT 1 keeps the plan a nested loop of primary-key lookups whatever the planner
    # believes of the table (a freshly loaded one has no statistics yet).
    "SELECT n.level, n.idx, n.hash "
    "FROM unnest(CAST(:levels AS integer[]), CAST(:indexes AS bigint[])) AS v(level, idx) "
    "CROSS JOIN LATERAL (SELECT level, idx, hash FROM audit_nodes "
    "WHERE level = v.level AND idx = v.idx LIMIT 1) AS n"
)


def latest_head(session: Session) -> TreeHead | None:
    row = session.scalars(select(AuditHeadRow).order_by(AuditHeadRow.size.desc()).limit(1)).first()
    return None if row is None else _head(row, log_state(session).log)


def head(session: Session, size: int) -> TreeHead | None:
    """The signed head of exactly ``size`` entries, if one was signed."""
    row = session.get(AuditHeadRow, size)
    return None if row is None else _head(row, log_state(session).log)


def heads(session: Session) -> Iterator[TreeHead]:
    log = log_state(session).log
    for row in session.scalars(select(AuditHeadRow).order_by(AuditHeadRow.size).execution_options(yield_per=2000)):
        yield _head(row, log)


def inclusion(session: Session, index: int, size: int) -> list[bytes]:
    """The inclusion proof of entry ``index`` in the tree of ``size`` entries (O(log n) rows read)."""
    needed = inclusion_nodes(index, size)
    return inclusion_proof(index, size, fetch_nodes(session, needed))


def consistency(session: Session, old: int, new: int) -> list[bytes]:
    """The proof that the tree of ``old`` entries is a prefix of the tree of ``new`` entries."""
    needed = consistency_nodes(old, new)
    return consistency_proof(old, new, fetch_nodes(session, needed))


def entry(session: Session, index: int) -> AuditEntryRow | None:
    return session.get(AuditEntryRow, index)


def find(session: Session, subject: str, type: str | None = None) -> list[AuditEntryRow]:
    """The entries about ``subject`` (of ``type``, if given), oldest first."""
    query = select(AuditEntryRow).where(AuditEntryRow.subject == subject)
    if type is not None:
        query = query.where(AuditEntryRow.type == type)
    return list(session.scalars(query.order_by(AuditEntryRow.idx)))


def public_keys(session: Session) -> list[dict[str, Any]]:
    """The log-signing keys, as published at the well-known endpoint."""
    rows = session.scalars(select(AuditKeyRow).order_by(AuditKeyRow.introduced_at))
    return [
        {
            "key_id": r.key_id,
            "alg": "Ed25519",
            "public_key": r.public_key,
            "introduced_at": r.introduced_at,
            "retired_at": r.retired_at,
        }
        for r in rows
    ]


def signing_key(session: Session, key_id: str) -> PublicKey:
    row = session.get(AuditKeyRow, key_id)
    if row is None:
        raise NotFound(f"no audit key {key_id}")
    return PublicKey.from_json({"key_id": row.key_id, "alg": "Ed25519", "public_key": row.public_key})


def receipt(session: Session, index: int) -> Receipt:
    """Proof, checkable offline, that entry ``index`` is in the log: entry, latest head, inclusion proof."""
    row = entry(session, index)
    top = latest_head(session)
    if row is None or top is None or top.size <= index:
        raise NotFound(f"no signed audit entry {index}")
    return Receipt(
        entry=row.entry.encode(),
        index=index,
        head=top,
        proof=inclusion(session, index, top.size),
        key=signing_key(session, top.key_id),
    )


def exported_entries(session: Session) -> Iterator[tuple[int, bytes, bytes]]:
    """``(index, entry text, stored leaf hash)`` in index order, streamed."""
    query = (
        select(AuditEntryRow.idx, AuditEntryRow.entry, AuditNodeRow.hash)
        .outerjoin(AuditNodeRow, (AuditNodeRow.level == 0) & (AuditNodeRow.idx == AuditEntryRow.idx))
        .order_by(AuditEntryRow.idx)
        .execution_options(yield_per=5000)
    )
    for idx, text, leaf in session.execute(query):
        yield int(idx), text.encode(), bytes(leaf) if leaf is not None else b""
