"""Receipts: what a party keeps to prove, later and without the server, that an entry was logged.

A receipt bundles the entry's canonical bytes, its index, a signed tree head
that covers it, the inclusion proof from the entry's leaf to the head's
root, and the public key that signed the head. With those alone anyone can
check that the server signed a log containing exactly this entry at this
position: a later rewrite of the log would contradict the head, and the
head carries the server's signature.

What a receipt cannot show on its own is that the head's key was the log's
key: pass the keys you trust (obtained out of band, or from an export you
verified) to :meth:`Receipt.check`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detente.audit.canonical import is_canonical, parse
from detente.audit.heads import TreeHead, format_time
from detente.audit.keys import PublicKey
from detente.audit.merkle import Node, inclusion_proof, leaf_hash, verify_inclusion

FORMAT = "detente-receipt/1"
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


def _hex_hash(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value):
        raise ValueError(f"receipt: {what} must be 64 lowercase hex characters")
    return bytes.fromhex(value)


@dataclass(frozen=True)
class Receipt:
    """Proof that ``entry`` is leaf ``index`` of the log under ``head``.

    ``leaf`` is the leaf hash the receipt states (as read from JSON); None
    means "compute it from the entry", which is what a freshly made receipt
    does.
    """

    entry: bytes
    index: int
    head: TreeHead
    proof: list[bytes]
    key: PublicKey
    leaf: bytes | None = field(default=None)

    @classmethod
    def build(cls, entry: bytes, index: int, head: TreeHead, nodes: Mapping[Node, bytes], key: PublicKey) -> Receipt:
        """A receipt for entry ``index`` under ``head``, its proof read from stored tree ``nodes``.

        ``nodes`` needs only :func:`detente.audit.merkle.inclusion_nodes` ``(index, head.size)``.
        """
        proof = inclusion_proof(index, head.size, nodes)
        return cls(entry=entry, index=index, head=head, proof=proof, key=key, leaf=leaf_hash(entry))

    def stated_leaf(self) -> bytes:
        return self.leaf if self.leaf is not None else leaf_hash(self.entry)

    def to_json(self) -> dict[str, Any]:
        try:
            text = self.entry.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("receipt: the entry is not UTF-8 text") from None
        return {
            "format": FORMAT,
            "entry": text,
            "index": self.index,
            "leaf": self.stated_leaf().hex(),
            "head": self.head.to_json(),
            "proof": [p.hex() for p in self.proof],
            "key": self.key.to_json(),
        }

    @classmethod
    def from_json(cls, obj: object) -> Receipt:
        """A receipt from :meth:`to_json`'s form; ValueError naming what is malformed.

        Only the *shape* is checked here; whether it proves anything is
        :meth:`check`'s job, so a tampered receipt still loads and can be
        told apart from a garbled file.
        """
        if not isinstance(obj, Mapping):
            raise ValueError("receipt: expected a JSON object")
        if obj.get("format") != FORMAT:
            raise ValueError(f"receipt: format must be {FORMAT!r}, got {obj.get('format')!r}")
        for name in ("entry", "index", "leaf", "head", "proof", "key"):
            if name not in obj:
                raise ValueError(f"receipt: missing field {name!r}")
        if not isinstance(obj["entry"], str):
            raise ValueError("receipt: entry must be the entry's canonical JSON text, as a string")
        index = obj["index"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"receipt: index must be a non-negative integer, got {index!r}")
        leaf = _hex_hash(obj["leaf"], "leaf")
        proof_json = obj["proof"]
        if not isinstance(proof_json, list):
            raise ValueError("receipt: proof must be a list of hex hashes")
        proof = [_hex_hash(p, f"proof element {i}") for i, p in enumerate(proof_json)]
        try:
            entry = obj["entry"].encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("receipt: entry is not valid Unicode text") from None
        head = TreeHead.from_json(obj["head"])
        key = PublicKey.from_json(obj["key"])
        return cls(entry=entry, index=index, head=head, proof=proof, key=key, leaf=leaf)

    def check(self, trusted: Sequence[PublicKey] | None = None) -> list[str]:
        """Every reason this receipt does not prove its entry is in the log; ``[]`` means it does.

        All checks run (not just up to the first failure) so a reader sees
        the whole picture: a wrong key and a wrong proof are different
        stories.
        """
        problems: list[str] = []
        computed = leaf_hash(self.entry)
        if not is_canonical(self.entry):
            problems.append("the entry is not canonical JSON (RFC 8785): it is not the text that was logged")
        if self.leaf is not None and self.leaf != computed:
            problems.append("the stated leaf hash does not match the entry: the entry was changed")
        if self.key.key_id != self.head.key_id:
            problems.append(
                f"the head was signed with key {self.head.key_id}, but the receipt carries key {self.key.key_id}"
            )
        elif not self.head.valid(self.key):
            problems.append(
                f"the tree head's signature does not verify with key {self.key.key_id}: the head was altered or forged"
            )
        if trusted is not None and self.key not in trusted:
            problems.append(f"key {self.key.key_id} is not one of the keys you trust")
        if not 0 <= self.index < self.head.size:
            problems.append(f"entry index {self.index} is outside the head's tree of {self.head.size} entries")
        elif not verify_inclusion(computed, self.index, self.head.size, self.proof, self.head.root):
            problems.append(
                f"the inclusion proof does not lead from the entry to the head's root: "
                f"this entry is not at index {self.index} of the log the head signs"
            )
        return problems

    def summary(self) -> str:
        """One line for a person: what the entry is and where it was proven."""
        try:
            value = parse(self.entry)
        except ValueError:
            value = None
        if isinstance(value, dict):
            what = f"{value.get('type', '?')} {value.get('subject', '?')} at {value.get('at', '?')}"
        else:
            what = "unreadable entry"
        return (
            f"{what}: entry {self.index:,} of {self.head.size:,} in log {self.head.log}, "
            f"head signed {format_time(self.head.at)} by {self.head.key_id}"
        )
