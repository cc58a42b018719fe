"""Receipts: a party's standalone proof that an entry is in the log, and every way one can be forged."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detente.audit.canonical import canonical
from detente.audit.heads import TreeHead, format_time, parse_time, sign_head
from detente.audit.keys import PublicKey, Signer
from detente.audit.merkle import Appender, Node, leaf_hash
from detente.audit.receipts import Receipt

LOG = "log-test"
T0 = datetime(2026, 11, 24, 21, 48, 50, 123456, tzinfo=UTC)


def entry(i: int) -> bytes:
    """A realistic canonical log entry."""
    return canonical(
        {
            "v": 1,
            "at": format_time(T0 + timedelta(seconds=i)),
            "type": "notification.sent",
            "subject": f"notification/{i}",
            "actor": {"party": "red", "member": "alice"},
            "audience": ["blue", "red"],
            "state": None,
            "data": {"n": i},
        }
    )


@dataclass
class SmallLog:
    signer: Signer
    entries: list[bytes]
    nodes: dict[Node, bytes]
    head: TreeHead

    def receipt(self, index: int) -> Receipt:
        return Receipt.build(self.entries[index], index, self.head, self.nodes, self.signer.public)


@pytest.fixture
def log() -> SmallLog:
    signer = Signer.generate()
    entries = [entry(i) for i in range(11)]
    tree = Appender()
    nodes: dict[Node, bytes] = {}
    for e in entries:
        for level, index, h in tree.append(leaf_hash(e)):
            nodes[(level, index)] = h
    head = sign_head(signer, LOG, tree.size, tree.root(), T0 + timedelta(minutes=1))
    return SmallLog(signer, entries, nodes, head)


def problems_mention(problems: list[str], *words: str) -> bool:
    return any(all(w in p for w in words) for p in problems)


# ---- a good receipt


def test_every_entry_has_a_valid_receipt(log: SmallLog) -> None:
    for index in range(len(log.entries)):
        receipt = log.receipt(index)
        assert receipt.check() == []
        assert receipt.check(trusted=[log.signer.public]) == []


def test_receipt_survives_json(log: SmallLog) -> None:
    receipt = log.receipt(5)
    as_text = json.dumps(receipt.to_json())
    again = Receipt.from_json(json.loads(as_text))
    assert again.check(trusted=[log.signer.public]) == []
    assert again.entry == receipt.entry and again.proof == receipt.proof and again.head == receipt.head
    assert json.loads(as_text)["format"] == "detente-receipt/1"
    assert json.loads(as_text)["entry"] == log.entries[5].decode()


def test_summary_tells_a_person_what_and_where(log: SmallLog) -> None:
    summary = log.receipt(5).summary()
    assert "notification.sent notification/5" in summary
    assert "entry 5 of 11" in summary
    assert log.signer.key_id in summary


# ---- each forgery is named


def test_changed_entry_text(log: SmallLog) -> None:
    receipt = replace(log.receipt(5), entry=entry(6))
    problems = receipt.check()
    assert problems_mention(problems, "leaf hash does not match the entry")
    assert problems_mention(problems, "inclusion proof")


def test_changed_entry_text_with_a_matching_leaf(log: SmallLog) -> None:
    receipt = replace(log.receipt(5), entry=entry(6), leaf=leaf_hash(entry(6)))
    assert problems_mention(receipt.check(), "not at index 5")


def test_entry_text_that_is_not_canonical(log: SmallLog) -> None:
    spaced = json.dumps(json.loads(log.entries[5]), indent=1).encode()
    receipt = replace(log.receipt(5), entry=spaced, leaf=None)
    assert problems_mention(receipt.check(), "not canonical")


def test_changed_index(log: SmallLog) -> None:
    assert problems_mention(replace(log.receipt(5), index=4).check(), "not at index 4")
    assert problems_mention(replace(log.receipt(5), index=11).check(), "outside the head's tree of 11")


def test_changed_proof_element(log: SmallLog) -> None:
    receipt = log.receipt(5)
    proof = list(receipt.proof)
    proof[1] = bytes(32)
    assert problems_mention(replace(receipt, proof=proof).check(), "inclusion proof")
    assert problems_mention(replace(receipt, proof=receipt.proof[:-1]).check(), "inclusion proof")


def test_changed_head_root(log: SmallLog) -> None:
    receipt = log.receipt(5)
    forged = replace(receipt.head, root=bytes(32))
    problems = replace(receipt, head=forged).check()
    assert problems_mention(problems, "signature does not verify")
    assert problems_mention(problems, "inclusion proof")


def test_changed_head_size(log: SmallLog) -> None:
    receipt = log.receipt(5)
    problems = replace(receipt, head=replace(receipt.head, size=12)).check()
    assert problems_mention(problems, "signature does not verify")


def test_changed_head_signature(log: SmallLog) -> None:
    receipt = log.receipt(5)
    bad = bytes([receipt.head.signature[0] ^ 1]) + receipt.head.signature[1:]
    assert problems_mention(replace(receipt, head=replace(receipt.head, signature=bad)).check(), "signature")


def test_a_key_you_do_not_trust(log: SmallLog) -> None:
    stranger = Signer.generate().public
    assert problems_mention(log.receipt(5).check(trusted=[stranger]), "not one of the keys you trust")


def test_head_re_signed_by_another_key(log: SmallLog) -> None:
    impostor = Signer.generate()
    receipt = log.receipt(5)
    head = sign_head(impostor, LOG, receipt.head.size, receipt.head.root, receipt.head.at)
    # Carrying the impostor's key, the receipt is self-consistent: only trust tells it apart.
    selfmade = replace(receipt, head=head, key=impostor.public)
    assert selfmade.check() == []
    assert problems_mention(selfmade.check(trusted=[log.signer.public]), "not one of the keys you trust")
    # Carrying the real key, the mismatch is named.
    assert problems_mention(replace(receipt, head=head).check(), "but the receipt carries key")


# ---- malformed receipts are refused with a reason


def good_json(log: SmallLog) -> dict[str, Any]:
    return log.receipt(5).to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something/2"}, "format must be 'detente-receipt/1'"),
        ({"index": -1}, "index must be a non-negative integer"),
        ({"index": True}, "index must be a non-negative integer"),
        ({"leaf": "zz"}, "leaf must be 64 lowercase hex"),
        ({"proof": "abc"}, "proof must be a list"),
        ({"proof": ["00"]}, "proof element 0 must be 64 lowercase hex"),
        ({"entry": {"v": 1}}, "entry must be the entry's canonical JSON text"),
        ({"key": {"key_id": "x", "alg": "Ed25519", "public_key": "AAAA"}}, "public key"),
    ],
)
def test_malformed_receipts(log: SmallLog, change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Receipt.from_json({**good_json(log), **change})


def test_malformed_head_in_a_receipt(log: SmallLog) -> None:
    obj = good_json(log)
    with pytest.raises(ValueError, match="tree head: missing field 'root'"):
        Receipt.from_json({**obj, "head": {k: v for k, v in obj["head"].items() if k != "root"}})
    with pytest.raises(ValueError, match="no UTC offset"):
        Receipt.from_json({**obj, "head": {**obj["head"], "at": "2026-11-24T21:48:50.123456"}})
    with pytest.raises(ValueError, match="missing field 'proof'"):
        Receipt.from_json({k: v for k, v in obj.items() if k != "proof"})


# ---- the time format heads and entries share


def test_time_format_round_trip_and_refusals() -> None:
    assert format_time(T0) == "2026-11-24T21:48:50.123456Z"
    assert parse_time("2026-11-24T21:48:50.123456Z") == T0
    assert parse_time("2026-11-24T23:48:50.123456+02:00") == T0
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 11, 24))
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time("2026-11-24T21:48:50")
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_time("yesterday")


def test_head_json_round_trip_and_validity(log: SmallLog) -> None:
    again = TreeHead.from_json(json.loads(json.dumps(log.head.to_json())))
    assert again == log.head
    assert again.valid(log.signer.public)
    assert not again.valid(Signer.generate().public)
    assert not replace(again, log="other-log").valid(log.signer.public)
    with pytest.raises(ValueError, match="naive"):
        replace(again, at=datetime(2026, 11, 24))


def test_public_key_equality_is_what_trust_compares() -> None:
    signer = Signer.generate()
    assert PublicKey.from_json(signer.public.to_json()) in [signer.public]
