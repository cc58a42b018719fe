"""Tampering with the database behind the service's back, on SQLite and on PostGIS: each is named.

A realistic log is built through the real API (parties, members and tokens;
an object declared; two filings with a conflict, so a disclosure and a
notification; a party key; an agreement proposed and signed with that key;
the notification read and acknowledged, signed; a protected read).  Then a
database administrator changes something with plain SQL, and
``verify_store`` must say the log is broken and *where*: the entry, the
head, the node, the key or the record (``notification/5``) concerned.

Two rewrites look consistent from inside, by design, and are tested as
such: truncating entries *and* heads *and* nodes consistently, and
re-signing the whole log with a key of one's own.  Only something kept
outside catches them (a head a party kept, the key a party trusts); the
tests show that it does.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.engine import Connection
from tests.api.world import Api, feature, intent, start_api

from detente.adapters.storage import Store, audit_log
from detente.adapters.storage.audit_check import export, verify_store
from detente.adapters.storage.tables import (
    AgreementRow,
    AuditEntryRow,
    AuditHeadRow,
    AuditKeyRow,
    AuditNodeRow,
    AuditStateRow,
    DecisionRow,
    NotificationRow,
    PartyRow,
    TokenRow,
    VolumeRow,
)
from detente.audit.canonical import canonical
from detente.audit.heads import TreeHead, sign_head
from detente.audit.keys import PublicKey, Signer
from detente.audit.merkle import Appender, leaf_hash, verify_inclusion
from detente.audit.signing import sign_statement
from detente.audit.verify import Finding, Report, render, verify_export

CLINIC = "object/site/aid-clinic"


# -- the log ----------------------------------------------------------------------------


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@dataclass
class Log:
    """The store after a realistic session, and the ids a tamperer goes for."""

    api: Api
    note: int  # red's conflict notification: read, then acknowledged with red's key
    agreement: str  # blue's line, signed by red with its key: in force
    decision: int  # red's signature of it
    token: str  # red's token
    red_key: Signer

    @property
    def store(self) -> Store:
        return self.api.store

    def sql(self, statement: Any, **params: Any) -> None:
        """One statement, as a database administrator would run it (raw SQL text, or Core)."""
        with self.store.engine.begin() as conn:
            conn.execute(text(statement) if isinstance(statement, str) else statement, params)

    def last(self, subject: str) -> int:
        """The index of the latest entry about ``subject``."""
        with self.store.read() as tx:
            found = [int(row.idx) for row in audit_log.find(tx.session, subject)]
        assert found, subject
        return found[-1]

    def index(self, subject: str, type: str) -> int:
        """The index of the one entry of ``type`` about ``subject``."""
        with self.store.read() as tx:
            (found,) = [int(row.idx) for row in audit_log.find(tx.session, subject, type)]
        return found

    def first(self, type: str) -> int:
        return self.entries(type)[0]

    def entries(self, type: str) -> list[int]:
        with self.store.read() as tx:
            rows = tx.session.execute(select(AuditEntryRow.idx).where(AuditEntryRow.type == type))
            return sorted(int(i) for (i,) in rows)

    def text(self, index: int) -> str:
        with self.store.read() as tx:
            row = audit_log.entry(tx.session, index)
            assert row is not None
            return str(row.entry)

    def heads(self) -> list[TreeHead]:
        with self.store.read() as tx:
            return list(audit_log.heads(tx.session))

    def size(self) -> int:
        with self.store.read() as tx:
            return int(audit_log.log_state(tx.session).size)

    def log_key(self) -> PublicKey:
        with self.store.read() as tx:
            (row,) = tx.session.scalars(select(AuditKeyRow)).all()
            return audit_log.signing_key(tx.session, row.key_id)

    def verify(self, **kw: Any) -> Report:
        return verify_store(self.store, **kw)


def build(api: Api) -> Log:
    c, h = api.client, api.headers
    red_key = Signer.generate()
    proof = sign_statement(red_key, {"type": "party.key", "party": "red", "key_id": red_key.key_id})
    b64 = red_key.public.to_json()["public_key"]
    ok(c.post("/parties/red/keys", headers=h["red"], json={"public_key": b64, "proof": proof}), 201)

    clinic = feature(
        "site", "aid-clinic", {"type": "Point", "coordinates": [40.1, 33.1]}, radius_m=1500, altitude_m=None, time=None
    )
    ok(c.post("/objects", headers=h["aid"], json={"type": "FeatureCollection", "features": [clinic]}), 201)

    red = {"intent": intent("r1", 38.0, 35.0, size=0.05), "world_version": api.version()}
    ok(c.post("/intents", headers=h["red"], json=red), 201)
    blue = {"intent": intent("b1", 37.5, 34.5, size=1.0), "world_version": api.version()}
    assert ok(c.post("/intents", headers=h["blue"], json=blue), 201)["notified"] == ["red"]
    inbox = ok(c.get("/notifications", headers=h["red"]))["items"]
    (note,) = [n["id"] for n in inbox if n["type"] == "conflict.disclosed"]

    line = feature("line", "euphrates", {"type": "LineString", "coordinates": [[38.0, 34.0], [38.0, 36.0]]})
    body = {"type": "FeatureCollection", "features": [line]}
    proposal = ok(
        c.post(
            "/agreements",
            headers=h["blue"],
            json={"kind": "line", "title": "Euphrates", "parties": ["blue", "red"], "body": body},
        ),
        201,
    )
    agreement = proposal["id"]
    statement = {"type": "agreement.sign", "party": "red", "agreement": agreement, "version": 1}
    statement["digest"] = proposal["digest"]
    signed = {"version": 1, "signature": {"key_id": red_key.key_id, "signature": sign_statement(red_key, statement)}}
    assert ok(c.post(f"/agreements/{agreement}/sign", headers=h["red"], json=signed))["status"] == "in_force"

    assert ok(c.post("/notifications/read", headers=h["red"], json={"ids": [note]})) == {"marked": 1}
    terms = ok(c.get(f"/notifications/{note}/ack", headers=h["red"]))["statement"]
    ack = {"signature": {"key_id": red_key.key_id, "signature": sign_statement(red_key, terms)}}
    assert ok(c.post(f"/notifications/{note}/ack", headers=h["red"], json=ack))["signed"] is True

    ok(c.get("/objects/site/aid-hospital", headers=h["red"]))  # protected: logged in aid's access log

    with api.store.read() as tx:
        decision = tx.session.scalars(
            select(DecisionRow.id).where(DecisionRow.agreement_id == agreement, DecisionRow.party == "red")
        ).one()
        token = tx.session.scalars(select(TokenRow.id).where(TokenRow.party == "red")).one()
    return Log(api, note, agreement, int(decision), str(token), red_key)


@pytest.fixture
def log(url: str) -> Iterator[Log]:
    for api in start_api(url):
        yield build(api)


# -- reading a report ------------------------------------------------------------------


def problems_at(report: Report, where: str) -> list[Finding]:
    return [f for f in report.problems if f.where == where]


def broken_at(report: Report, where: str, *words: str) -> Finding:
    """The report says the log is broken, with a problem at ``where`` whose text has every word."""
    assert not report.intact, "\n".join(render(report))
    found = [f for f in problems_at(report, where) if all(w in f.what for w in words)]
    assert found, f"nothing at {where!r} saying {words}:\n" + "\n".join(render(report))
    return found[0]


def first_head_above(log: Log, index: int) -> int:
    """The size of the first signed head that covers entry ``index``."""
    return min(h.size for h in log.heads() if h.size > index)


# -- tampering helpers -------------------------------------------------------------------


def rehash_nodes(conn: Connection) -> dict[int, bytes]:
    """Recompute every stored node from the entries as they now are; returns the root at every size."""
    appender = Appender()
    nodes: list[dict[str, Any]] = []
    roots: dict[int, bytes] = {}
    for (entry,) in conn.execute(select(AuditEntryRow.entry).order_by(AuditEntryRow.idx)):
        for level, idx, digest in appender.append(leaf_hash(entry.encode())):
            nodes.append({"level": level, "idx": idx, "hash": digest})
        roots[appender.size] = appender.root()
    conn.execute(delete(AuditNodeRow))
    conn.execute(insert(AuditNodeRow), nodes)
    return roots


def set_entry(conn: Connection, index: int, entry: str) -> None:
    conn.execute(update(AuditEntryRow).where(AuditEntryRow.idx == index).values(entry=entry))


def set_leaf(conn: Connection, index: int, leaf: bytes) -> None:
    conn.execute(update(AuditNodeRow).where(AuditNodeRow.level == 0, AuditNodeRow.idx == index).values(hash=leaf))


def edited(entry: str, old: str, new: str) -> str:
    """The entry text with ``old`` replaced once, still canonical JSON (only the change differs)."""
    assert entry.count(old) >= 1, (old, entry)
    changed = entry.replace(old, new, 1)
    assert canonical(json.loads(changed)).decode() == changed
    return changed


def truncate(conn: Connection, size: int, *, heads: bool, state: bool) -> None:
    """Delete entries from ``size`` on, and the nodes over them; with them the heads and the state's size."""
    conn.execute(delete(AuditEntryRow).where(AuditEntryRow.idx >= size))
    for (level,) in conn.execute(select(AuditNodeRow.level).distinct()).all():
        conn.execute(
            delete(AuditNodeRow).where(AuditNodeRow.level == level, (AuditNodeRow.idx + 1) * (1 << level) > size)
        )
    if heads:
        conn.execute(delete(AuditHeadRow).where(AuditHeadRow.size > size))
    if state:
        conn.execute(update(AuditStateRow).where(AuditStateRow.id == 1).values(size=size))


# -- untampered --------------------------------------------------------------------------


def test_the_untampered_log_is_intact_with_trust_and_every_head_kept(log: Log) -> None:
    types = {json.loads(log.text(i))["type"] for i in range(log.size())}
    assert {
        "audit.key",
        "party.key.registered",
        "object.put",
        "filing.recorded",
        "disclosure.made",
        "notification.sent",
        "agreement.proposed",
        "agreement.decided",
        "agreement.status",
        "notification.read",
        "notification.acked",
        "access.logged",
    } <= types
    report = log.verify()
    assert report.intact, "\n".join(render(report))
    assert report.entries == log.size() and report.heads == len(log.heads()) > 5
    assert report.party_signatures == 2  # red's signature of the agreement and of its acknowledgement
    assert report.latest_head == log.heads()[-1]
    trusted = log.verify(trusted=[log.log_key()], known_heads=log.heads())
    assert trusted.intact and trusted.trusted_checked, "\n".join(render(trusted))


# -- an audited row changed, deleted or added behind the log's back --------------------


def _later(value: datetime) -> datetime:
    return value + timedelta(days=3650)


#: What an administrator changes: (table, column, the row's key, the new value or a function of the old).
#: A key value naming an attribute of Log (``"note"``) is that attribute.
ROW_CHANGES: list[tuple[Any, str, dict[str, Any], Any]] = [
    (NotificationRow, "body", {"id": "note"}, {"type": "conflict.disclosed", "body": "nothing"}),
    (NotificationRow, "ack_signature", {"id": "note"}, None),
    (NotificationRow, "acked_at", {"id": "note"}, _later),
    (VolumeRow, "radius_m", {"kind": "site", "object_id": "aid-clinic"}, 20.0),
    (VolumeRow, "geojson", {"kind": "site", "object_id": "aid-clinic"}, '{"type":"Point","coordinates":[44.0,30.0]}'),
    (AgreementRow, "status", {"id": "agreement", "version": 1}, "withdrawn"),
    (AgreementRow, "body", {"id": "agreement", "version": 1}, {"type": "FeatureCollection", "features": []}),
    (TokenRow, "expires_at", {"id": "token"}, _later),
    (DecisionRow, "decision", {"id": "decision"}, "rejected"),
    (PartyRow, "role", {"id": "red"}, "secretariat"),
]
PREFIXES = {
    NotificationRow: "notification",
    VolumeRow: "object",
    AgreementRow: "agreement",
    TokenRow: "token",
    DecisionRow: "decision",
    PartyRow: "party",
}


def test_every_changed_row_is_named_with_the_entry_it_differs_from(log: Log) -> None:
    """Ten changes to six records in one database (one log built, not ten): each record is named once,
    with the entry that last logged it and every field that differs; nothing else is reported."""
    changed: dict[str, list[str]] = {}
    with log.store.engine.begin() as conn:
        for table, column, key, new in ROW_CHANGES:
            values = {k: getattr(log, v) if isinstance(v, str) and hasattr(log, v) else v for k, v in key.items()}
            where = [getattr(table, k) == v for k, v in values.items()]
            old = conn.execute(select(getattr(table, column)).where(*where)).scalar_one()
            value = new(old) if callable(new) else new
            assert value != old, (table, column)
            conn.execute(update(table).where(*where).values({column: value}))
            subject = "/".join([PREFIXES[table], *(str(v) for v in values.values())])
            changed.setdefault(subject, []).append(column)
    assert len(changed) == 6

    report = log.verify()
    assert sorted(f.where for f in report.problems) == sorted(changed), "\n".join(render(report))
    for subject, columns in changed.items():
        entry = log.last(subject)
        found = broken_at(report, subject, f"differs from entry {entry}, which logged it")
        assert found.position == entry
        for column in columns:
            assert f"{column}: logged" in found.what, (column, found.what)
    first = min(report.problems, key=lambda f: f.position)
    assert render(report)[0] == f"BROKEN at {first}"


def test_a_changed_volume_is_named_by_its_object_with_the_field(log: Log) -> None:
    log.sql("UPDATE volumes SET radius_m = 20 WHERE kind = 'site' AND object_id = 'aid-clinic'")
    report = log.verify()
    entry = log.last(CLINIC)
    assert render(report)[0] == (
        f"BROKEN at {CLINIC}: differs from entry {entry}, which logged it: radius_m: logged 1500, now 20.0"
    )
    assert [f.where for f in report.problems] == [CLINIC]


def test_a_deleted_notification_is_missing_from_the_database(log: Log) -> None:
    subject = f"notification/{log.note}"
    log.sql("DELETE FROM notifications WHERE id = :id", id=log.note)
    broken_at(log.verify(), subject, f"logged by entry {log.last(subject)}", "missing from the database")


def test_an_objects_deleted_volumes_are_missing_from_the_database(log: Log) -> None:
    log.sql("DELETE FROM volumes WHERE kind = 'site' AND object_id = 'aid-clinic'")
    report = log.verify()
    broken_at(report, CLINIC, f"logged by entry {log.last(CLINIC)}", "missing from the database")
    assert [f.where for f in report.problems] == [CLINIC]


def test_an_extra_volume_of_an_object_is_a_difference_in_rows(log: Log) -> None:
    with log.store.engine.begin() as conn:
        row = conn.execute(select(VolumeRow.__table__).where(VolumeRow.object_id == "aid-clinic")).one()._asdict()
        for generated in ("id", "geom", "reach", "alt", "during"):
            row.pop(generated, None)
        conn.execute(insert(VolumeRow.__table__).values({**row, "volume": 1}))
    broken_at(log.verify(), CLINIC, f"differs from entry {log.last(CLINIC)}", "1 row(s) logged, 2 now")


def test_a_notification_inserted_behind_the_logs_back_was_never_logged(log: Log) -> None:
    with log.store.engine.begin() as conn:
        created = conn.execute(
            insert(NotificationRow)
            .values(party="red", type="conflict.disclosed", body={"fake": True}, created_at=datetime.now().astimezone())
            .returning(NotificationRow.id)
        ).scalar_one()
    broken_at(log.verify(), f"notification/{created}", "never logged")


def test_a_row_the_log_says_was_deleted_is_back(log: Log) -> None:
    """Blue cancels its intent (logged as deleted); the administrator puts the rows back."""
    with log.store.engine.begin() as conn:
        rows = [r._asdict() for r in conn.execute(select(VolumeRow.__table__).where(VolumeRow.object_id == "b1"))]
    ok(log.api.client.delete("/intents/b1", headers=log.api.headers["blue"]))
    assert log.verify().intact
    with log.store.engine.begin() as conn:
        for row in rows:
            for generated in ("geom", "reach", "alt", "during"):
                row.pop(generated, None)
            conn.execute(insert(VolumeRow.__table__).values(row))
    subject = "object/intent/b1"
    broken_at(log.verify(), subject, f"entry {log.last(subject)} logged it deleted")


# -- the entries ----------------------------------------------------------------------------


def test_an_entry_changed_in_place_is_named(log: Log) -> None:
    """The text of the notification's 'sent' entry is changed; its stored leaf hash is not."""
    index = log.index(f"notification/{log.note}", "notification.sent")
    with log.store.engine.begin() as conn:
        set_entry(conn, index, edited(log.text(index), '"severity":"advisory"', '"severity":"blocking"'))

    report = log.verify()
    broken_at(report, f"entry {index}", "content was changed after it was logged")
    broken_at(report, f"node (0, {index})", "does not match the entries below it")
    assert render(report)[0].startswith(f"BROKEN at entry {index} (notification.sent notification/{log.note})")
    # The heads still match the stored leaves, so the story is the entry, not the heads.
    assert not [f for f in report.problems if f.where.startswith("head")]


@pytest.mark.parametrize("nodes", ["leaf only", "every node"])
def test_a_careful_rewrite_of_an_entry_and_its_hashes_breaks_the_signed_heads(log: Log, nodes: str) -> None:
    """Entry text and its leaf hash changed together (and, the more careful, every node above it).

    The entry line is consistent with itself; the signed heads over it are not, and
    they name the range of entries where the change lies.
    """
    index = log.first("filing.recorded")
    with log.store.engine.begin() as conn:
        text_ = edited(log.text(index), '"party":"red"', '"party":"aid"')
        set_entry(conn, index, text_)
        set_leaf(conn, index, leaf_hash(text_.encode()))
        if nodes == "every node":
            rehash_nodes(conn)
    covering = first_head_above(log, index)
    before = max((h.size for h in log.heads() if h.size <= index), default=0)

    report = log.verify()
    found = broken_at(report, f"head at size {covering}", "its root does not match the log")
    assert f"entries {before}–{covering - 1} were altered" in found.what
    assert found.position == before
    assert not problems_at(report, f"entry {index}")
    node_problems = [f for f in report.problems if f.where.startswith("node")]
    if nodes == "leaf only":
        assert node_problems and node_problems[0].where == f"node (1, {index // 2})", "\n".join(render(report))
    else:
        assert node_problems == []


def test_a_deleted_entry_is_a_gap(log: Log) -> None:
    index = log.first("disclosure.made")
    log.sql("DELETE FROM audit_entries WHERE idx = :i", i=index)
    report = log.verify()
    broken_at(report, f"entry {index}", "missing from the export (deleted?)")
    assert render(report)[0].startswith(f"BROKEN at entry {index}: missing")
    broken_at(report, f"heads at sizes {first_head_above(log, index)} to {log.size()}", f"entry {index} is missing")


def test_two_entries_swapped_with_their_leaves_break_the_head_over_them(log: Log) -> None:
    """Two entries of one write swap places, rows and leaf hashes alike: each line is consistent with
    itself and the rows still match their latest entries, but the head over them no longer does."""
    a = log.first("disclosure.made")
    b = a + 1
    assert json.loads(log.text(b))["type"] == "notification.sent"
    leaves = {i: leaf_hash(log.text(i).encode()) for i in (a, b)}
    with log.store.engine.begin() as conn:
        for old, new in ((a, -1), (b, a), (-1, b)):  # the primary key is unique at every step
            conn.execute(text("UPDATE audit_entries SET idx = :new WHERE idx = :old"), {"old": old, "new": new})
        set_leaf(conn, a, leaves[b])
        set_leaf(conn, b, leaves[a])
    covering = first_head_above(log, b)
    before = max((h.size for h in log.heads() if h.size <= a), default=0)

    report = log.verify()
    broken_at(report, f"head at size {covering}", f"entries {before}–{covering - 1} were altered, removed or reordered")
    broken_at(report, f"node (1, {a // 2})", "does not match the entries below it")
    assert not [f for f in report.problems if f.where.startswith("entry") or "/" in f.where], render(report)


def test_an_entry_column_does_not_override_its_text(log: Log) -> None:
    """The columns copied from an entry (subject, type, audience, time) gate who reads it: they must agree."""
    index = log.first("filing.recorded")  # red's filing: red's and the secretariat's only
    assert json.loads(log.text(index))["audience"] == ["red"]
    log.sql(update(AuditEntryRow).where(AuditEntryRow.idx == index).values(audience=["*"]))
    # Blue now reads red's filing: the column, not the text, decides.
    assert ok(log.api.client.get(f"/audit/entries/{index}", headers=log.api.headers["blue"]))["index"] == index
    report = log.verify()
    broken_at(report, f"entry {index}", "columns differ", 'audience: column ["*"], entry ["red"]')
    assert [f.where for f in report.problems] == [f"entry {index}"]


@pytest.mark.parametrize("column", ["subject", "type", "at"])
def test_an_entry_filed_under_another_subject_type_or_time_is_named(log: Log, column: str) -> None:
    """The acknowledgement filed as something else: ``/audit/about`` and receipts would find the wrong entry."""
    subject = f"notification/{log.note}"
    index = log.index(subject, "notification.acked")
    value = {"subject": "notification/999999", "type": "notification.read", "at": datetime(2017, 1, 1, tzinfo=UTC)}
    log.sql(update(AuditEntryRow).where(AuditEntryRow.idx == index).values({column: value[column]}))
    assert [
        e["index"]
        for e in log.api.client.get("/audit/about", params={"subject": subject}, headers=log.api.headers["red"]).json()
        if e["type"] == "notification.acked"
    ] == ([index] if column == "at" else [])
    report = log.verify()
    broken_at(report, f"entry {index}", "columns differ from the entry's text", f"{column}: column")
    # The rows are checked against what the entries' text says, so nothing else is named.
    assert [f.where for f in report.problems] == [f"entry {index}"], "\n".join(render(report))


# -- truncation ------------------------------------------------------------------------------


def test_entries_deleted_from_the_end_under_kept_heads_are_a_truncation(log: Log) -> None:
    size = log.size()
    keep = size - 3
    with log.store.engine.begin() as conn:
        truncate(conn, keep, heads=False, state=False)
    report = log.verify()
    first = first_head_above(log, keep)
    broken_at(report, f"head at size {first}", "log truncated", f"only {keep} entries remain")
    broken_at(report, "header", f"states {size} entries, but the export holds {keep}")


def test_a_consistent_truncation_passes_alone_but_not_against_a_kept_head(log: Log) -> None:
    """Entries, heads and nodes of the last write deleted, the state's size set back, the row it wrote
    deleted: from inside the database nothing is wrong.  A head a party kept (from a receipt or its
    witness) shows the truncation."""
    heads = log.heads()
    kept, previous = heads[-1], heads[-2]
    dropped = [json.loads(log.text(i)) for i in range(previous.size, kept.size)]
    assert [(e["type"], e["subject"]) for e in dropped] == [("access.logged", "access/1")]
    with log.store.engine.begin() as conn:
        truncate(conn, previous.size, heads=True, state=True)
        conn.execute(text("DELETE FROM access_log WHERE id = 1"))

    alone = log.verify()
    assert alone.intact, "\n".join(render(alone))
    assert alone.latest_head == previous
    report = log.verify(known_heads=[kept])
    broken_at(report, f"the head you kept at size {kept.size}", "log truncated")
    # A kept head from before the truncation point still matches: only the missing part is named.
    assert log.verify(known_heads=[previous]).intact


# -- heads ----------------------------------------------------------------------------------


def _middle_head(log: Log) -> TreeHead:
    """A head with no head just below it, neither the first nor the last."""
    sizes = {h.size for h in log.heads()}
    return next(h for h in log.heads()[1:-1] if h.size - 1 not in sizes and h.size - 2 > min(sizes))


def _earlier(h: TreeHead) -> dict[str, Any]:
    return {"at": h.at - timedelta(days=1)}


HEAD_CHANGES = {
    # what changes: (the new values, the size the head then has, what is said of it)
    "root": (
        lambda h: {"root": hashlib.sha256(b"another root").digest()},
        lambda h: h.size,
        ["signature does not verify", "this head was altered or forged, not the entries"],
    ),
    "size": (lambda h: {"size": h.size - 1}, lambda h: h.size - 1, ["signature does not verify", "altered or forged"]),
    "signature": (lambda h: {"signature": bytes(64)}, lambda h: h.size, ["signature does not verify"]),
    "time": (_earlier, lambda h: h.size, ["time went backward", "signature does not verify"]),
    "key id": (lambda h: {"key_id": "ed25519:" + "0" * 32}, lambda h: h.size, ["which this log never introduced"]),
}


@pytest.mark.parametrize("change", HEAD_CHANGES)
def test_a_changed_head_is_named_by_its_size(log: Log, change: str) -> None:
    target = _middle_head(log)
    values, size, said = HEAD_CHANGES[change]
    log.sql(update(AuditHeadRow).where(AuditHeadRow.size == target.size).values(values(target)))
    report = log.verify()
    where = f"head at size {size(target)}"
    for words in said:
        broken_at(report, where, words)
    assert {f.where for f in report.problems} == {where}, "\n".join(render(report))
    assert render(report)[0].startswith(f"BROKEN at {where}: ")
    assert report.latest_head == log.heads()[-1]  # later heads still check out


# -- keys ---------------------------------------------------------------------------------


def test_a_swapped_published_key_is_named(log: Log) -> None:
    key = log.log_key()
    other = base64.b64encode(Signer.generate().public.raw).decode()
    log.sql("UPDATE audit_keys SET public_key = :k WHERE key_id = :id", k=other, id=key.key_id)
    report = log.verify()
    broken_at(report, f"key {key.key_id}", "audit_keys differs from entry 0", "key swapped")
    assert [f.where for f in report.problems] == [f"key {key.key_id}"]


def test_a_published_key_the_log_never_introduced_is_named(log: Log) -> None:
    stranger = Signer.generate().public
    b64 = base64.b64encode(stranger.raw).decode()
    log.sql(insert(AuditKeyRow).values(key_id=stranger.key_id, public_key=b64, introduced_at=3))
    broken_at(log.verify(), f"key {stranger.key_id}", "never introduced by the log")


def _resign_everything(log: Log, forger: Signer) -> None:
    """A rewrite of the whole log under a key of one's own: entry 0 introduces it, every node is
    recomputed, every head re-signed, the published key replaced."""
    original = json.loads(log.text(0))
    assert original["type"] == "audit.key"
    forged = dict(
        original, subject=f"audit-key/{forger.key_id}", data={"key": forger.public.to_json(), "previous": None}
    )
    heads = log.heads()
    with log.store.engine.begin() as conn:
        conn.execute(
            update(AuditEntryRow)
            .where(AuditEntryRow.idx == 0)
            .values(entry=canonical(forged).decode(), subject=forged["subject"])
        )
        roots = rehash_nodes(conn)
        conn.execute(delete(AuditHeadRow))
        for h in heads:
            new = sign_head(forger, h.log, h.size, roots[h.size], h.at)
            conn.execute(
                insert(AuditHeadRow).values(
                    size=new.size, root=new.root, at=new.at, key_id=new.key_id, signature=new.signature
                )
            )
        conn.execute(delete(AuditKeyRow))
        b64 = forger.public.to_json()["public_key"]
        conn.execute(insert(AuditKeyRow).values(key_id=forger.key_id, public_key=b64, introduced_at=0))
        conn.execute(update(AuditStateRow).values(key_id=forger.key_id))


def test_a_log_resigned_with_another_key_passes_alone_but_not_with_the_trusted_key(log: Log) -> None:
    original, old_heads = log.log_key(), log.heads()
    forger = Signer.generate()
    _resign_everything(log, forger)

    alone = log.verify()
    assert alone.intact, "\n".join(render(alone))  # consistent: but whose?
    assert not alone.trusted_checked
    report = log.verify(trusted=[original])
    found = broken_at(report, f"key {forger.key_id}", "not one you trust")
    assert render(report)[0] == f"BROKEN at {found}"
    # A head kept from before (a receipt's, a witness's) shows the rewrite too, without any key.
    kept = old_heads[-1]
    broken_at(log.verify(known_heads=[kept]), f"the head you kept at size {kept.size}", "history rewritten")


# -- Merkle nodes ---------------------------------------------------------------------------


def test_a_changed_internal_node_is_named_and_would_give_wrong_proofs(log: Log) -> None:
    index = 1  # its proof goes through node (2, 1), the subtree of entries 4-7
    top = log.heads()[-1]
    leaf = leaf_hash(log.text(index).encode())

    def proof_holds() -> bool:
        with log.store.read() as tx:
            proof = audit_log.inclusion(tx.session, index, top.size)
        return verify_inclusion(leaf, index, top.size, proof, top.root)

    assert proof_holds()
    log.sql("UPDATE audit_nodes SET hash = :h WHERE level = 2 AND idx = 1", h=hashlib.sha256(b"x").digest())
    assert not proof_holds()
    report = log.verify()
    broken_at(report, "node (2, 1)", "proofs through it would be wrong")
    assert [f.where for f in report.problems] == ["node (2, 1)"]  # the entries and heads are fine


def test_a_deleted_node_is_named(log: Log) -> None:
    log.sql("DELETE FROM audit_nodes WHERE level = 3 AND idx = 0")
    broken_at(log.verify(), "node (3, 0)", "missing from audit_nodes")


# -- the export file -----------------------------------------------------------------------


def _export(log: Log, path: Path) -> list[str]:
    with path.open("w", encoding="utf-8") as handle:
        assert export(log.store, handle) == log.size()
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_an_export_verifies_offline(log: Log, tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    lines = _export(log, path)
    assert len(lines) == 1 + log.size() + len(log.heads())
    with path.open(encoding="utf-8") as handle:
        report = verify_export(handle, trusted=[log.log_key()], known_heads=log.heads())
    assert report.intact, "\n".join(render(report))
    assert report.entries == log.size() and report.party_signatures == 2


def _edit_entry(lines: list[str], index: int) -> None:
    line = json.loads(lines[1 + index])
    line["entry"] = edited(line["entry"], '"party":"red"', '"party":"blue"')
    lines[1 + index] = json.dumps(line) + "\n"


def _drop_entry(lines: list[str], index: int) -> None:
    del lines[1 + index]


def _edit_head(lines: list[str], index: int) -> None:
    position = next(i for i, line in enumerate(lines) if '"head"' in line and f'"size":{index + 1},' in line)
    line = json.loads(lines[position])
    line["head"]["root"] = "00" * 32
    lines[position] = json.dumps(line) + "\n"


FILE_TAMPERS = {
    "entry edited": (_edit_entry, "entry {i}", "content was changed"),
    "entry dropped": (_drop_entry, "entry {i}", "missing from the export"),
    "head root edited": (_edit_head, "head at size {s}", "signature does not verify"),
}


@pytest.mark.parametrize("tamper", FILE_TAMPERS)
def test_a_tampered_export_line_is_named(log: Log, tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "log.jsonl"
    lines = _export(log, path)
    index = log.first("filing.recorded")
    if tamper == "head root edited":
        index = first_head_above(log, index) - 1
    change, where, words = FILE_TAMPERS[tamper]
    change(lines, index)
    path.write_text("".join(lines), encoding="utf-8")
    with path.open(encoding="utf-8") as handle:
        report = verify_export(handle)
    broken_at(report, where.format(i=index, s=index + 1), words)


# -- derived data: SQLite's 4D index ---------------------------------------------------------


def test_a_volume_dropped_from_the_sqlite_index_is_noticed(sqlite_url: str) -> None:
    for api in start_api(sqlite_url):
        log = build(api)

        def hits(api: Api = api) -> set[str]:
            over = {"intent": intent("r-hosp", 36.45, 35.45, size=0.1), "world_version": api.version()}
            dry = ok(api.client.post("/intents?dry_run=true", headers=api.headers["red"], json=over))
            return {c["other"]["id"] for c in dry["conflicts"]}

        assert "aid-hospital" in hits()
        log.sql(
            "DELETE FROM volume_rtree WHERE id IN "
            "(SELECT id FROM volumes WHERE kind = 'site' AND object_id = 'aid-hospital')"
        )
        # The hospital no longer blocks a strike on it.
        assert "aid-hospital" not in hits()
        report = log.verify()
        assert not report.intact
        assert any(
            f.where == "object/site/aid-hospital" and "missing from the 4D index" in f.what for f in report.findings
        ), report.findings
