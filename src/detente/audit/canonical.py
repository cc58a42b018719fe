"""Canonical JSON (RFC 8785, JCS): one byte string per value.

Why: an audit entry is hashed into the Merkle tree and signed, so the bytes
must not depend on who wrote them (key order, whitespace, ``1.0`` versus
``1``, escapes).  Anyone re-serialising a parsed entry with any RFC 8785
implementation gets the same bytes back, hence the same leaf hash; that is
what lets an auditor check the log offline with their own tools.

Encoding goes through the ``rfc8785`` library.  Its errors, and the
ambiguities plain :func:`json.loads` tolerates (duplicate keys, ``NaN``,
``Infinity``), become :class:`ValueError` with a message naming the problem,
because a log that accepted them would hash a value its readers cannot agree
on.

>>> canonical({"b": [1.0, True, None], "a": "é"})
b'{"a":"\\xc3\\xa9","b":[1,true,null]}'
>>> parse(b'{"a": 1, "a": 2}')
Traceback (most recent call last):
    ...
ValueError: duplicate key 'a' in JSON object
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

import rfc8785

__all__ = ["canonical", "is_canonical", "parse"]

_MAX_SAFE_INT = 2**53 - 1


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical JSON encoding of ``value``, as UTF-8 bytes.

    ``value`` is built from ``dict`` (``str`` keys), ``list``/``tuple``,
    ``str``, ``int``, ``float``, ``bool`` and ``None``.  Raises
    :class:`ValueError` for what JCS cannot encode faithfully: NaN or
    infinite floats, integers outside the I-JSON range ``±(2**53 - 1)``
    (a reader's double would silently round them), non-string keys,
    strings with lone surrogates, other types, and nesting too deep to
    walk.
    """
    try:
        return json.dumps(_fast(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except (_Slow, RecursionError, UnicodeEncodeError):  # a lone surrogate: rfc8785 says what is wrong
        pass
    try:
        return rfc8785.dumps(value)
    except rfc8785.IntegerDomainError as e:
        raise ValueError(f"integer out of the I-JSON range ±(2**53 - 1): {e}") from e
    except rfc8785.FloatDomainError as e:
        raise ValueError(f"NaN and infinite numbers have no JSON form: {e}") from e
    except rfc8785.CanonicalizationError as e:
        raise ValueError(f"cannot encode as canonical JSON: {e}") from e
    except RecursionError as e:
        raise ValueError("cannot encode as canonical JSON: nesting too deep") from e


class _Slow(Exception):
    """The value needs the RFC 8785 library: the standard library would write it differently."""


def _fast(value: Any) -> Any:
    """``value`` in a form :func:`json.dumps` (sorted keys, compact, UTF-8) writes exactly as RFC 8785 does.

    The RFC 8785 library is pure Python and costs milliseconds on an entry
    with a geometry, so values where the standard library provably agrees
    take a fast path. They agree on strings (same escapes), ``true``,
    ``false``, ``null`` and integers within ±(2**53 - 1); on floats whose
    ``repr`` is plain decimal (both print the shortest round-trip digits);
    on integral floats within ±2**53 once written as integers (ES6 prints
    ``800.0`` and ``-0.0`` as ``800`` and ``0``); and on key order unless a
    key holds a character at or above U+E000 (JCS sorts UTF-16 code units,
    Python code points). Anything else raises :class:`_Slow`.
    """
    t = type(value)  # exact types: subclasses may encode differently
    if t is str or t is bool or value is None:
        return value
    if t is dict:
        out = {}
        for k, item in value.items():
            if type(k) is not str or (not k.isascii() and max(k, default="") >= "\ue000"):
                raise _Slow
            out[k] = item if type(item) is str else _fast(item)
        return out
    if t is list or t is tuple:
        return [_fast(item) for item in value]
    if t is int:
        if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            return value
        raise _Slow
    if t is float:
        if value.is_integer():
            if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
                return int(value)
            raise _Slow  # ES6 writes big integral doubles without ".0", Python with it
        text = repr(value)
        if "e" in text or "n" in text:  # exponent, nan, inf
            raise _Slow
        return value
    raise _Slow


def _plain(value: object) -> bool:
    """Whether :func:`canonical` takes the standard library's path for ``value``."""
    try:
        _fast(value)
    except (_Slow, RecursionError):
        return False
    return True


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # ``1e400`` parses to ``inf``: the same ambiguity as ``Infinity``.
    f = float(text)
    if not math.isfinite(f):
        raise ValueError(f"number {text} is out of range for a double")
    return f


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Readers disagree on duplicates (first wins, last wins, error), so one
    # entry could mean two things: refuse it.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r} in JSON object")
        obj[key] = value
    return obj


def parse(data: bytes | str) -> Any:
    """Parse JSON strictly: UTF-8 only, no duplicate keys, no ``NaN``/``Infinity``.

    These are the inputs on which JSON parsers disagree, so a signed entry
    containing them would not have one meaning.  Raises :class:`ValueError`
    naming the problem (invalid UTF-8, syntax error with its position,
    duplicate key, non-finite number).
    """
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"JSON must be UTF-8: {e}") from e
    else:
        text = data
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON: {e}") from e
    except RecursionError as e:
        raise ValueError("invalid JSON: nesting too deep") from e


def is_canonical(data: bytes) -> bool:
    """Whether ``data`` is exactly the canonical encoding of the JSON it holds.

    A verifier uses this to refuse entries that parse but were not written
    canonically: their hash would not be reproducible from the parsed value.
    False (never an exception) for anything that does not parse or encode.
    """
    try:
        return canonical(parse(data)) == data
    except (ValueError, TypeError):
        return False
