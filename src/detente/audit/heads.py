"""Signed tree heads: the log's signed statement "at this time I held these entries".

A head signs ``(log, size, root, at, key_id)``. Once a party holds one, the
server cannot later show a log whose first ``size`` entries hash to any
other root: keeping heads is what turns "the server says" into "the server
signed, and would have to forge a signature to deny it".

The signed payload is canonical JSON (RFC 8785), so anyone can rebuild the
bytes from the fields with their own tools. ``key_id`` is inside the
payload so a signature cannot be re-attributed to another key.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from detente.audit.canonical import canonical
from detente.audit.keys import PublicKey, Signer, is_key_id
from detente.audit.merkle import HASH_SIZE

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


def format_time(dt: datetime) -> str:
    """The log's one time format: RFC 3339, UTC, microseconds, ``Z``.

    One fixed format (not "any ISO 8601") because times are inside signed
    and hashed bytes: two spellings of one instant would be two payloads.

    >>> from datetime import timedelta, timezone
    >>> format_time(datetime(2026, 11, 24, 23, 48, 50, 123456, tzinfo=timezone(timedelta(hours=2))))
    '2026-11-24T21:48:50.123456Z'
    """
    if not isinstance(dt, datetime):
        raise ValueError(f"time: expected a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("time: naive datetime (no time zone); the log needs an unambiguous instant")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time with ``Z`` or an explicit offset, as an aware UTC datetime.

    A time without an offset is refused: it names no instant, and guessing
    a zone would make a verifier's verdict depend on where it runs.

    >>> parse_time("2026-11-24T21:48:50.123456Z").isoformat()
    '2026-11-24T21:48:50.123456+00:00'
    """
    if not isinstance(text, str):
        raise ValueError(f"time: expected an RFC 3339 string, got {type(text).__name__}")
    m = _RFC3339.fullmatch(text)
    if m is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?", text):
            raise ValueError(f"time: {text!r} has no UTC offset (end it with Z)")
        raise ValueError(f"time: {text!r} is not an RFC 3339 time like 2026-11-24T21:48:50.123456Z")
    try:
        dt = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError(f"time: {text!r} is not a valid date and time") from None
    return dt.astimezone(UTC)


def head_payload(log: str, size: int, root: bytes, at: datetime, key_id: str) -> bytes:
    """The exact bytes a tree head signature covers."""
    return canonical({"log": log, "size": size, "root": root.hex(), "at": format_time(at), "key_id": key_id})


@dataclass(frozen=True)
class TreeHead:
    """A signed tree head: the root of the first ``size`` entries of ``log`` at time ``at``."""

    log: str
    size: int
    root: bytes
    at: datetime
    key_id: str
    signature: bytes

    def __post_init__(self) -> None:
        # Checked here so that payload() can never fail on a head that exists.
        if not isinstance(self.log, str) or not self.log:
            raise ValueError("tree head: log must be a non-empty string")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise ValueError(f"tree head: size must be a non-negative integer, got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise ValueError(f"tree head: root must be a {HASH_SIZE}-byte SHA-256 digest")
        if not isinstance(self.at, datetime) or self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("tree head: at must be a datetime with a time zone (naive datetimes are ambiguous)")
        if not isinstance(self.key_id, str):
            raise ValueError("tree head: key_id must be a string")
        if not isinstance(self.signature, bytes):
            raise ValueError("tree head: signature must be bytes")

    def payload(self) -> bytes:
        """The canonical bytes the signature covers (everything but the signature)."""
        return head_payload(self.log, self.size, self.root, self.at, self.key_id)

    def valid(self, key: PublicKey) -> bool:
        """Whether ``key`` is the key this head names and its signature verifies."""
        return key.key_id == self.key_id and key.verify(self.signature, self.payload())

    def to_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "size": self.size,
            "root": self.root.hex(),
            "at": format_time(self.at),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, obj: object) -> TreeHead:
        """A head from :meth:`to_json`'s form; ValueError naming the first malformed field."""
        if not isinstance(obj, Mapping):
            raise ValueError("tree head: expected an object")
        for name in ("log", "size", "root", "at", "key_id", "signature"):
            if name not in obj:
                raise ValueError(f"tree head: missing field {name!r}")
        size = obj["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"tree head: size must be a non-negative integer, got {size!r}")
        root = obj["root"]
        if not isinstance(root, str) or not _HEX_HASH.fullmatch(root):
            raise ValueError("tree head: root must be 64 lowercase hex characters")
        key_id = obj["key_id"]
        if not isinstance(key_id, str) or not is_key_id(key_id):
            raise ValueError(f"tree head: key_id {key_id!r} is not a key id like ed25519:<32 hex>")
        signature = obj["signature"]
        if not isinstance(signature, str):
            raise ValueError("tree head: signature must be a base64 string")
        try:
            sig = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("tree head: signature is not base64") from None
        log = obj["log"]
        if not isinstance(log, str) or not log:
            raise ValueError("tree head: log must be a non-empty string")
        try:
            at = parse_time(obj["at"])
        except ValueError as e:
            raise ValueError(f"tree head: {e}") from None
        return cls(log=log, size=size, root=bytes.fromhex(root), at=at, key_id=key_id, signature=sig)


def sign_head(signer: Signer, log: str, size: int, root: bytes, at: datetime) -> TreeHead:
    """A head for ``(log, size, root, at)`` signed by ``signer``.

    The time is truncated to microseconds by the format, so the returned
    head is exactly what a reader will rebuild from its JSON.
    """
    at = parse_time(format_time(at))
    unsigned = TreeHead(log=log, size=size, root=root, at=at, key_id=signer.key_id, signature=b"")
    return TreeHead(
        log=log, size=size, root=root, at=at, key_id=signer.key_id, signature=signer.sign(unsigned.payload())
    )
