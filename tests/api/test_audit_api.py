"""The audit log over HTTP, on SQLite and on PostGIS: keys, heads, proofs, receipts, acks, party keys.

Everything is checked the way a party would check it, with the verifiers in
``detente.audit`` and nothing but what the API hands out: a head verifies
with the published key, a consistency proof links an old head to a new one,
a receipt proves its entry offline, and a party's own signature is logged
where anyone can verify it.  Need-to-know holds for the log as for the
world: an entry is shown only to its audience and the secretariat.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tests.api.world import Api, feature, intent, start_api

from detente.audit.canonical import canonical
from detente.audit.heads import TreeHead
from detente.audit.keys import PublicKey, Signer
from detente.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from detente.audit.receipts import Receipt
from detente.audit.signing import SignedStatement, sign_statement, verify_statement

OTHERS = ("red", "aid", "watch")
_lines = itertools.count()


# -- helpers ---------------------------------------------------------------------


def well_known(api: Api) -> dict[str, Any]:
    r = api.client.get("/.well-known/detente/audit-keys")
    assert r.status_code == 200, r.text
    return dict(r.json())


def log_key(api: Api) -> PublicKey:
    """The log's current signing key, as published."""
    current = [k for k in well_known(api)["keys"] if k["retired_at"] is None]
    assert len(current) == 1
    return PublicKey.from_json(current[0])


def head(api: Api, party: str = "blue", size: int | None = None) -> TreeHead:
    params = {} if size is None else {"size": size}
    r = api.client.get("/audit/head", headers=api.headers[party], params=params)
    assert r.status_code == 200, r.text
    return TreeHead.from_json(r.json())


def log_size(api: Api) -> int:
    return head(api, "secretariat").size


def entry(api: Api, index: int, party: str = "secretariat") -> dict[str, Any]:
    """The entry's JSON, parsed; checked to be the canonical text the log hashed."""
    r = api.client.get(f"/audit/entries/{index}", headers=api.headers[party])
    assert r.status_code == 200, r.text
    text = r.json()["entry"]
    parsed: dict[str, Any] = json.loads(text)
    assert canonical(parsed) == text.encode()
    assert r.json()["index"] == index
    assert r.json()["type"] == parsed["type"] and r.json()["subject"] == parsed["subject"]
    return parsed


def entry_text(api: Api, index: int) -> str:
    return str(api.client.get(f"/audit/entries/{index}", headers=api.headers["secretariat"]).json()["entry"])


def about(api: Api, party: str, subject: str) -> list[dict[str, Any]]:
    r = api.client.get("/audit/about", headers=api.headers[party], params={"subject": subject})
    assert r.status_code == 200, r.text
    return list(r.json())


def entries_since(api: Api, start: int) -> list[dict[str, Any]]:
    return [entry(api, i) for i in range(start, log_size(api))]


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def messages(r: Any) -> str:
    """Every problem message of a 422, joined (the invalid-input and invalid-request kinds alike)."""
    body = problem(r, 422)
    return " | ".join(str(e["message"]) for e in body["errors"])


def line_body(oid: str) -> dict[str, Any]:
    lon = 40.0 + next(_lines) * 0.01
    geometry = {"type": "LineString", "coordinates": [[lon, 30.0], [lon, 31.0]]}
    return {"type": "FeatureCollection", "features": [feature("line", oid, geometry, altitude_m=None, time=None)]}


def propose(api: Api, by: str, other: str) -> dict[str, Any]:
    oid = f"line-{next(_lines)}"
    r = api.client.post(
        "/agreements",
        headers=api.headers[by],
        json={"kind": "line", "title": oid, "parties": [by, other], "body": line_body(oid)},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def inbox(api: Api, party: str) -> list[dict[str, Any]]:
    r = api.client.get("/notifications", headers=api.headers[party], params={"limit": 500})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def notify(api: Api, party: str = "blue", by: str = "red") -> dict[str, Any]:
    """A new notification in ``party``'s inbox (``by`` proposes an agreement to it); the notification."""
    before = {n["id"] for n in inbox(api, party)}
    propose(api, by, party)
    new = [n for n in inbox(api, party) if n["id"] not in before]
    assert len(new) == 1, new
    return new[0]


def sent_index(api: Api, notification_id: int) -> int:
    found = about(api, "secretariat", f"notification/{notification_id}")
    sent = [e["index"] for e in found if e["type"] == "notification.sent"]
    assert len(sent) == 1, found
    return int(sent[0])


def ack(api: Api, party: str, notification_id: int, **body: Any) -> Any:
    return api.client.post(f"/notifications/{notification_id}/ack", headers=api.headers[party], json=body)


def register(api: Api, party: str, key: str | Signer, *, proof: str | None = None) -> Any:
    """POST a key: a Signer's public key with its proof of possession, or a raw (often bad) key text."""
    if isinstance(key, Signer):
        proof = proof or sign_statement(key, {"type": "party.key", "party": party, "key_id": key.key_id})
        key = b64(key)
    body = {"public_key": key, "proof": proof or base64.b64encode(bytes(64)).decode()}
    return api.client.post(f"/parties/{party}/keys", headers=api.headers[party], json=body)


def b64(signer: Signer) -> str:
    return str(signer.public.to_json()["public_key"])


def registered(api: Api, party: str) -> Signer:
    signer = Signer.generate()
    r = register(api, party, signer)
    assert r.status_code == 201, r.text
    assert r.json()["key_id"] == signer.key_id and r.json()["party"] == party
    return signer


def signature(signer: Signer, statement: dict[str, Any], key_id: str | None = None) -> dict[str, str]:
    return {"key_id": key_id or signer.key_id, "signature": sign_statement(signer, statement)}


def checks(receipt_json: dict[str, Any], api: Api) -> Receipt:
    """The receipt, checked against the published log key (and only it)."""
    receipt = Receipt.from_json(receipt_json)
    assert receipt.check(trusted=[log_key(api)]) == []
    return receipt


def logged(receipt: Receipt) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(receipt.entry)
    return parsed


# -- 1. keys, heads, consistency -------------------------------------------------------


def test_keys_are_public_and_heads_verify_and_extend(api: Api) -> None:
    published = well_known(api)  # no token
    key = log_key(api)
    assert published["log"].startswith("dtl-")
    assert api.client.get("/audit/head").status_code == 401

    old = head(api)
    assert old.log == published["log"] and old.valid(key)
    for party in ("secretariat", *OTHERS):  # heads are for every party: they show only hashes
        assert head(api, party) == old
    assert not old.valid(Signer.generate().public)

    r = api.client.post(
        "/intents",
        headers=api.headers["blue"],
        json={"intent": intent("b-1", 44.0, 30.0), "world_version": api.version()},
    )
    assert r.status_code == 201, r.text
    new = head(api, "watch")
    assert new.valid(key) and new.size > old.size and new.root != old.root
    # The old head is still served, signed, at its size.
    assert head(api, "red", size=old.size) == old

    r = api.client.get(
        "/audit/consistency", headers=api.headers["watch"], params={"first": old.size, "second": new.size}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["first"], r.json()["second"]) == (old.size, new.size)
    proof = [bytes.fromhex(p) for p in r.json()["proof"]]
    assert verify_consistency(old.size, new.size, old.root, new.root, proof)
    assert not verify_consistency(old.size, new.size, hashlib.sha256(b"rewritten").digest(), new.root, proof)
    same = api.client.get("/audit/consistency", headers=api.headers["aid"], params={"first": 3, "second": 3})
    assert same.status_code == 200 and same.json()["proof"] == []
    # Every head the log ever signed is a prefix of the current log.
    verified = 0
    for size in range(1, new.size):
        r = api.client.get("/audit/head", headers=api.headers["red"], params={"size": size})
        if r.status_code == 404:  # no head was signed at this size (a write appends several entries)
            continue
        earlier = TreeHead.from_json(r.json())
        assert earlier.size == size and earlier.valid(key)
        params = {"first": size, "second": new.size}
        r = api.client.get("/audit/consistency", headers=api.headers["red"], params=params)
        assert r.status_code == 200, r.text
        proof = [bytes.fromhex(p) for p in r.json()["proof"]]
        assert verify_consistency(size, new.size, earlier.root, new.root, proof), size
        verified += 1
    assert verified >= 3

    for first, second in ((new.size, old.size), (1, new.size + 1), (new.size + 5, new.size + 9)):
        r = api.client.get("/audit/consistency", headers=api.headers["blue"], params={"first": first, "second": second})
        assert "first <= second" in messages(r), (first, second)
    for bad in ({"first": 0, "second": 1}, {"first": 1}, {"first": -1, "second": 2}, {"first": 1, "second": "x"}):
        problem(api.client.get("/audit/consistency", headers=api.headers["blue"], params=bad), 422)
    problem(api.client.get("/audit/head", headers=api.headers["blue"], params={"size": 10**9}), 404)
    problem(api.client.get("/audit/head", headers=api.headers["blue"], params={"size": 0}), 422)
    assert log_size(api) == new.size


# -- 2. every write, with who did it ---------------------------------------------------


def test_every_write_is_logged_with_its_actor_and_state(api: Api) -> None:
    start = log_size(api)
    r = api.client.post(
        "/intents",
        headers=api.headers["blue"],
        json={"intent": intent("b-2", 44.0, 30.0), "world_version": api.version()},
    )
    assert r.status_code == 201, r.text
    filing = r.json()["filing"]
    blue = {"party": "blue", "member": api.members["blue"]}

    found = about(api, "blue", "object/intent/b-2")
    assert [e["type"] for e in found] == ["object.put"]
    put = entry(api, found[0]["index"], "blue")
    assert put["actor"] == blue and put["subject"] == "object/intent/b-2" and put["audience"] == ["blue"]
    [volume] = put["state"]["volumes"]
    assert (volume["object_id"], volume["party"], volume["kind"]) == ("b-2", "blue", "intent")
    assert (volume["altitude_lower_m"], volume["altitude_upper_m"]) == (3000, 6000)

    shown = api.client.get("/intents/b-2", headers=api.headers["blue"]).json()["filings"]
    [recorded] = [e for e in about(api, "blue", f"filing/{filing}") if e["type"] == "filing.recorded"]
    state = entry(api, recorded["index"], "blue")["state"]
    assert entry(api, recorded["index"], "blue")["actor"] == blue
    assert {k: state[k] for k in ("id", "intent_id", "action", "world_version", "checked_version")} == {
        "id": shown[0]["id"],
        "intent_id": "b-2",
        "action": shown[0]["action"],
        "world_version": shown[0]["world_version"],
        "checked_version": shown[0]["checked_version"],
    }

    # The entry is in the signed log: its inclusion proof leads to the current head's root.
    now = head(api)
    index = found[0]["index"]
    r = api.client.get(f"/audit/entries/{index}/inclusion", headers=api.headers["blue"], params={"size": now.size})
    assert r.status_code == 200, r.text
    proof = [bytes.fromhex(p) for p in r.json()["proof"]]
    assert verify_inclusion(leaf_hash(entry_text(api, index).encode()), index, now.size, proof, now.root)
    assert not verify_inclusion(leaf_hash(b"another entry"), index, now.size, proof, now.root)
    assert all(e["at"] for e in entries_since(api, start))

    # Red signs an agreement blue proposed: red's decision and the status change are red's doing.
    agreement = propose(api, "blue", "red")
    start = log_size(api)
    r = api.client.post(f"/agreements/{agreement['id']}/sign", headers=api.headers["red"], json={"version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_force"
    red = {"party": "red", "member": api.members["red"]}
    new = entries_since(api, start)
    assert new and all(e["actor"] == red for e in new)
    [decided] = [e for e in new if e["type"] == "agreement.decided"]
    assert decided["state"]["party"] == "red" and decided["state"]["decision"] == "signed"
    assert decided["state"]["agreement_id"] == agreement["id"] and decided["data"] == {}
    subject = f"agreement/{agreement['id']}/1"
    kinds = [e["type"] for e in about(api, "red", subject)]
    assert kinds[0] == "agreement.proposed" and "agreement.status" in kinds
    last = entry(api, about(api, "red", subject)[-1]["index"], "red")
    assert last["state"]["status"] == r.json()["status"] == "in_force"
    first = entry(api, about(api, "red", subject)[0]["index"], "red")
    assert first["actor"] == {"party": "blue", "member": api.members["blue"]}
    assert first["state"]["body"] == agreement["body"]
    # Aid is not a party to it and reads none of it; the watch neither (observers are not its audience).
    assert about(api, "aid", subject) == [] and about(api, "watch", subject) == []


# -- 3. need-to-know -------------------------------------------------------------------


def test_an_entry_is_shown_only_to_its_audience(api: Api) -> None:
    note = notify(api, "blue", by="red")
    subject = f"notification/{note['id']}"
    index = sent_index(api, note["id"])
    size = log_size(api)
    paths = (f"/audit/entries/{index}", f"/audit/entries/{index}/receipt", f"/audit/entries/{index}/inclusion")
    for party in ("blue", "secretariat"):
        for path in paths:
            r = api.client.get(path, headers=api.headers[party], params={"size": size})
            assert r.status_code == 200, (party, path, r.text)
        assert [e["index"] for e in about(api, party, subject)] == [index]
    beyond = api.client.get(f"/audit/entries/{size + 100}", headers=api.headers["blue"])
    for party in OTHERS:
        for path in paths:
            r = api.client.get(path, headers=api.headers[party], params={"size": size})
            body = problem(r, 404)
            # Refused exactly like an entry that does not exist: no hint that there is one.
            assert body["title"] == beyond.json()["title"] and body["type"] == beyond.json()["type"]
            assert "blue" not in r.text and "notification" not in r.text
        assert about(api, party, subject) == []
        problem(api.client.get(f"/notifications/{note['id']}/receipt", headers=api.headers[party]), 404)
        problem(api.client.get(f"/notifications/{note['id']}/ack", headers=api.headers[party]), 404)
    # Heads and consistency proofs reveal only hashes: everyone may have them.
    for party in OTHERS:
        r = api.client.get("/audit/consistency", headers=api.headers[party], params={"first": 1, "second": size})
        assert r.status_code == 200, r.text
    # What red reads about its own agreement's notification to blue: nothing; about the agreement: yes.
    assert about(api, "red", f"agreement/{note['body']['agreement']}/1")
    assert about(api, "aid", f"agreement/{note['body']['agreement']}/1") == []


# -- 4. receipts -----------------------------------------------------------------------


def test_a_notification_receipt_proves_it_was_sent_and_keeps_proving_it(api: Api) -> None:
    note = notify(api, "blue", by="red")
    r = api.client.get(f"/notifications/{note['id']}/receipt", headers=api.headers["blue"])
    assert r.status_code == 200, r.text
    kept = r.json()
    receipt = checks(kept, api)
    sent = logged(receipt)
    assert (sent["type"], sent["subject"], sent["audience"]) == (
        "notification.sent",
        f"notification/{note['id']}",
        ["blue"],
    )
    assert sent["state"]["body"] == note["body"] and sent["state"]["party"] == "blue"
    assert sent["actor"] == {"party": "red", "member": api.members["red"]}
    assert receipt.index == sent_index(api, note["id"])
    # The generic receipt of the same entry says the same.
    generic = api.client.get(f"/audit/entries/{receipt.index}/receipt", headers=api.headers["blue"]).json()
    assert generic["entry"] == kept["entry"] and checks(generic, api).index == receipt.index

    for i in range(6):  # many more writes, by others
        notify(api, "red", by="blue")
        r = api.client.post(
            "/intents",
            headers=api.headers["red"],
            json={"intent": intent(f"red-{i}", 45.0 + i, 31.0, altitude=(100, 200)), "world_version": api.version()},
        )
        assert r.status_code == 201, r.text
    later = head(api)
    assert later.size > receipt.head.size + 12
    # The kept receipt still checks: it is against the head it names, which the log still signs ...
    assert Receipt.from_json(kept).check(trusted=[log_key(api)]) == []
    assert head(api, "aid", size=receipt.head.size) == receipt.head
    # ... and that head is a prefix of today's log.
    r = api.client.get(
        "/audit/consistency", headers=api.headers["blue"], params={"first": receipt.head.size, "second": later.size}
    )
    proof = [bytes.fromhex(p) for p in r.json()["proof"]]
    assert verify_consistency(receipt.head.size, later.size, receipt.head.root, later.root, proof)
    fresh = checks(api.client.get(f"/notifications/{note['id']}/receipt", headers=api.headers["blue"]).json(), api)
    assert fresh.head == later and fresh.entry == receipt.entry

    # Checked against a key one does not trust, or altered, it proves nothing.
    stranger = Signer.generate().public
    assert any("not one of the keys you trust" in p for p in receipt.check(trusted=[stranger]))
    altered = dict(kept, entry=kept["entry"].replace('"party":"blue"', '"party":"aid"'))
    assert altered["entry"] != kept["entry"]
    assert Receipt.from_json(altered).check(trusted=[log_key(api)])
    moved = dict(kept, index=kept["index"] + 1)
    assert Receipt.from_json(moved).check(trusted=[log_key(api)])


# -- 5. acknowledgement ----------------------------------------------------------------


def test_acknowledging_a_notification_once(api: Api) -> None:
    note = notify(api, "blue", by="red")
    other = notify(api, "red", by="blue")
    r = ack(api, "blue", note["id"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["notification"], out["acked_by"], out["signed"]) == (note["id"], api.members["blue"], False)
    receipt = checks(out["receipt"], api)
    acked = logged(receipt)
    assert (acked["type"], acked["subject"]) == ("notification.acked", f"notification/{note['id']}")
    assert acked["actor"] == {"party": "blue", "member": api.members["blue"]} and acked["data"] == {}
    assert acked["state"]["acked_at"] is not None and acked["state"]["acked_by"] == api.members["blue"]
    assert acked["state"]["body"] == note["body"]

    [shown] = [n for n in inbox(api, "blue") if n["id"] == note["id"]]
    assert shown["acked_by"] == api.members["blue"] and shown["acked_at"] is not None
    assert shown["read_at"] is not None  # acknowledging reads it
    assert [e["type"] for e in about(api, "blue", f"notification/{note['id']}")] == [
        "notification.sent",
        "notification.acked",
    ]

    size = log_size(api)
    again = ack(api, "blue", note["id"])
    assert problem(again, 409)["type"] == "/problems/already-exists"
    for party, nid in (("red", note["id"]), ("secretariat", note["id"]), ("blue", other["id"]), ("blue", 10**9)):
        problem(ack(api, party, nid), 404)
    [untouched] = [n for n in inbox(api, "red") if n["id"] == other["id"]]
    assert untouched["acked_at"] is None
    assert log_size(api) == size


# -- 6. party keys and signed acknowledgements ------------------------------------------


def test_party_keys_and_signed_acknowledgements(api: Api) -> None:
    notes = [notify(api, "blue", by="red") for _ in range(3)]
    signer = Signer.generate()
    size = log_size(api)
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    for bad, said in (
        ("not base64 at all!", "not base64"),
        (base64.b64encode(bytes(31)).decode(), "32 bytes"),
        (base64.b64encode(bytes(64)).decode(), "32 bytes"),
        (signer.to_pem().decode(), "PRIVATE key"),
        (ec_pem, "not an Ed25519 key"),
        ("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----", "not a readable PEM"),
        ("   ", "empty"),
    ):
        assert said in messages(register(api, "blue", bad)), bad
    assert log_size(api) == size

    r = register(api, "blue", signer)
    assert r.status_code == 201, r.text
    assert r.json()["key_id"] == signer.key_id
    # The same key again, in either form, is refused.
    problem(register(api, "blue", signer), 409)
    problem(register(api, "blue", signer.public.to_pem().decode()), 409)
    # A party manages only its own keys.
    r = api.client.post(
        "/parties/red/keys", headers=api.headers["blue"], json={"public_key": b64(Signer.generate()), "proof": "AAAA"}
    )
    problem(r, 403)
    problem(api.client.delete(f"/parties/blue/keys/{signer.key_id}", headers=api.headers["red"]), 403)
    # Anyone may read a party's keys, and the registration is in the log for everyone.
    listed = api.client.get("/parties/blue/keys", headers=api.headers["aid"]).json()
    assert [(k["key_id"], k["public_key"], k["revoked_at"]) for k in listed] == [(signer.key_id, b64(signer), None)]
    [reg] = about(api, "watch", f"party-key/{signer.key_id}")
    logged_key = entry(api, reg["index"], "watch")
    assert logged_key["data"]["key"] == signer.public.to_json() and logged_key["data"]["party"] == "blue"
    assert logged_key["actor"] == {"party": "blue", "member": api.members["blue"]}

    # From now on blue's acknowledgements must be signed; the refusal says what to sign.
    first = notes[0]["id"]
    terms = api.client.get(f"/notifications/{first}/ack", headers=api.headers["blue"])
    assert terms.status_code == 200, terms.text
    statement = terms.json()["statement"]
    sent_text = entry_text(api, sent_index(api, first))
    assert statement == {
        "type": "ack",
        "party": "blue",
        "notification": first,
        "entry": leaf_hash(sent_text.encode()).hex(),
    }
    assert checks(terms.json()["receipt"], api).entry == sent_text.encode()
    size = log_size(api)
    unsigned = messages(ack(api, "blue", first))
    assert "must be signed" in unsigned and canonical(statement).decode() in unsigned

    stranger = Signer.generate()
    other_statement = dict(statement, notification=notes[1]["id"])
    for wrong, said in (
        (signature(stranger, statement, key_id=signer.key_id), "does not verify"),
        (signature(stranger, statement), "is not an active key of party blue"),
        (signature(signer, other_statement), "does not verify"),
        (signature(signer, dict(statement, party="red")), "does not verify"),
        ({"key_id": signer.key_id, "signature": base64.b64encode(bytes(64)).decode()}, "does not verify"),
    ):
        assert said in messages(ack(api, "blue", first, signature=wrong)), wrong
    assert log_size(api) == size
    assert all(n["acked_at"] is None for n in inbox(api, "blue"))

    sig = signature(signer, statement)
    r = ack(api, "blue", first, signature=sig)
    assert r.status_code == 200, r.text
    assert r.json()["signed"] is True
    acked = logged(checks(r.json()["receipt"], api))
    block = acked["data"]["signature"]
    assert block == {"party": "blue", "key_id": signer.key_id, "statement": statement, "signature": sig["signature"]}
    # Anyone verifies it with the key the party published, without trusting the server.
    published = PublicKey.from_json({"alg": "Ed25519", **{k: listed[0][k] for k in ("key_id", "public_key")}})
    assert verify_statement(published, block["statement"], block["signature"])
    assert SignedStatement.from_block(block).problem(published) is None
    assert SignedStatement.from_block(dict(block, statement=other_statement)).problem(published) is not None

    # Revoked, the key signs nothing more, and blue's acknowledgements need no signature again.
    second, third = notes[1]["id"], notes[2]["id"]
    r = api.client.delete(f"/parties/blue/keys/{signer.key_id}", headers=api.headers["blue"])
    assert r.status_code == 204, r.text
    [key] = api.client.get("/parties/blue/keys", headers=api.headers["red"]).json()
    assert key["revoked_at"] is not None
    problem(api.client.delete(f"/parties/blue/keys/{signer.key_id}", headers=api.headers["blue"]), 404)
    assert [e["type"] for e in about(api, "red", f"party-key/{signer.key_id}")] == [
        "party.key.registered",
        "party.key.revoked",
    ]
    statement2 = api.client.get(f"/notifications/{second}/ack", headers=api.headers["blue"]).json()["statement"]
    refused = messages(ack(api, "blue", second, signature=signature(signer, statement2)))
    assert "is not an active key" in refused
    r = ack(api, "blue", second)
    assert r.status_code == 200, r.text
    assert r.json()["signed"] is False and logged(checks(r.json()["receipt"], api))["data"] == {}
    # A revoked key cannot be registered again (its id is taken), a new one can.
    problem(register(api, "blue", signer), 409)
    newer = registered(api, "blue")
    statement3 = api.client.get(f"/notifications/{third}/ack", headers=api.headers["blue"]).json()["statement"]
    assert "must be signed" in messages(ack(api, "blue", third))
    assert ack(api, "blue", third, signature=signature(newer, statement3)).status_code == 200
    # At most five active keys; a revoked one does not count.
    more = [registered(api, "blue") for _ in range(4)]
    assert "at most 5 active keys" in messages(register(api, "blue", Signer.generate()))
    assert api.client.delete(f"/parties/blue/keys/{more[0].key_id}", headers=api.headers["blue"]).status_code == 204
    registered(api, "blue")


# -- 7. agreement signatures with a key -------------------------------------------------


def terms_digest(agreement: dict[str, Any]) -> str:
    terms = {k: agreement[k] for k in ("id", "version", "kind", "title", "proposer", "parties", "body")}
    return hashlib.sha256(canonical(terms)).hexdigest()


def test_a_party_with_a_key_signs_agreements_with_it(api: Api) -> None:
    signer = registered(api, "red")
    # Red's key is red's: blue can neither register it as its own nor revoke it.
    size = log_size(api)
    assert "already registered" in problem(register(api, "blue", signer), 409)["detail"]
    problem(api.client.delete(f"/parties/blue/keys/{signer.key_id}", headers=api.headers["blue"]), 404)
    assert api.client.get("/parties/blue/keys", headers=api.headers["blue"]).json() == []
    [key] = api.client.get("/parties/red/keys", headers=api.headers["blue"]).json()
    assert key["key_id"] == signer.key_id and key["revoked_at"] is None
    assert log_size(api) == size
    agreement = propose(api, "blue", "red")
    aid = agreement["id"]
    assert agreement["digest"] == terms_digest(agreement)
    assert agreement["signed"] == ["blue"] and agreement["unsigned"] == ["red"]
    statement = {
        "type": "agreement.sign",
        "party": "red",
        "agreement": aid,
        "version": 1,
        "digest": agreement["digest"],
    }

    def sign(**extra: Any) -> Any:
        return api.client.post(f"/agreements/{aid}/sign", headers=api.headers["red"], json={"version": 1, **extra})

    size = log_size(api)
    said = messages(sign())
    assert "must be signed" in said and canonical(statement).decode() in said
    wrong = dict(statement, digest=hashlib.sha256(b"other terms").hexdigest())
    assert "does not verify" in messages(sign(signature=signature(signer, wrong)))
    assert "does not verify" in messages(sign(signature=signature(signer, dict(statement, version=2))))
    assert "does not verify" in messages(sign(signature=signature(Signer.generate(), statement, signer.key_id)))
    assert log_size(api) == size
    assert api.client.get(f"/agreements/{aid}", headers=api.headers["red"]).json()["status"] == "proposed"

    start = log_size(api)
    r = sign(signature=signature(signer, statement))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_force" and r.json()["unsigned"] == []
    [decided] = [e for e in entries_since(api, start) if e["type"] == "agreement.decided"]
    block = decided["data"]["signature"]
    assert block["statement"] == statement and block["key_id"] == signer.key_id
    assert verify_statement(signer.public, block["statement"], block["signature"])

    # A proposer with a key is not counted as signed by proposing: it signs explicitly, like anyone.
    proposal = propose(api, "red", "blue")
    assert proposal["signed"] == [] and sorted(proposal["unsigned"]) == ["blue", "red"]
    pid = proposal["id"]
    r = api.client.post(f"/agreements/{pid}/sign", headers=api.headers["blue"], json={"version": 1})
    assert r.status_code == 200 and r.json()["status"] == "proposed", r.text
    own = {"type": "agreement.sign", "party": "red", "agreement": pid, "version": 1, "digest": proposal["digest"]}
    r = api.client.post(f"/agreements/{pid}/sign", headers=api.headers["red"], json={"version": 1})
    assert "must be signed" in messages(r)
    r = api.client.post(
        f"/agreements/{pid}/sign", headers=api.headers["red"], json={"version": 1, "signature": signature(signer, own)}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_force"


# -- 8. hostile input ------------------------------------------------------------------


def test_hostile_input_is_refused_cleanly_and_stores_nothing(api: Api) -> None:
    note = notify(api, "blue", by="red")
    signer = registered(api, "blue")
    nid = note["id"]
    size = log_size(api)
    statement = api.client.get(f"/notifications/{nid}/ack", headers=api.headers["blue"]).json()["statement"]

    for sig in (
        {"key_id": signer.key_id, "signature": "A" * 100_000},
        {"key_id": "k" * 101, "signature": "AAAA"},
        {"key_id": "", "signature": "AAAA"},
        {"key_id": signer.key_id, "signature": ""},
        {"key_id": signer.key_id, "signature": 12345},
        {"key_id": signer.key_id, "signature": None},
        {"key_id": signer.key_id},
        {**signature(signer, statement), "extra": "field"},
        "a string",
        [1, 2, 3],
    ):
        problem(ack(api, "blue", nid, signature=sig), 422)
    problem(ack(api, "blue", nid, signature=signature(signer, statement), note="extra"), 422)
    for sig in (
        {"key_id": signer.key_id, "signature": "!!!! not base64 ????"},
        {"key_id": signer.key_id, "signature": "\u00e9\u00e9\u00e9\u00e9"},
        {"key_id": signer.key_id, "signature": base64.b64encode(b"x" * 140).decode()},
        {"key_id": "ed25519:" + "0" * 32, "signature": signature(signer, statement)["signature"]},
        {"key_id": "'; DROP TABLE audit_entries; --", "signature": "AAAA"},
        {"key_id": "k\u0000ey", "signature": "AAAA"},
    ):
        assert "signature" in [e["rule"] for e in problem(ack(api, "blue", nid, signature=sig), 422)["errors"]]
    r = api.client.post(
        f"/notifications/{nid}/ack",
        headers={**api.headers["blue"], "content-type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code in (400, 422), r.text
    for bad in ("\x00", "A" * 1001, "-----BEGIN PUBLIC KEY-----\n\x00\n-----END PUBLIC KEY-----", "\u00e9" * 40):
        assert register(api, "blue", bad).status_code == 422, bad
    for path in (
        "/audit/entries/-1",
        f"/audit/entries/{2**63}",
        f"/audit/entries/{10**30}",
        "/audit/entries/abc",
        "/audit/entries/1.5",
        "/audit/entries/0/inclusion?size=0",
        "/audit/entries/0/inclusion?size=-3",
        "/audit/entries/0/inclusion",
        "/notifications/-1/receipt",
        "/notifications/-1/ack",
        f"/notifications/{2**64}/receipt",
        "/audit/about?subject=",
        f"/audit/about?subject={'x' * 301}",
        "/audit/about",
        "/audit/head?size=-1",
    ):
        problem(api.client.get(path, headers=api.headers["blue"]), 422)
    for path in (
        f"/audit/entries/{size + 1000}",
        f"/audit/entries/{2**63 - 1}",
        f"/audit/entries/{2**63 - 1}/receipt",
        f"/audit/entries/{2**63 - 1}/inclusion?size=1",
        f"/notifications/{2**63 - 1}/receipt",
        f"/notifications/{2**63 - 1}/ack",
        "/parties/nobody/keys",
        f"/audit/head?size={2**63 - 1}",
    ):
        problem(api.client.get(path, headers=api.headers["blue"]), 404)
    index = sent_index(api, nid)
    for params in ({"size": index}, {"size": size + 1000}):  # the entry is not in a tree of that size
        problem(api.client.get(f"/audit/entries/{index}/inclusion", headers=api.headers["blue"], params=params), 422)
    for subject in (
        "notification/1' OR '1'='1",
        "notification/%",
        "notification/_",
        "../../etc/passwd",
        "notification/\u0661",
        "\u202enotification/1",
        "a" * 300,
    ):
        r = api.client.get("/audit/about", headers=api.headers["blue"], params={"subject": subject})
        assert r.status_code in (200, 422), (subject, r.text)
        assert r.json() == [] if r.status_code == 200 else problem(r, 422)
    for key_id in ("nope", "ed25519:" + "f" * 32, "%25", "x" * 100):
        problem(api.client.delete(f"/parties/blue/keys/{key_id}", headers=api.headers["blue"]), 404)
    problem(api.client.delete(f"/parties/blue/keys/{'x' * 101}", headers=api.headers["blue"]), 422)
    problem(api.client.post("/parties/blue/keys", headers=api.headers["blue"], json={"public_key": 5}), 422)
    problem(api.client.post("/parties/blue/keys", headers=api.headers["blue"], json={}), 422)
    problem(api.client.get("/audit/entries/0"), 401)
    assert log_size(api) == size
    assert [n["acked_at"] for n in inbox(api, "blue") if n["id"] == nid] == [None]
    # And the log is still whole: the refused requests left a head that extends the old ones.
    assert head(api).valid(log_key(api))


@pytest.mark.parametrize("party", ["aid", "watch"])
def test_parties_without_notifications_get_clean_404s(sqlite_api: Api, party: str) -> None:
    api = sqlite_api
    problem(api.client.get("/notifications/1/receipt", headers=api.headers[party]), 404)
    problem(ack(api, party, 1), 404)
    assert about(api, party, "notification/1") == []


@pytest.fixture
def pg_api(pg_url: str) -> Iterator[Api]:
    """The API on PostGIS only (SQLite stores a NUL character like any other)."""
    yield from start_api(pg_url)


@pytest.mark.postgis
def test_nul_characters_are_refused_cleanly_on_postgis(pg_api: Api) -> None:
    api = pg_api
    size = log_size(api)
    r = api.client.get("/audit/about", headers=api.headers["blue"], params={"subject": "object/intent/b\x00x"})
    assert r.status_code in (200, 422), r.text
    assert r.status_code == 422 or r.json() == []
    assert api.client.delete("/parties/blue/keys/a%00b", headers=api.headers["blue"]).status_code in (404, 422)
    assert api.client.get("/parties/a%00b/keys", headers=api.headers["blue"]).status_code in (404, 422)
    assert api.client.get("/agreements/a%00b", headers=api.headers["blue"]).status_code in (404, 422)
    assert log_size(api) == size


def test_a_key_is_registered_only_with_proof_that_the_party_holds_it(api: Api) -> None:
    """Without proof of possession a party could claim another's published key and lock the owner out."""
    size = log_size(api)
    reds = Signer.generate()
    # blue cannot sign for red's key: a proof made with another key, or red's proof for red, is refused
    forged = sign_statement(Signer.generate(), {"type": "party.key", "party": "blue", "key_id": reds.key_id})
    assert "to show your party holds it" in messages(register(api, "blue", b64(reds), proof=forged))
    reds_own = sign_statement(reds, {"type": "party.key", "party": "red", "key_id": reds.key_id})
    assert "to show your party holds it" in messages(register(api, "blue", b64(reds), proof=reds_own))
    assert log_size(api) == size
    # red, holding the key, registers it
    assert register(api, "red", reds).status_code == 201
