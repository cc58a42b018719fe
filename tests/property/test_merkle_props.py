"""Property tests: the audit Merkle tree against a naive RFC 9162 reference.

The reference below is section 2.1 of RFC 9162 transcribed literally:
recursive MTH, PATH and PROOF/SUBPROOF over the list of entries, hashing
whole subtrees again and again.  It is slow and obviously right; the
production module is fast (proofs from O(log n) stored nodes) and not
obviously right.  Agreement on every size up to 300 and random indices is
the evidence that the fast one is the RFC's tree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from detente.audit.merkle import (
    Appender,
    Node,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

# --- the naive reference (RFC 9162 2.1) ----------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 2.1.1."""
    n = len(d)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return _sha(b"\x00" + d[0])
    k = _k(n)
    return _sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1."""
    return subproof(m, d, True)


# --- a fixed log of MAX entries, built once ---------------------------------------

MAX = 300
DATA = [hashlib.sha256(b"entry %d" % i).digest()[: i % 7] + bytes([i % 256]) for i in range(MAX)]


@cache
def naive_root(size: int) -> bytes:
    return mth(DATA[:size])


def _build() -> tuple[dict[Node, bytes], list[bytes]]:
    app = Appender()
    nodes: dict[Node, bytes] = {}
    roots = [app.root()]
    for data in DATA:
        for level, index, h in app.append(_sha(b"\x00" + data)):
            assert (level, index) not in nodes
            nodes[level, index] = h
        roots.append(app.root())
    return nodes, roots


NODES, ROOTS = _build()


def leaf(i: int) -> bytes:
    return _sha(b"\x00" + DATA[i])


def only(needed: list[Node], size: int) -> dict[Node, bytes]:
    """The stored nodes the builder asked for, each of which existed when the tree had ``size`` leaves."""
    assert len(set(needed)) == len(needed)
    for level, index in needed:
        assert (index + 1) << level <= size
    return {n: NODES[n] for n in needed}


def log_bound(n: int) -> int:
    return 2 * math.ceil(math.log2(n)) + 2


SETTINGS = settings(derandomize=True, max_examples=300, deadline=None)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX))
    return size, draw(st.integers(0, size - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(1, MAX))
    return draw(st.integers(1, new)), new


# --- properties ---------------------------------------------------------------------


def test_appender_root_is_mth_at_every_size() -> None:
    for size in range(MAX + 1):
        assert ROOTS[size] == naive_root(size), size


@given(st.lists(st.binary(max_size=40), max_size=70))
@SETTINGS
def test_appender_root_is_mth_for_any_entries(entries: list[bytes]) -> None:
    app = Appender()
    for i, data in enumerate(entries):
        done = app.append(_sha(b"\x00" + data))
        assert done[0] == (0, i, _sha(b"\x00" + data))
        trailing_ones = (i ^ (i + 1)).bit_length() - 1
        assert len(done) == 1 + trailing_ones  # the leaf, then one node per trailing one bit of i
        resumed = Appender(app.size, app.frontier_hashes())
        assert resumed.root() == app.root() == mth(entries[: i + 1])


@given(size_and_index())
@SETTINGS
def test_inclusion_proof_is_the_rfc_path_and_verifies(case: tuple[int, int]) -> None:
    size, index = case
    needed = inclusion_nodes(index, size)
    assert len(needed) <= log_bound(size)
    got = inclusion_proof(index, size, only(needed, size))
    assert got == path(index, DATA[:size])
    assert verify_inclusion(leaf(index), index, size, got, naive_root(size))


@given(old_and_new())
@SETTINGS
def test_consistency_proof_is_the_rfc_proof_and_verifies(case: tuple[int, int]) -> None:
    old, new = case
    needed = consistency_nodes(old, new)
    assert len(needed) <= log_bound(new)
    got = consistency_proof(old, new, only(needed, new))
    assert got == proof(old, DATA[:new])
    assert verify_consistency(old, new, naive_root(old), naive_root(new), got)


@given(size_and_index(), st.data())
@SETTINGS
def test_tampered_inclusion_proofs_fail(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    good = path(index, DATA[:size])
    root = naive_root(size)
    if good:
        i = data.draw(st.integers(0, len(good) - 1))
        b = bytearray(good[i])
        b[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
        bad = [*good[:i], bytes(b), *good[i + 1 :]]
        assert not verify_inclusion(leaf(index), index, size, bad, root)
        assert not verify_inclusion(leaf(index), index, size, good[:-1], root)
    assert not verify_inclusion(leaf(index), index, size, [*good, root], root)
    # Another position: a proof verifies there only if it is that position's proof.
    other = data.draw(st.integers(0, size - 1))
    if other != index:
        assert verify_inclusion(leaf(index), other, size, good, root) == (
            leaf(index) == leaf(other) and good == path(other, DATA[:size])
        )
    # Another size, checked against that size's true root: same rule.  (Against
    # this size's root a proof can verify for another size of the same shape;
    # the signed tree head binds size to root.)
    wrong = data.draw(st.integers(1, MAX))
    if wrong != size and index < wrong:
        assert verify_inclusion(leaf(index), index, wrong, good, naive_root(wrong)) == (
            good == path(index, DATA[:wrong])
        )


@given(old_and_new(), st.data())
@SETTINGS
def test_tampered_consistency_proofs_fail(case: tuple[int, int], data: st.DataObject) -> None:
    old, new = case
    good = proof(old, DATA[:new])
    old_root, new_root = naive_root(old), naive_root(new)
    if good:
        i = data.draw(st.integers(0, len(good) - 1))
        b = bytearray(good[i])
        b[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
        bad = [*good[:i], bytes(b), *good[i + 1 :]]
        assert not verify_consistency(old, new, old_root, new_root, bad)
        assert not verify_consistency(old, new, old_root, new_root, good[:-1])
        assert not verify_consistency(old, new, old_root, new_root, good[1:])
    assert not verify_consistency(old, new, old_root, new_root, [*good, new_root])
    if old < new:
        assert not verify_consistency(old, new, new_root, old_root, good)
        assert not verify_consistency(new, old, new_root, old_root, good)
    # Other sizes, checked against their true roots: verifies only if it is their proof.
    old2 = data.draw(st.integers(1, MAX))
    new2 = data.draw(st.integers(old2, MAX))
    if (old2, new2) != (old, new):
        assert verify_consistency(old2, new2, naive_root(old2), naive_root(new2), good) == (
            good == proof(old2, DATA[:new2])
        )
