"""The RFC 9162 (Certificate Transparency v2, same tree as RFC 6962) Merkle tree, SHA-256.

Why this tree: it is append-only with compact proofs that a third party can
check with any CT library: an *inclusion proof* shows an entry is in the
log at a given size, a *consistency proof* shows a later log extends an
earlier one without rewriting it.

Why proofs are built from *perfect* nodes: a node ``(level, index)`` is the
complete subtree of ``2**level`` leaves covering leaves
``[index * 2**level, (index + 1) * 2**level)``.  Once complete its hash never
changes, so the writer stores each one once, as :meth:`Appender.append`
reports it (amortised one node per leaf).  Every subtree of an RFC 9162 tree
of any size is either perfect or lies on the right edge of the tree, and a
right-edge subtree is the fold of a few perfect ones (:func:`frontier`,
:func:`root_from`).  So any proof, for any past size, is computed from
O(log n) stored nodes that :func:`inclusion_nodes` / :func:`consistency_nodes`
name up front, letting the database fetch them with one query.

Proof element order is exactly the RFC's (PATH and PROOF of section 2.1,
bottom-up), and the verifiers are the RFC's algorithms of 2.1.3.2 and
2.1.4.2, so proofs interoperate with other implementations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Appender",
    "Node",
    "consistency_nodes",
    "consistency_proof",
    "frontier",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from",
    "verify_consistency",
    "verify_inclusion",
]

Node = tuple[int, int]
"""``(level, index)``: the perfect subtree of ``2**level`` leaves starting at leaf ``index * 2**level``."""

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree (RFC 9162 2.1.1: the hash of the empty string)."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf: ``SHA-256(0x00 || data)``.

    The ``0x00`` prefix (``0x01`` for interior nodes) keeps a leaf from
    being passed off as an interior node (second-preimage resistance).
    """
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): the RFC's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _pieces(start: int, count: int) -> list[Node]:
    """The perfect nodes making up leaves ``[start, start + count)``, largest first.

    ``start`` must be a multiple of the largest power of two in ``count``,
    which holds for every right-edge subtree of an RFC 9162 tree.
    """
    nodes: list[Node] = []
    for level in range(count.bit_length() - 1, -1, -1):
        if count >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def frontier(size: int) -> list[Node]:
    """The perfect subtrees that together make a tree of ``size`` leaves, left to right.

    One per set bit of ``size``, largest first.  Their hashes are all the
    state an appender needs, and :func:`root_from` turns them into the root.

    >>> frontier(13)
    [(3, 0), (2, 2), (0, 12)]
    """
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    return _pieces(0, size)


def root_from(frontier_hashes: Sequence[bytes]) -> bytes:
    """The RFC 9162 root (MTH) of a tree given its frontier hashes, left to right.

    RFC 9162 splits a tree at the largest power of two below its size, so
    the left part is the first (largest) perfect subtree and the right part
    is the tree of the remaining ones: folding from the right gives MTH.
    The empty tree's root is :data:`EMPTY_ROOT`.
    """
    if not frontier_hashes:
        return EMPTY_ROOT
    r = frontier_hashes[-1]
    for h in reversed(frontier_hashes[:-1]):
        r = node_hash(h, r)
    return r


class Appender:
    """An append-only tree kept as its frontier: O(log n) memory, amortised O(1) hashing per leaf.

    The database writer resumes one from the stored size and frontier, and
    stores every node :meth:`append` reports, which is all any later proof
    needs.  The offline verifier streams leaves through one and reads
    :meth:`root` at each size to check every signed tree head.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self, size: int = 0, frontier_hashes: Sequence[bytes] = ()) -> None:
        expected = len(frontier(size))
        if len(frontier_hashes) != expected:
            raise ValueError(
                f"a tree of {size} leaves has {expected} frontier hashes (one per set bit), got {len(frontier_hashes)}"
            )
        for h in frontier_hashes:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ValueError(f"frontier hashes must be {HASH_SIZE}-byte SHA-256 digests, got {h!r}")
        self._size = size
        self._frontier = list(frontier_hashes)

    @property
    def size(self) -> int:
        """The number of leaves appended so far (including those given at construction)."""
        return self._size

    def frontier_hashes(self) -> list[bytes]:
        """The hashes of :func:`frontier` (``self.size``), left to right: the state to persist."""
        return list(self._frontier)

    def root(self) -> bytes:
        """The RFC 9162 root of the tree so far, in O(log n) hashes."""
        return root_from(self._frontier)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one *leaf hash* (see :func:`leaf_hash`) and report the nodes it completed.

        Returns ``(level, index, hash)`` for every perfect node that became
        complete, bottom-up, starting with the leaf itself ``(0, i, leaf)``:
        one plus the number of trailing one bits of the old size, so one
        node per leaf on average.
        """
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf must be a {HASH_SIZE}-byte leaf hash, got {leaf!r}")
        index = self._size
        h = leaf
        level = 0
        done = [(0, index, h)]
        while index >> level & 1:
            h = node_hash(self._frontier.pop(), h)
            level += 1
            done.append((level, index >> level, h))
        self._frontier.append(h)
        self._size = index + 1
        return done


def _inclusion_plan(index: int, size: int) -> list[list[Node]]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, each element as the perfect nodes it folds from.

    Walking down from the root, a sibling on the left is always perfect; a
    sibling on the right is a right-edge subtree, perfect or folded from
    its :func:`_pieces`.  Only the first right sibling can be imperfect:
    after it the walk is inside a perfect subtree.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
    plan: list[list[Node]] = []
    start, n, m = 0, size, index
    while n > 1:
        k = _split(n)
        if m < k:
            plan.append(_pieces(start + k, n - k))
            n = k
        else:
            plan.append(_pieces(start, k))
            start, n, m = start + k, n - k, m - k
    plan.reverse()  # the RFC lists the path bottom-up
    return plan


def _consistency_plan(old: int, new: int) -> list[list[Node]]:
    """PROOF(old, D[new]) of RFC 9162 2.1.4.1 (SUBPROOF with b = true), as folds of perfect nodes."""
    if not 0 < old <= new:
        raise ValueError(f"a consistency proof needs 0 < old <= new, got old={old}, new={new}")
    plan: list[list[Node]] = []
    start, n, m, b = 0, new, old, True
    while m != n:
        k = _split(n)
        if m <= k:
            plan.append(_pieces(start + k, n - k))
            n = k
        else:
            plan.append(_pieces(start, k))
            start, n, m, b = start + k, n - k, m - k, False
    if not b:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old tree's last
        # subtree, reached by a left step, hence perfect.
        plan.append(_pieces(start, n))
    plan.reverse()
    return plan


def _flatten(plan: list[list[Node]]) -> list[Node]:
    return [node for group in plan for node in group]


def _build(plan: list[list[Node]], nodes: Mapping[Node, bytes], what: str) -> list[bytes]:
    proof: list[bytes] = []
    for group in plan:
        hashes: list[bytes] = []
        for node in group:
            h = nodes.get(node)
            if h is None:
                raise ValueError(f"node (level {node[0]}, index {node[1]}) is missing: it is needed for {what}")
            hashes.append(h)
        proof.append(root_from(hashes))
    return proof


def inclusion_nodes(index: int, size: int) -> list[Node]:
    """The stored perfect nodes :func:`inclusion_proof` needs: at most about 2 log2(size), no duplicates.

    >>> inclusion_nodes(2, 7)
    [(0, 3), (1, 0), (1, 2), (0, 6)]
    """
    return _flatten(_inclusion_plan(index, size))


def inclusion_proof(index: int, size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """The RFC 9162 inclusion proof (audit path, bottom-up) of leaf ``index`` in the tree of ``size`` leaves.

    Reads only the nodes :func:`inclusion_nodes` names, so ``nodes`` may be
    exactly those.  Raises :class:`ValueError` for an index outside the tree
    or a node missing from ``nodes``.
    """
    return _build(_inclusion_plan(index, size), nodes, f"the inclusion proof of leaf {index} in a tree of {size}")


def consistency_nodes(old: int, new: int) -> list[Node]:
    """The stored perfect nodes :func:`consistency_proof` needs: at most about 2 log2(new), no duplicates."""
    return _flatten(_consistency_plan(old, new))


def consistency_proof(old: int, new: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """The RFC 9162 consistency proof PROOF(old, D[new]) that the tree of ``new`` leaves extends that of ``old``.

    ``old == new`` gives ``[]``.  Reads only the nodes
    :func:`consistency_nodes` names.  Raises :class:`ValueError` unless
    ``0 < old <= new``, or for a node missing from ``nodes``.
    """
    return _build(_consistency_plan(old, new), nodes, f"the consistency proof from {old} to {new}")


def _is_hash(h: object) -> bool:
    return isinstance(h, bytes) and len(h) == HASH_SIZE


def _is_size(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` leaves with ``root``.

    The algorithm of RFC 9162 2.1.3.2, step by step.  Additionally every
    hash (leaf, root, proof elements) must be a 32-byte digest, so that
    bytes cannot be shifted between adjacent inputs of the hash.  Never
    raises: any malformed input is just not a proof.

    Note the proof commits to the tree's *shape*, not its size: a proof can
    verify for another size whose tree has the same path (leaf 0 of sizes 3
    and 4).  The size is bound to the root by the signed tree head.
    """
    if not (_is_size(index) and _is_size(size) and _is_hash(leaf) and _is_hash(root)):
        return False
    if not isinstance(proof, Sequence) or not all(_is_hash(p) for p in proof):
        return False
    if index < 0 or index >= size:  # step 1
        return False
    fn, sn = index, size - 1  # step 2
    r = leaf  # step 3
    for p in proof:  # step 4
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # LSB(fn) unset: shift until set or fn == 0
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root  # step 5


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` shows the tree (``new``, ``new_root``) extends the tree (``old``, ``old_root``).

    For ``0 < old < new`` this is the algorithm of RFC 9162 2.1.4.2 step by
    step.  The RFC leaves the edge cases to the caller; here:

    * ``old == new``: the proof must be empty and the roots equal;
    * ``old == 0``: the proof must be empty and ``old_root`` the empty
      tree's root: an empty tree is a prefix of every tree, so there is
      nothing to prove about ``new_root``;
    * ``old > new`` or negative sizes: False.

    Every hash must be a 32-byte digest.  Never raises.
    """
    if not (_is_size(old) and _is_size(new) and _is_hash(old_root) and _is_hash(new_root)):
        return False
    if not isinstance(proof, Sequence) or not all(_is_hash(c) for c in proof):
        return False
    if old < 0 or new < old:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:  # step 1
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # step 2: old is a power of two
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:  # LSB(fn) unset: shift until set or fn == 0
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0  # step 7
