"""Party signatures: a party's own key vouching for a statement it made.

The log proves what the *server* recorded; a party signature proves what the
*party* said (an acknowledgement, a decision on an agreement), so the server
cannot put words in a party's mouth. The statement is signed as canonical
JSON (RFC 8785), so the party can sign with any Ed25519 tool after
canonicalising the statement itself.

A signed statement is logged as ``data["signature"]`` of an entry::

    {"party": p, "key_id": k, "statement": {..., "party": p, ...}, "signature": base64}

``statement["party"]`` must equal ``p``: a statement names who makes it,
so a signature by party A cannot be passed off as party B's statement.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detente.audit.canonical import canonical
from detente.audit.keys import PublicKey, Signer


def sign_statement(signer: Signer, statement: Mapping[str, Any]) -> str:
    """The base64 Ed25519 signature of ``canonical(statement)``."""
    return base64.b64encode(signer.sign(canonical(dict(statement)))).decode("ascii")


def verify_statement(key: PublicKey, statement: Mapping[str, Any], signature_b64: str) -> bool:
    """Whether ``signature_b64`` is ``key``'s signature over ``canonical(statement)``; never raises."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        message = canonical(dict(statement))
    except (binascii.Error, ValueError, TypeError):
        return False
    return key.verify(signature, message)


def signature_block(party: str, key_id: str, statement: Mapping[str, Any], signature_b64: str) -> dict[str, Any]:
    """The ``data["signature"]`` object of a log entry carrying a party's signed statement."""
    return {"party": party, "key_id": key_id, "statement": dict(statement), "signature": signature_b64}


@dataclass(frozen=True)
class SignedStatement:
    """A ``data["signature"]`` block, read and shape-checked (not yet verified)."""

    party: str
    key_id: str
    statement: dict[str, Any]
    signature: str

    @classmethod
    def from_block(cls, block: object) -> SignedStatement:
        """The block's fields; ValueError naming what is malformed."""
        if not isinstance(block, Mapping):
            raise ValueError("signature: expected an object with party, key_id, statement and signature")
        for name in ("party", "key_id", "signature"):
            if not isinstance(block.get(name), str):
                raise ValueError(f"signature: {name} is missing or not a string")
        statement = block.get("statement")
        if not isinstance(statement, Mapping):
            raise ValueError("signature: statement is missing or not an object")
        return cls(block["party"], block["key_id"], dict(statement), block["signature"])

    def problem(self, key: PublicKey) -> str | None:
        """What is wrong with this signed statement given the party's key ``key``, or None.

        Does not decide whether ``key`` is the party's (registered, not
        revoked): that depends on the log, see :mod:`detente.audit.verify`.
        """
        if key.key_id != self.key_id:
            return f"the signature names key {self.key_id}, not {key.key_id}"
        if self.statement.get("party") != self.party:
            return f"the statement names party {self.statement.get('party')!r} but is signed as party {self.party!r}"
        if not verify_statement(key, self.statement, self.signature):
            return (
                f"party {self.party}'s signature does not verify with key {self.key_id}: "
                "the statement was changed or the signature forged"
            )
        return None
