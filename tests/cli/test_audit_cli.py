"""``detente audit ...`` and ``detente party-key ...`` end to end, and the witness against a real app.

The commands run in process (typer's CliRunner on the real ``app``) on a
SQLite file made by ``detente init --demo``; the witness runs against the
real API (a TestClient is an ``httpx.Client``) and, once, as the
``audit witness`` command against a real ``detente serve``.

Each test gets a key directory of its own (``DETENTE_AUDIT_KEYS``, set with
monkeypatch over the session-wide one of tests/conftest.py), because
``rotate-key`` changes which key is current and must not leak into other
tests' stores.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from tests.api.world import Api, intent, start_api
from tests.cli.served import serving
from typer.testing import CliRunner

from detente.adapters.cli.main import app
from detente.adapters.cli.witness import Seen, WitnessError, witness
from detente.adapters.storage import Store, audit_log, open_store
from detente.adapters.storage.audit_check import verify_store
from detente.adapters.storage.audit_log import Pending
from detente.adapters.storage.tables import AuditEntryRow, AuditHeadRow, AuditKeyRow, AuditNodeRow, AuditStateRow
from detente.audit.heads import TreeHead
from detente.audit.keys import PublicKey, Signer
from detente.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from detente.audit.signing import verify_statement

runner = CliRunner()
DETENTE = Path(sys.executable).with_name("detente")


def run(*args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own log-key directory."""
    assert os.environ.get("DETENTE_AUDIT_KEYS"), "tests/conftest.py sets a session key directory"
    path = tmp_path / "audit-keys"
    monkeypatch.setenv("DETENTE_AUDIT_KEYS", str(path))
    return path


@pytest.fixture
def db(tmp_path: Path, keys: Path) -> str:
    """A demo database, with a second secretariat token issued (so the log has a few signed heads)."""
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    assert run("init", "--db", url, "--demo").stdout.strip().startswith("dtk_")
    run("init", "--db", url, "--again")
    assert (keys / "CURRENT").exists()  # the keys live in this test's directory
    return url


def store_of(url: str) -> Store:
    return open_store(url, migrate=False)


def heads(url: str) -> list[TreeHead]:
    store = store_of(url)
    try:
        with store.read() as tx:
            return list(audit_log.heads(tx.session))
    finally:
        store.close()


def entry_text(url: str, index: int) -> str:
    store = store_of(url)
    try:
        with store.read() as tx:
            row = audit_log.entry(tx.session, index)
            assert row is not None
            return str(row.entry)
    finally:
        store.close()


def log_key(url: str) -> PublicKey:
    """The log's first key, from the published table (what a party fetches from /.well-known)."""
    store = store_of(url)
    try:
        with store.read() as tx:
            first = tx.session.scalars(select(AuditKeyRow).order_by(AuditKeyRow.introduced_at)).first()
            assert first is not None
            return audit_log.signing_key(tx.session, first.key_id)
    finally:
        store.close()


def key_file(path: Path, key: PublicKey) -> Path:
    path.write_text(json.dumps(key.to_json()))
    return path


# -- verify, export ---------------------------------------------------------------------


def test_verify_db_is_intact(db: str) -> None:
    result = run("audit", "verify", "--db", db)
    first = result.stdout.splitlines()[0]
    assert first.startswith("INTACT: 37 entries, 3 signed heads, 1 log keys"), result.stdout
    assert "not compared with a key you trust" in result.stdout


def test_verify_db_names_a_changed_row(db: str) -> None:
    store = store_of(db)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE volumes SET radius_m = 10 WHERE kind = 'site' AND object_id = 'hospital-daraa'"))
    store.close()
    result = run("audit", "verify", "--db", db, code=1)
    assert result.stdout.startswith("BROKEN at object/site/hospital-daraa: differs from entry 27"), result.stdout
    assert "radius_m: logged" in result.stdout and "now 10" in result.stdout


def test_export_verifies_offline_and_a_tampered_line_is_named(db: str, tmp_path: Path) -> None:
    exported = tmp_path / "log.jsonl"
    assert "exported 37 entries" in run("audit", "export", "--db", db, "-o", str(exported)).stderr
    result = run("audit", "verify", str(exported))
    assert result.stdout.startswith("INTACT: 37 entries"), result.stdout

    lines = exported.read_text().splitlines(keepends=True)
    line = json.loads(lines[1 + 27])
    assert json.loads(line["entry"])["subject"] == "object/site/hospital-daraa"
    line["entry"] = line["entry"].replace('"radius_m":', '"radius_m":1', 1)
    lines[1 + 27] = json.dumps(line) + "\n"
    exported.write_text("".join(lines))
    result = run("audit", "verify", str(exported), code=1)
    assert result.stdout.startswith("BROKEN at entry 27 (object.put object/site/hospital-daraa): its content"), (
        result.stdout
    )


def test_verify_needs_a_file_or_a_db_not_both(db: str, tmp_path: Path) -> None:
    assert "one of them" in run("audit", "verify", code=2).stderr
    assert "one of them" in run("audit", "verify", str(tmp_path / "x"), "--db", db, code=2).stderr


def test_trust_passes_with_the_logs_key_and_fails_with_another(db: str, tmp_path: Path) -> None:
    exported = tmp_path / "log.jsonl"
    run("audit", "export", "--db", db, "-o", str(exported))
    # The key as a party gets it: the export's first entry introduces it; the published table agrees.
    first = json.loads(json.loads(exported.read_text().splitlines()[1])["entry"])
    key = PublicKey.from_json(first["data"]["key"])
    assert key == log_key(db)
    right = key_file(tmp_path / "log-key.json", key)
    pem = tmp_path / "log-key.pem"
    pem.write_bytes(key.to_pem())
    wrong = key_file(tmp_path / "other.json", Signer.generate().public)

    for trusted in (right, pem):
        result = run("audit", "verify", str(exported), "--trust", str(trusted))
        assert result.stdout.startswith("INTACT") and "not compared" not in result.stdout
    assert run("audit", "verify", "--db", db, "--trust", str(right)).stdout.startswith("INTACT")
    result = run("audit", "verify", str(exported), "--trust", str(wrong), code=1)
    assert result.stdout.startswith(f"BROKEN at key {key.key_id}: the log's first key is not one you trust")
    run("audit", "verify", "--db", db, "--trust", str(wrong), code=1)


def test_a_kept_head_must_still_match(db: str, tmp_path: Path) -> None:
    kept = heads(db)[-1]
    head_file = tmp_path / "head.json"
    head_file.write_text(json.dumps(kept.to_json()))
    assert run("audit", "verify", "--db", db, "--head", str(head_file)).stdout.startswith("INTACT")
    forged = dict(kept.to_json(), root="00" * 32)
    head_file.write_text(json.dumps(forged))
    result = run("audit", "verify", "--db", db, "--head", str(head_file), code=1)
    assert f"the head you kept at size {kept.size}" in result.stdout and "history rewritten" in result.stdout


# -- receipts and proofs ----------------------------------------------------------------


def test_a_receipt_is_proven_offline_and_a_tampered_one_is_not(db: str, tmp_path: Path) -> None:
    result = run("audit", "receipt", "27", "--db", db)
    receipt = json.loads(result.stdout)
    assert receipt["index"] == 27 and receipt["head"]["size"] == heads(db)[-1].size
    path = tmp_path / "receipt.json"
    path.write_text(result.stdout)
    proven = run("audit", "check-receipt", str(path))
    assert proven.stdout.startswith("PROVEN: object.put object/site/hospital-daraa"), proven.stdout
    assert "pass --trust" in proven.stdout
    right = key_file(tmp_path / "key.json", log_key(db))
    assert "pass --trust" not in run("audit", "check-receipt", str(path), "--trust", str(right)).stdout
    wrong = key_file(tmp_path / "other.json", Signer.generate().public)
    assert (
        "not one of the keys you trust"
        in run("audit", "check-receipt", str(path), "--trust", str(wrong), code=1).stdout
    )

    tampered = dict(receipt, entry=receipt["entry"].replace('"radius_m":', '"radius_m":1', 1))
    path.write_text(json.dumps(tampered))
    result = run("audit", "check-receipt", str(path), code=1)
    assert result.stdout.startswith("NOT PROVEN"), result.stdout
    assert "the entry was changed" in result.stdout
    moved = dict(receipt, index=26)
    path.write_text(json.dumps(moved))
    assert "is not at index 26" in run("audit", "check-receipt", str(path), code=1).stdout
    path.write_text("{not json")
    run("audit", "check-receipt", str(path), code=2)


def test_no_receipt_for_an_entry_beyond_the_log(db: str) -> None:
    assert "no signed audit entry 999" in run("audit", "receipt", "999", "--db", db, code=2).stderr


def test_proofs_verify_against_the_signed_heads(db: str) -> None:
    old, _, top = heads(db)[-3:]
    for index in (0, 27, top.size - 1):
        proof = json.loads(run("audit", "proof", str(index), "--db", db).stdout)
        assert proof["index"] == index and proof["size"] == top.size
        hashes = [bytes.fromhex(h) for h in proof["proof"]]
        leaf = leaf_hash(entry_text(db, index).encode())
        assert verify_inclusion(leaf, index, top.size, hashes, top.root)
        assert not verify_inclusion(leaf, (index + 1) % top.size, top.size, hashes, top.root)
    at_old = json.loads(run("audit", "proof", "3", "--size", str(old.size), "--db", db).stdout)
    assert at_old["size"] == old.size
    leaf = leaf_hash(entry_text(db, 3).encode())
    assert verify_inclusion(leaf, 3, old.size, [bytes.fromhex(h) for h in at_old["proof"]], old.root)

    proof = json.loads(run("audit", "proof", str(old.size), str(top.size), "--db", db).stdout)
    assert (proof["first"], proof["second"]) == (old.size, top.size)
    hashes = [bytes.fromhex(h) for h in proof["proof"]]
    assert verify_consistency(old.size, top.size, old.root, top.root, hashes)
    assert not verify_consistency(old.size, top.size, bytes(32), top.root, hashes)
    run("audit", "proof", str(top.size), "--db", db, code=2)  # no entry at the head's size


# -- key rotation ------------------------------------------------------------------------


def test_rotate_key_keeps_the_log_intact_and_later_heads_use_the_new_key(db: str, tmp_path: Path) -> None:
    before = heads(db)
    old = log_key(db)
    result = run("audit", "rotate-key", "--db", db)
    assert f"log key {old.key_id} retired; new key" in result.stdout
    new_id = result.stdout.split("new key ")[1].split()[0]
    run("init", "--db", db, "--again")  # a write after the rotation

    verified = run("audit", "verify", "--db", db)
    assert verified.stdout.startswith("INTACT") and " 2 log keys" in verified.stdout.splitlines()[0], verified.stdout
    after = [h for h in heads(db) if h.size > before[-1].size]
    rotation = after[0]  # the head over the rotation entry, signed by the old key that endorses the new one
    assert rotation.key_id == old.key_id
    endorsed = json.loads(entry_text(db, rotation.size - 1))
    assert endorsed["type"] == "audit.key"
    assert endorsed["data"] == {"key": rotation_key(db, new_id), "previous": old.key_id}
    assert [h.key_id for h in after[1:]] == [new_id] * (len(after) - 1) and len(after) >= 3
    # The original key is still the one a party trusts: the log shows it endorsing the new one.
    trusted = key_file(tmp_path / "key.json", old)
    assert run("audit", "verify", "--db", db, "--trust", str(trusted)).stdout.startswith("INTACT")


def rotation_key(url: str, key_id: str) -> dict[str, Any]:
    store = store_of(url)
    try:
        with store.read() as tx:
            return audit_log.signing_key(tx.session, key_id).to_json()
    finally:
        store.close()


# -- party keys --------------------------------------------------------------------------


def new_party_key(path: Path, party: str = "red") -> PublicKey:
    """``party-key new``: the private key written, the registration body printed; the public key."""
    body = json.loads(run("party-key", "new", str(path), "--party", party).stdout)
    public = PublicKey.parse(body["public_key"])
    assert set(body) == {"public_key", "proof"}  # exactly the body POST /parties/{party}/keys takes
    # The proof of possession the API asks for: the key's signature over {type, party, key_id}.
    assert verify_statement(public, {"type": "party.key", "party": party, "key_id": public.key_id}, body["proof"])
    assert not verify_statement(public, {"type": "party.key", "party": "blue", "key_id": public.key_id}, body["proof"])
    return public


def test_party_key_new_writes_a_private_pem_and_prints_the_registration(tmp_path: Path) -> None:
    path = tmp_path / "red.pem"
    public = new_party_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Signer.from_pem(path.read_bytes()).public == public
    assert "not overwriting" in run("party-key", "new", str(path), "--party", "red", code=2).stderr
    assert Signer.from_pem(path.read_bytes()).public == public


def test_the_body_printed_by_party_key_new_registers_the_key(watched: Api, tmp_path: Path) -> None:
    body = json.loads(run("party-key", "new", str(tmp_path / "red.pem"), "--party", "red").stdout)
    r = watched.client.post("/parties/red/keys", headers=watched.headers["red"], json=body)
    assert r.status_code == 201, r.text
    assert r.json()["key_id"] == PublicKey.parse(body["public_key"]).key_id
    # Printed for red, it is no proof for blue.
    other = json.loads(run("party-key", "new", str(tmp_path / "blue.pem"), "--party", "red").stdout)
    registration = {"public_key": other["public_key"], "proof": other["proof"]}
    r = watched.client.post("/parties/blue/keys", headers=watched.headers["blue"], json=registration)
    assert r.status_code == 422, r.text


def test_party_key_sign_makes_a_signature_that_verifies(tmp_path: Path) -> None:
    path = tmp_path / "red.pem"
    public = new_party_key(path)
    statement = {"type": "notification.ack", "party": "red", "notification": 5, "leaf": "ab" * 32}
    signed = json.loads(run("party-key", "sign", str(path), json.dumps(statement)).stdout)
    assert signed["key_id"] == public.key_id
    assert verify_statement(public, statement, signed["signature"])
    assert not verify_statement(public, dict(statement, notification=6), signed["signature"])
    # As the API hands it out ({"statement": ...}), and from a file.
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps({"statement": statement, "receipt": {}}))
    again = json.loads(run("party-key", "sign", str(path), f"@{terms}").stdout)
    assert verify_statement(public, statement, again["signature"])
    assert "a statement is a JSON object" in run("party-key", "sign", str(path), "[1, 2]", code=2).stderr


# -- the witness -------------------------------------------------------------------------


@pytest.fixture
def watched(sqlite_url: str, keys: Path) -> Iterator[Api]:
    """The API on SQLite; its client speaks as the observer party (the witness)."""
    for api in start_api(sqlite_url):
        api.client.headers.update(api.headers["watch"])
        yield api


def file_intent(api: Api, oid: str, lon: float) -> None:
    body = {"intent": intent(oid, lon, 30.0, size=0.05), "world_version": api.version()}
    r = api.client.post("/intents", headers=api.headers["blue"], json=body)
    assert r.status_code == 201, r.text


def latest(store: Store) -> TreeHead:
    with store.read() as tx:
        top = audit_log.latest_head(tx.session)
    assert top is not None
    return top


def test_the_witness_pins_keys_then_proves_each_new_head_extends_the_last(watched: Api, tmp_path: Path) -> None:
    state = tmp_path / "witness.json"
    first, said = witness(watched.client, Seen.load(state), None)
    assert said[0].startswith("pinned 1 log key(s) on first use")
    assert first.head == latest(watched.store) and first.log is not None
    first.save(state)
    loaded = Seen.load(state)
    assert (loaded.log, loaded.head, loaded.keys) == (first.log, first.head, first.keys)

    same, said = witness(watched.client, loaded, None)
    assert said[-1] == "no new entries since your last visit; same root"
    file_intent(watched, "b-1", 44.0)
    second, said = witness(watched.client, same, None)
    assert second.head is not None and first.head is not None and second.head.size > first.head.size
    assert (
        said[-1]
        == f"consistency proof {first.head.size:,} -> {second.head.size:,}: the new log extends the one you saw"
    )

    # A rotation is followed: the pinned key endorses the new one in the log.
    old, new = watched.store.keys.rotate()  # type: ignore[attr-defined]
    file_intent(watched, "b-2", 44.2)
    third, said = witness(watched.client, second, None)
    assert f"accepted key {new.key_id}: endorsed by {old.key_id}" in "\n".join(said)
    assert third.head is not None and third.head.key_id == new.key_id
    assert set(third.keys) == {old.key_id, new.key_id}


def test_the_witness_accepts_only_keys_it_trusts_or_pinned(watched: Api) -> None:
    published = watched.client.get("/.well-known/detente/audit-keys").json()["keys"]
    (real,) = [PublicKey.from_json(k) for k in published]
    seen, said = witness(watched.client, Seen(), [real])
    assert not any("pinned" in line for line in said) and set(seen.keys) == {real.key_id}
    stranger = Signer.generate().public
    with pytest.raises(WitnessError, match=f"key {real.key_id} is not endorsed by a key you pinned"):
        witness(watched.client, Seen(), [stranger])
    assert seen.head is not None
    with pytest.raises(WitnessError, match="is not endorsed by a key you pinned"):
        witness(watched.client, Seen(seen.log, seen.head, {stranger.key_id: stranger}), None)
    with pytest.raises(WitnessError, match="the server now serves log"):
        witness(watched.client, Seen("dtl-another", seen.head, seen.keys), None)
    # A refused token is no evidence about the log.
    watched.client.headers["Authorization"] = "Bearer dtk_wrong"
    with pytest.raises(httpx.HTTPStatusError, match="401"):
        witness(watched.client, seen, None)


def truncate(store: Store, size: int) -> None:
    """A consistent truncation: entries, nodes over them, heads and the state's size."""
    with store.engine.begin() as conn:
        conn.execute(delete(AuditEntryRow).where(AuditEntryRow.idx >= size))
        for (level,) in conn.execute(select(AuditNodeRow.level).distinct()).all():
            conn.execute(
                delete(AuditNodeRow).where(AuditNodeRow.level == level, (AuditNodeRow.idx + 1) * (1 << level) > size)
            )
        conn.execute(delete(AuditHeadRow).where(AuditHeadRow.size > size))
        conn.execute(update(AuditStateRow).where(AuditStateRow.id == 1).values(size=size))


def rewrite(store: Store, size: int, until: int) -> None:
    """History rewritten: the log cut back to ``size``, then other entries appended, signed by the real key."""
    truncate(store, size)
    n = 0
    while latest(store).size < until:
        with store.write(world=False) as tx:
            tx.pending.append(Pending("audit.note", "audit", ["*"], None, {"note": f"another history {n}"}))
        n += 1
    assert latest(store).size == until


@pytest.mark.parametrize("beyond", [0, 3], ids=["same size", "larger"])
def test_the_witness_catches_a_rewritten_history(watched: Api, beyond: int) -> None:
    seen, _ = witness(watched.client, Seen(), None)
    assert seen.head is not None
    kept = seen.head
    rewrite(watched.store, kept.size - 4, kept.size + beyond)
    message = "two different roots were signed" if beyond == 0 else "does not extend the log you saw"
    with pytest.raises(WitnessError, match=message) as caught:
        witness(watched.client, seen, None)
    assert "history rewritten" in str(caught.value)
    # The rewritten log verifies on its own (re-signed by the real key), but not against the witness's head.
    report = verify_store(watched.store, known_heads=[kept])
    assert not report.intact
    assert any(f.where == f"the head you kept at size {kept.size}" for f in report.problems)


def test_the_witness_catches_a_log_that_shrank(watched: Api) -> None:
    seen, _ = witness(watched.client, Seen(), None)
    assert seen.head is not None
    previous = [h for h in heads_of(watched.store) if h.size < seen.head.size][-1]
    truncate(watched.store, previous.size)
    with pytest.raises(WitnessError, match="the log shrank") as caught:
        witness(watched.client, seen, None)
    assert f"you saw {seen.head.size:,} entries, the server now shows {previous.size:,}" in str(caught.value)


def heads_of(store: Store) -> list[TreeHead]:
    with store.read() as tx:
        return list(audit_log.heads(tx.session))


# -- the witness command against a real server -------------------------------------------


@pytest.fixture
def served(tmp_path: Path, keys: Path) -> Iterator[tuple[str, str, str]]:
    """``detente serve`` on a demo database: (base URL, secretariat token, database URL)."""
    url = f"sqlite:///{tmp_path / 'served.sqlite'}"
    token = run("init", "--db", url, "--demo").stdout.strip()
    with serving(url) as base:
        yield base, token, url


def test_the_witness_command_against_a_real_server(served: tuple[str, str, str], tmp_path: Path) -> None:
    base, token, url = served
    state = tmp_path / "witness.json"
    args = ("audit", "witness", "--api", base, "--token", token, "--state", str(state))
    result = run(*args)
    assert "pinned 1 log key(s) on first use" in result.stdout
    assert f"CONSISTENT: head at size 35 kept in {state}" in result.stdout.replace("\n", "")
    saved = json.loads(state.read_text())
    assert saved["head"]["size"] == 35

    run("init", "--db", url, "--again")  # two more entries
    result = run(*args)
    assert "consistency proof 35 -> 37: the new log extends the one you saw" in result.stdout
    evidence = state.read_text()

    store = store_of(url)
    try:
        rewrite(store, 33, 37)
    finally:
        store.close()
    result = run(*args, code=1)
    assert "HISTORY NOT CONSISTENT" in result.stdout and "history rewritten" in result.stdout
    assert state.read_text() == evidence  # the old head is kept as evidence

    # A wrong token is no evidence about the log: invalid input (2), not a break (1).
    other = tmp_path / "w2.json"
    bad = run("audit", "witness", "--api", base, "--token", "dtk_wrong", "--state", str(other), code=2)
    assert "401" in bad.stderr and "HISTORY NOT CONSISTENT" not in bad.stdout
    assert not other.exists()
