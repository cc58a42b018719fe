"""The audit log as the parties use it: receipts, proofs, keys, signed acknowledgements.

The log itself is written by the storage layer in every write transaction;
this module decides who may read what of it.  Tree heads, consistency
proofs and the log's public keys reveal only hashes, so every party may
have them (a witness needs them to notice a rewritten history).  An entry,
its receipt and its inclusion proof are shown only to the parties the
entry concerns (its audience) and to the secretariat: need-to-know holds
for the log as for the world.

A party that registered its own Ed25519 key must sign its acknowledgements
and agreement signatures with it; the server checks the signature and logs
it with the entry, so the party cannot later deny the statement and the
server cannot make one up.
"""

from __future__ import annotations

import hashlib
from typing import Any

from detente.audit import EVERYONE
from detente.audit.canonical import canonical
from detente.audit.heads import TreeHead
from detente.audit.keys import PublicKey
from detente.audit.merkle import leaf_hash
from detente.audit.receipts import Receipt
from detente.audit.signing import signature_block, verify_statement
from detente.domain.accounts import Caller
from detente.domain.agreements import Agreement
from detente.domain.errors import AlreadyExists, InvalidInput, NotFound, Problem
from detente.domain.model import Role
from detente.services.context import Mechanism
from detente.services.ports import Tx

MAX_PARTY_KEYS = 5


def may_read(caller: Caller, audience: list[str]) -> bool:
    """Whether the caller may read an entry addressed to ``audience``."""
    return caller.role is Role.SECRETARIAT or EVERYONE in audience or caller.party in audience


# -- heads, proofs, entries ----------------------------------------------------


def head(m: Mechanism, size: int | None = None) -> TreeHead:
    with m.store.read() as tx:
        found = tx.audit_head(size)
    if found is None:
        raise NotFound("no signed tree head yet" if size is None else f"no tree head was signed at size {size}")
    return found


def consistency(m: Mechanism, old: int, new: int) -> dict[str, Any]:
    """Proof that the log at ``old`` entries is a prefix of the log at ``new`` (both signed sizes)."""
    with m.store.read() as tx:
        size = tx.audit_size()
        if not 0 < old <= new <= size:
            raise InvalidInput([Problem("size", f"need 0 < first <= second <= {size} (the log's size)")])
        proof = tx.audit_consistency(old, new)
    return {"first": old, "second": new, "proof": [h.hex() for h in proof]}


def entry(m: Mechanism, caller: Caller, index: int) -> dict[str, Any]:
    with m.store.read() as tx:
        found = tx.audit_entry(index)
    if found is None or not may_read(caller, found["audience"]):
        raise NotFound(f"no audit entry {index} you may read")
    return found


def receipt(m: Mechanism, caller: Caller, index: int) -> Receipt:
    """The receipt of an entry the caller may read, against the latest signed head."""
    with m.store.read() as tx:
        found = tx.audit_entry(index)
        if found is None or not may_read(caller, found["audience"]):
            raise NotFound(f"no audit entry {index} you may read")
        return tx.audit_receipt(index)


def inclusion(m: Mechanism, caller: Caller, index: int, size: int) -> dict[str, Any]:
    with m.store.read() as tx:
        found = tx.audit_entry(index)
        if found is None or not may_read(caller, found["audience"]):
            raise NotFound(f"no audit entry {index} you may read")
        logged = tx.audit_size()
        if not index < size <= logged:
            raise InvalidInput([Problem("size", f"need {index} < size <= {logged}")])
        proof = tx.audit_inclusion(index, size)
    return {"index": index, "size": size, "proof": [h.hex() for h in proof]}


def about(m: Mechanism, caller: Caller, subject: str) -> list[dict[str, Any]]:
    """The entries about one record (``notification/5``) that the caller may read, oldest first."""
    with m.store.read() as tx:
        return [e for e in tx.audit_about(subject) if may_read(caller, e["audience"])]


def log_id(m: Mechanism) -> str:
    with m.store.read() as tx:
        return tx.audit_log_id()


def keys(m: Mechanism) -> list[dict[str, Any]]:
    """The log's signing keys, old and current (public: published at the well-known address)."""
    with m.store.read() as tx:
        return tx.audit_keys()


def receipt_at(m: Mechanism, index: int) -> Receipt:
    """The receipt of entry ``index`` (no access check: for a use case handing a party its own)."""
    with m.store.read() as tx:
        return tx.audit_receipt(index)


# -- parties' own keys ---------------------------------------------------------


def key_statement(party: str, key_id: str) -> dict[str, Any]:
    """What a party signs with a new key to show it holds the private half (proof of possession)."""
    return {"type": "party.key", "party": party, "key_id": key_id}


def register_key(m: Mechanism, caller: Caller, public_key: str, proof: str) -> dict[str, Any]:
    """Register an Ed25519 public key of the caller's party (base64 of 32 bytes, or PEM).

    ``proof`` is the key's signature over :func:`key_statement`: without it
    a party could register another party's published key as its own and
    keep the owner from registering it.
    """
    try:
        key = PublicKey.parse(public_key)
    except ValueError as exc:
        raise InvalidInput([Problem("public_key", str(exc))]) from None
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        if any(k["key_id"] == key.key_id for p in tx.parties() for k in tx.party_keys(p)):
            raise AlreadyExists(f"key {key.key_id} is already registered")
        statement = key_statement(caller.party, key.key_id)
        if not verify_statement(key, statement, proof):
            raise InvalidInput(
                [
                    Problem(
                        "proof",
                        "sign the RFC 8785 JSON of "
                        f"{canonical(statement).decode()} with the private key, to show your party holds it",
                    )
                ]
            )
        if sum(1 for k in tx.party_keys(caller.party) if k["revoked_at"] is None) >= MAX_PARTY_KEYS:
            raise InvalidInput([Problem("public_key", f"a party has at most {MAX_PARTY_KEYS} active keys")])
        tx.add_party_key(key_id=key.key_id, party=caller.party, public_key=str(key.to_json()["public_key"]), now=now)
    return {"key_id": key.key_id, "party": caller.party, "registered_at": now}


def revoke_key(m: Mechanism, caller: Caller, key_id: str) -> None:
    with m.store.write(world=False, by=caller) as tx:
        if not tx.revoke_party_key(caller.party, key_id, m.clock.now()):
            raise NotFound(f"no active key {key_id} of party {caller.party}")


def party_keys(m: Mechanism, party: str) -> list[dict[str, Any]]:
    with m.store.read() as tx:
        if tx.party(party) is None:
            raise NotFound(f"no party {party}")
        return tx.party_keys(party)


def active_keys(tx: Tx, party: str) -> dict[str, PublicKey]:
    return {
        k["key_id"]: PublicKey.from_json({"key_id": k["key_id"], "alg": "Ed25519", "public_key": k["public_key"]})
        for k in tx.party_keys(party)
        if k["revoked_at"] is None
    }


def signed(
    tx: Tx, caller: Caller, statement: dict[str, Any], signature: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The signature block to log with the caller's statement, checked; None when its party has no key.

    ``signature`` is ``{"key_id": ..., "signature": base64}`` over the RFC 8785
    canonical JSON of ``statement``.  A party with a registered key must sign.
    """
    party_keys = active_keys(tx, caller.party)
    if signature is None:
        if party_keys:
            raise InvalidInput(
                [
                    Problem(
                        "signature",
                        f"party {caller.party} has registered a signing key, so this statement must be signed: "
                        f"sign the RFC 8785 canonical JSON of the statement {canonical(statement).decode()}",
                    )
                ]
            )
        return None
    key_id, value = signature.get("key_id"), signature.get("signature")
    if not isinstance(key_id, str) or not isinstance(value, str):
        raise InvalidInput([Problem("signature", "give key_id and signature (base64) as strings")])
    key = party_keys.get(key_id)
    if key is None:
        raise InvalidInput([Problem("signature", f"{key_id} is not an active key of party {caller.party}")])
    if not verify_statement(key, statement, value):
        raise InvalidInput(
            [
                Problem(
                    "signature",
                    f"the signature does not verify with key {key_id} over the statement "
                    f"{canonical(statement).decode()}",
                )
            ]
        )
    return signature_block(caller.party, key_id, statement, value)


# -- acknowledgements ----------------------------------------------------------


def ack_statement(party: str, notification_id: int, entry_leaf: str) -> dict[str, Any]:
    """What a party states when it acknowledges a notification: that one, as logged (its leaf hash)."""
    return {"type": "ack", "party": party, "notification": notification_id, "entry": entry_leaf}


def ack(m: Mechanism, caller: Caller, notification_id: int, signature: dict[str, Any] | None = None) -> dict[str, Any]:
    """Acknowledge a notification formally; returns the acknowledgement and its receipt.

    An acknowledgement is done once: a second one is refused (409), so the
    time first acknowledged can never be moved.
    """
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        note = tx.notification(caller.party, notification_id)
        if note is None:
            raise NotFound(f"no notification {notification_id} in your inbox")
        statement = ack_statement(caller.party, notification_id, _sent_leaf(tx, notification_id))
        block = signed(tx, caller, statement, signature)
        if not tx.ack(caller.party, notification_id, caller.member, block, now):
            raise AlreadyExists(f"notification {notification_id} was already acknowledged at {note['acked_at']}")
    index = tx.logged_index(f"notification/{notification_id}", "notification.acked")
    return {
        "notification": notification_id,
        "acked_at": now,
        "acked_by": caller.member,
        "signed": block is not None,
        "receipt": receipt_at(m, index).to_json(),
    }


def ack_terms(m: Mechanism, caller: Caller, notification_id: int) -> dict[str, Any]:
    """The statement a party signs to acknowledge a notification, and the notification's receipt."""
    with m.store.read() as tx:
        if tx.notification(caller.party, notification_id) is None:
            raise NotFound(f"no notification {notification_id} in your inbox")
        sent = tx.audit_receipt(_sent(tx, notification_id))
    statement = ack_statement(caller.party, notification_id, leaf_hash(sent.entry).hex())
    return {"statement": statement, "receipt": sent.to_json()}


def notification_receipt(m: Mechanism, caller: Caller, notification_id: int) -> Receipt:
    """Proof that the notification was logged as sent to the caller's party, and when."""
    with m.store.read() as tx:
        if tx.notification(caller.party, notification_id) is None:
            raise NotFound(f"no notification {notification_id} in your inbox")
        return tx.audit_receipt(_sent(tx, notification_id))


def sent_index(tx: Tx, notification_id: int) -> int | None:
    """The index of the entry that logged the notification as sent (None: it has none)."""
    found = tx.audit_about(f"notification/{notification_id}", "notification.sent")
    return int(found[0]["index"]) if found else None


def _sent(tx: Tx, notification_id: int) -> int:
    index = sent_index(tx, notification_id)
    if index is None:
        raise NotFound(f"notification {notification_id} has no entry in the audit log")
    return index


def _sent_leaf(tx: Tx, notification_id: int) -> str:
    found = tx.audit_entry(_sent(tx, notification_id))
    assert found is not None
    return leaf_hash(str(found["entry"]).encode()).hex()


# -- agreement decisions -------------------------------------------------------


def agreement_digest(agreement: Agreement) -> str:
    """SHA-256 of the agreed terms (RFC 8785 JSON): what a party's signature binds it to."""
    terms = {
        "id": agreement.id,
        "version": agreement.version,
        "kind": agreement.kind.value,
        "title": agreement.title,
        "proposer": agreement.proposer,
        "parties": list(agreement.parties),
        "body": agreement.body,
    }
    return hashlib.sha256(canonical(terms)).hexdigest()


def decision_statement(party: str, agreement: Agreement, decision: str) -> dict[str, Any]:
    return {
        "type": f"agreement.{decision}",
        "party": party,
        "agreement": agreement.id,
        "version": agreement.version,
        "digest": agreement_digest(agreement),
    }
