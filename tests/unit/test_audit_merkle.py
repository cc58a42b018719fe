"""Known-answer and bad-input tests for the audit log's Merkle tree and canonical JSON.

The vectors are the public RFC 6962 test data of the certificate-transparency
projects (the eight-leaf tree of certificate-transparency-go / transparency-dev
merkle, and a proof from the live log in google/certificate-transparency's
Python tests): agreeing with them is what makes our proofs checkable by any
CT client, not only by our own verifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import pytest

from detente.audit import canonical as jcs
from detente.audit.merkle import (
    EMPTY_ROOT,
    Appender,
    Node,
    consistency_nodes,
    consistency_proof,
    frontier,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# Leaf 848049 of a 3,630,887-entry production CT log, with its 22-hash audit
# path (google/certificate-transparency, python/ct/crypto/merkle_test.py).
CT_LEAF = "7a395c866d5ecdb0cccb623e011dbc392cd348d1d1d72776174e127a24b09c78"
CT_INDEX, CT_SIZE = 848049, 3630887
CT_ROOT = "78316a05c9bcf14a3a4548f5b854a9adfcd46a4c034401b3ce7eb7ac2f1d0ecb"
CT_PATH = [
    "1a208aeebcd1b39fe2de247ee8db9454e1e93a312d206b87f6ca9cc6ec6f1ddd",
    "0a1b78b383f580856f433c01a5741e160d451c185910027f6cc9f828687a40c4",
    "3d1745789bc63f2da15850de1c12a5bf46ed81e1cc90f086148b1662e79aab3d",
    "9095b61e14d8990acf390905621e62b1714fb8e399fbb71de5510e0aef45affe",
    "0a332b91b8fab564e6afd1dd452449e04619b18accc0ff9aa8393cd4928451f2",
    "2336f0181d264aed6d8f3a6507ca14a8d3b3c3a23791ac263e845d208c1ee330",
    "b4ce56e300590500360c146c6452edbede25d4ed83919278749ee5dbe178e048",
    "933f6ddc848ea562e4f9c5cfb5f176941301dad0c6fdb9d1fbbe34fac1be6966",
    "b95a6222958a86f74c030be27c44f57dbe313e5e7c7f4ffb98bcbd3a03bb52f2",
    "daeeb3ce5923defd0faeb8e0c210b753b85b809445d7d3d3cd537a9aabaa9c45",
    "7fadd0a13e9138a2aa6c3fdec4e2275af233b94812784f66bcca9aa8e989f2bc",
    "1864e6ba3e32878610546539734fb5eeae2529991f130c575c73a7e25a2a7c56",
    "12842d1202b1dc6828a17ab253c02e7ce9409b5192430feba44189f39cc02d66",
    "29af64b16fa3053c13d02ac63aa75b23aa468506e44c3a2315edc85d2dc22b11",
    "b527b99934a0bd9edd154e449b0502e2c499bba783f3bc3dfe23364b6b532009",
    "4584db8ae8e351ace08e01f306378a92bfd43611714814f3d834a2842d69faa8",
    "86a9a41573b0d6e4292f01e93243d6cc65b30f06606fc6fa57390e7e90ed580f",
    "a88b98fbe84d4c6aae8db9d1605dfac059d9f03fe0fcb0d5dff1295dacba09e6",
    "06326dc617a6d1f7021dc536026dbfd5fffc6f7c5531d48ef6ccd1ed1569f2a1",
    "f41fe8fdc3a2e4e8345e30216e7ebecffee26ff266eeced208a6c2a3cf08f960",
    "40cf5bde8abb76983f3e98ba97aa36240402975674e120f234b3448911090f8d",
    "b3222dc8658538079883d980d7fdc2bef9285344ea34338968f736b04aeb387a",
]


def hx(hexes: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


def build(leaves: Sequence[bytes]) -> tuple[dict[Node, bytes], list[bytes]]:
    """Every stored node of the tree of ``leaves`` (raw entries), and its root at each size."""
    app = Appender()
    nodes: dict[Node, bytes] = {}
    roots = [app.root()]
    for data in leaves:
        for level, index, h in app.append(leaf_hash(data)):
            nodes[level, index] = h
        roots.append(app.root())
    return nodes, roots


def flip(h: bytes, byte: int = 0, bit: int = 0) -> bytes:
    b = bytearray(h)
    b[byte] ^= 1 << bit
    return bytes(b)


# --- hashes and roots --------------------------------------------------------


def test_empty_root_and_leaf_hash() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert root_from([]) == EMPTY_ROOT
    assert Appender().root() == EMPTY_ROOT
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    # Domain separation: a leaf and an interior node over the same bytes differ.
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) != leaf_hash(a + b)


def test_roots_of_the_ct_test_vectors() -> None:
    _, roots = build(LEAVES)
    assert [r.hex() for r in roots] == ROOTS


def test_frontier() -> None:
    assert frontier(0) == []
    assert frontier(1) == [(0, 0)]
    assert frontier(8) == [(3, 0)]
    assert frontier(7) == [(2, 0), (1, 2), (0, 6)]
    assert frontier(13) == [(3, 0), (2, 2), (0, 12)]
    with pytest.raises(ValueError, match="size must be >= 0"):
        frontier(-1)


def test_appender_reports_completed_nodes() -> None:
    app = Appender()
    h = [leaf_hash(d) for d in LEAVES]
    assert app.append(h[0]) == [(0, 0, h[0])]
    n01 = node_hash(h[0], h[1])
    assert app.append(h[1]) == [(0, 1, h[1]), (1, 0, n01)]
    assert app.append(h[2]) == [(0, 2, h[2])]
    n23 = node_hash(h[2], h[3])
    assert app.append(h[3]) == [(0, 3, h[3]), (1, 1, n23), (2, 0, node_hash(n01, n23))]
    assert app.size == 4
    assert app.frontier_hashes() == [node_hash(n01, n23)]


def test_appender_resumes_from_its_frontier() -> None:
    nodes, roots = build(LEAVES)
    half = Appender()
    for d in LEAVES[:5]:
        half.append(leaf_hash(d))
    resumed = Appender(half.size, half.frontier_hashes())
    assert resumed.root() == roots[5]
    for d in LEAVES[5:]:
        resumed.append(leaf_hash(d))
    assert resumed.root() == roots[8]
    assert resumed.frontier_hashes() == [nodes[3, 0]]


def test_appender_rejects_bad_state() -> None:
    with pytest.raises(ValueError, match="a tree of 5 leaves has 2 frontier hashes"):
        Appender(5, [EMPTY_ROOT])
    with pytest.raises(ValueError, match="32-byte"):
        Appender(1, [b"short"])
    with pytest.raises(ValueError, match="size must be >= 0"):
        Appender(-1)
    with pytest.raises(ValueError, match="32-byte leaf hash"):
        Appender().append(b"raw entry, not a hash")


# --- proofs against the published vectors --------------------------------------


@pytest.mark.parametrize(("index", "size", "want"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, want: list[str]) -> None:
    nodes, roots = build(LEAVES)
    needed = {n: nodes[n] for n in inclusion_nodes(index, size)}
    proof = inclusion_proof(index, size, needed)
    assert proof == hx(want)
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, roots[size])


@pytest.mark.parametrize(("old", "new", "want"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, want: list[str]) -> None:
    nodes, roots = build(LEAVES)
    needed = {n: nodes[n] for n in consistency_nodes(old, new)}
    proof = consistency_proof(old, new, needed)
    assert proof == hx(want)
    assert verify_consistency(old, new, roots[old], roots[new], proof)


def test_every_proof_in_the_eight_leaf_tree_verifies() -> None:
    nodes, roots = build(LEAVES)
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(index, size, nodes)
            assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, roots[size])
        for old in range(1, size + 1):
            proof = consistency_proof(old, size, nodes)
            assert verify_consistency(old, size, roots[old], roots[size], proof)


def test_production_ct_log_inclusion_proof() -> None:
    leaf, root, path = bytes.fromhex(CT_LEAF), bytes.fromhex(CT_ROOT), hx(CT_PATH)
    assert verify_inclusion(leaf, CT_INDEX, CT_SIZE, path, root)
    assert not verify_inclusion(leaf, CT_INDEX + 1, CT_SIZE, path, root)
    assert not verify_inclusion(leaf, CT_INDEX, CT_SIZE, path[:-1], root)
    assert not verify_inclusion(leaf, CT_INDEX, CT_SIZE, path, flip(root, 31, 7))
    assert len(inclusion_nodes(CT_INDEX, CT_SIZE)) >= len(path)


# --- bad input: verifiers say False, builders name the problem -----------------


def test_verify_inclusion_rejects_bad_input() -> None:
    nodes, roots = build(LEAVES)
    leaf, root = leaf_hash(LEAVES[5]), roots[8]
    proof = inclusion_proof(5, 8, nodes)
    assert verify_inclusion(leaf, 5, 8, proof, root)
    bad: list[tuple[bytes, int, int, list[bytes], bytes]] = [
        (leaf, 4, 8, proof, root),  # wrong index
        (leaf, 8, 8, proof, root),  # index == size
        (leaf, -1, 8, proof, root),
        (leaf, 5, 0, proof, root),
        (leaf, 5, 8, proof[:-1], root),  # too short
        (leaf, 5, 8, [*proof, proof[0]], root),  # too long
        (leaf, 5, 8, [], root),
        (leaf, 5, 8, list(reversed(proof)), root),
        (leaf, 5, 8, [proof[0][:31], *proof[1:]], root),  # short element
        (leaf, 5, 8, [proof[0] + b"\x00", *proof[1:]], root),
        (leaf[:31], 5, 8, proof, root),
        (leaf, 5, 8, proof, root[:31]),
        (leaf_hash(LEAVES[4]), 5, 8, proof, root),  # another leaf
        (LEAVES[5], 5, 8, proof, root),  # the raw entry instead of its hash
        (leaf, 5, 8, proof, roots[7]),
        (leaf, 5, 8, proof[:-1], nodes[2, 1]),  # a truncated proof reaches an inner node, not the root
    ]
    for i in range(len(proof)):
        for byte, bit in ((0, 0), (17, 3), (31, 7)):
            bad.append((leaf, 5, 8, [flip(p, byte, bit) if j == i else p for j, p in enumerate(proof)], root))
    bad.append((flip(leaf), 5, 8, proof, root))
    bad.append((leaf, 5, 8, proof, flip(root)))
    for args in bad:
        assert not verify_inclusion(*args), args
    # Wrong types never raise either.
    assert not verify_inclusion(leaf, 5, 8, [p.hex() for p in proof], root)  # type: ignore[misc]
    assert not verify_inclusion(leaf, "5", 8, proof, root)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf, 5, 8, None, root)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf.hex(), 5, 8, proof, root)  # type: ignore[arg-type]


def test_verify_consistency_rejects_bad_input() -> None:
    nodes, roots = build(LEAVES)
    proof = consistency_proof(6, 8, nodes)
    r6, r8 = roots[6], roots[8]
    assert verify_consistency(6, 8, r6, r8, proof)
    bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (5, 8, r6, r8, proof),
        (8, 6, r8, r6, proof),  # shrinking
        (-1, 8, r6, r8, proof),
        (6, 8, r8, r6, proof),  # roots swapped
        (6, 8, r6, r8, proof[:-1]),  # too short
        (6, 8, r6, r8, [*proof, proof[0]]),  # too long
        (6, 8, r6, r8, []),
        (6, 8, r6, r8, [proof[0][:31], *proof[1:]]),
        (6, 8, r6[:31], r8, proof),
        (6, 8, flip(r6), r8, proof),
        (6, 8, r6, flip(r8, 31, 0), proof),
        (6, 8, flip(r6), flip(r8), proof),
        (6, 6, r6, r6, proof),  # equal sizes: the proof must be empty
        (6, 6, r6, r8, []),  # equal sizes: roots must be equal
        (0, 8, EMPTY_ROOT, r8, proof),  # from empty: the proof must be empty
        (0, 8, r6, r8, []),  # the empty tree has one root
        (6, 8, nodes[1, 2], nodes[2, 1], proof[:-1]),  # a truncated proof reaches inner nodes
    ]
    for i in range(len(proof)):
        for byte, bit in ((0, 0), (17, 3), (31, 7)):
            bad.append((6, 8, r6, r8, [flip(p, byte, bit) if j == i else p for j, p in enumerate(proof)]))
    for args in bad:
        assert not verify_consistency(*args), args
    assert not verify_consistency(6, 8, r6, r8, [p.hex() for p in proof])  # type: ignore[misc]
    assert not verify_consistency(6, 8, r6, r8, None)  # type: ignore[arg-type]
    assert not verify_consistency(6.0, 8, r6, r8, proof)  # type: ignore[arg-type]


def test_verify_consistency_edge_cases() -> None:
    _, roots = build(LEAVES)
    # An empty tree is a prefix of every tree: nothing to prove.
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 8, EMPTY_ROOT, roots[8], [])
    assert verify_consistency(3, 3, roots[3], roots[3], [])
    assert verify_consistency(1, 1, roots[1], roots[1], [])


def test_proofs_commit_to_shape_not_size() -> None:
    """Same paths in trees of 3 and 4 leaves (or 7 and 8): the size is bound by the signed head, not the proof."""
    nodes, roots = build(LEAVES)
    proof = inclusion_proof(0, 3, nodes)
    assert verify_inclusion(leaf_hash(LEAVES[0]), 0, 4, proof, roots[3])
    assert not verify_inclusion(leaf_hash(LEAVES[0]), 0, 4, proof, roots[4])
    proof = consistency_proof(6, 8, nodes)
    assert verify_consistency(6, 7, roots[6], roots[8], proof)
    assert not verify_consistency(6, 7, roots[6], roots[7], proof)


def test_builders_name_the_problem() -> None:
    nodes, _ = build(LEAVES)
    with pytest.raises(ValueError, match="leaf index 8 is not in a tree of 8 leaves"):
        inclusion_nodes(8, 8)
    with pytest.raises(ValueError, match="leaf index -1 is not in a tree of 8 leaves"):
        inclusion_proof(-1, 8, nodes)
    with pytest.raises(ValueError, match="leaf index 0 is not in a tree of 0 leaves"):
        inclusion_proof(0, 0, nodes)
    with pytest.raises(ValueError, match=r"0 < old <= new, got old=0, new=8"):
        consistency_nodes(0, 8)
    with pytest.raises(ValueError, match=r"0 < old <= new, got old=5, new=3"):
        consistency_proof(5, 3, nodes)
    assert consistency_proof(5, 5, {}) == []
    partial = dict(nodes)
    del partial[1, 2]
    with pytest.raises(
        ValueError, match=r"node \(level 1, index 2\) is missing.*inclusion proof of leaf 2 in a tree of 7"
    ):
        inclusion_proof(2, 7, partial)
    with pytest.raises(ValueError, match=r"node \(level 1, index 2\) is missing.*consistency proof from 3 to 7"):
        consistency_proof(3, 7, partial)


# --- a million leaves ----------------------------------------------------------

PERIOD = 1024  # leaf i is the hash of (i mod PERIOD): a real tree, cheap to hash lazily


@cache
def periodic_node(level: int, index: int) -> bytes:
    """The hash of perfect node (level, index) of the tree whose leaf i is leaf_hash((i % PERIOD) as 4 bytes)."""
    if level == 0:
        return leaf_hash((index % PERIOD).to_bytes(4, "big"))
    span = 1 << level
    if span <= PERIOD:
        index %= PERIOD // span  # the subtree repeats with the period
    else:
        index = 0  # every subtree this large covers whole periods
    return node_hash(periodic_node(level - 1, 2 * index), periodic_node(level - 1, 2 * index + 1))


def test_periodic_tree_matches_the_appender() -> None:
    size = 3 * PERIOD + 77
    nodes, roots = build([(i % PERIOD).to_bytes(4, "big") for i in range(size)])
    assert all(periodic_node(*n) == h for n, h in nodes.items())
    assert root_from([periodic_node(*n) for n in frontier(size)]) == roots[size]


def test_proofs_at_a_million_leaves_use_only_the_needed_nodes() -> None:
    size, old, index = 10**6, 777_777, 123_457
    root = root_from([periodic_node(*n) for n in frontier(size)])
    old_root = root_from([periodic_node(*n) for n in frontier(old)])
    inc_needed = inclusion_nodes(index, size)
    con_needed = consistency_nodes(old, size)
    assert len(inc_needed) <= 40 and len(con_needed) <= 40
    inc_nodes = {n: periodic_node(*n) for n in inc_needed}
    con_nodes = {n: periodic_node(*n) for n in con_needed}

    # How long this takes is measured in bench/audit.py, not asserted here.
    inc = inclusion_proof(index, size, inc_nodes)
    con = consistency_proof(old, size, con_nodes)

    leaf = leaf_hash((index % PERIOD).to_bytes(4, "big"))
    assert verify_inclusion(leaf, index, size, inc, root)
    assert not verify_inclusion(leaf, index ^ 1, size, inc, root)
    assert verify_consistency(old, size, old_root, root, con)
    assert not verify_consistency(old + 1, size, old_root, root, con)


# --- canonical JSON --------------------------------------------------------------


def test_canonical_orders_keys_by_utf16_and_drops_whitespace() -> None:
    assert jcs.canonical({"b": 1, "a": {"d": [], "c": None}}) == b'{"a":{"c":null,"d":[]},"b":1}'
    # RFC 8785 3.2.3: UTF-16 code units, so U+1F600 (D83D DE00) sorts before U+FB33.
    assert jcs.canonical({"\ufb33": 1, "\U0001f600": 2, "\x80": 3, "1": 4}) == (
        '{"1":4,"\x80":3,"\U0001f600":2,"\ufb33":1}'.encode()
    )


def test_canonical_numbers() -> None:
    assert jcs.canonical([1.0, -0.0, 0.5, 1e21, 1e20, 1e-7, 1e-6, 123.456, 2**53 - 1, -(2**53 - 1)]) == (
        b"[1,0,0.5,1e+21,100000000000000000000,1e-7,0.000001,123.456,9007199254740991,-9007199254740991]"
    )
    assert jcs.canonical(True) == b"true"


def test_canonical_strings() -> None:
    assert jcs.canonical("é€😀") == '"é€😀"'.encode()
    assert jcs.canonical('\n"\\\x1f/') == b'"\\n\\"\\\\\\u001f/"'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "NaN and infinite"),
        ([2**53], "I-JSON range"),
        ({1: "x"}, "keys must be strings"),
        ({"a": b"bytes"}, "unsupported type"),
        ("\ud800", "non-UTF-8"),
        ({"a": {1, 2}}, "unsupported type"),
    ],
)
def test_canonical_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jcs.canonical(value)


def test_parse_accepts_plain_json() -> None:
    assert jcs.parse('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    assert jcs.parse(b'{"a":"\xc3\xa9"}') == {"a": "é"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"x": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        ("[NaN]", "NaN is not valid JSON"),
        ('{"a": Infinity}', "Infinity is not valid JSON"),
        ("-Infinity", "-Infinity is not valid JSON"),
        ("1e400", "out of range"),
        (b"\xff", "must be UTF-8"),
        (b"\xef\xbb\xbf{}", "invalid JSON"),
        ("{", "invalid JSON"),
        ("", "invalid JSON"),
    ],
)
def test_parse_rejects(text: bytes | str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jcs.parse(text)


def test_is_canonical() -> None:
    assert jcs.is_canonical(b'{"a":1,"b":[true,null]}')
    assert not jcs.is_canonical(b'{"b":1,"a":2}')
    assert not jcs.is_canonical(b'{"a": 1}')
    assert not jcs.is_canonical(b"1.0")
    assert not jcs.is_canonical(b'{"a":1,"a":1}')
    assert not jcs.is_canonical(b"[9007199254740992]")
    assert not jcs.is_canonical(b"[NaN]")
    assert not jcs.is_canonical(b"not json")
    assert not jcs.is_canonical(b'"\\u00e9"')  # JCS writes the character itself
    assert jcs.is_canonical('"é"'.encode())
