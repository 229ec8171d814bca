"""tests/vectors/merkle.json: every root, node hash and proof of the 8-leaf RFC 6962 tree.

Each proof is generated (plan + fold over the vector's node hashes) and compared with the vector,
then verified; the naive reference of tests/tree/reference.py is pinned to the same vectors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.tree.compact import CompactRange, root_of
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.nodes import NodeID, decompose
from auditlog_tlog.tree.proof import consistency_plan, inclusion_plan
from auditlog_tlog.tree.verify import verify_consistency, verify_inclusion
from tests.tree import reference

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "merkle.json").read_text(encoding="utf-8")
)
LEAVES = [SHA256.hash_leaf(bytes.fromhex(entry)) for entry in VECTORS["leaves_hex"]]
ROOTS = {int(size): bytes.fromhex(root) for size, root in VECTORS["roots"].items()}
NODES = {
    NodeID(level, index): bytes.fromhex(value)
    for level, row in enumerate(VECTORS["node_hashes"])
    for index, value in enumerate(row)
}
EXAMPLE: dict[str, Any] = VECTORS["rfc6962_example"]


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def _fetch(ids: tuple[NodeID, ...], size: int) -> list[bytes]:
    """Read node hashes the way storage would, refusing nodes not complete at ``size``."""
    for node in ids:
        assert node.end <= size, f"{node} is not complete in the tree of size {size}"
    return [NODES[node] for node in ids]


def test_schema_is_the_one_these_tests_read() -> None:
    assert VECTORS["schema"].startswith("RFC 6962 / RFC 9162 SHA-256 Merkle tree")
    assert len(VECTORS["inclusion"]) == 36
    assert len(VECTORS["consistency"]) == 36


def test_empty_root() -> None:
    assert SHA256.empty_root() == bytes.fromhex(VECTORS["empty_root"]) == ROOTS[0]
    assert root_of(SHA256, []) == ROOTS[0]
    assert reference.mth(SHA256, []) == ROOTS[0]


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    assert root_of(SHA256, LEAVES[:size]) == ROOTS[size]
    assert reference.mth(SHA256, LEAVES[:size]) == ROOTS[size]


def test_node_hashes_are_what_the_visitor_reports() -> None:
    seen: dict[NodeID, bytes] = {}

    def visit(node: NodeID, value: bytes) -> None:
        assert node not in seen
        seen[node] = value

    compact = CompactRange(SHA256)
    compact.extend(LEAVES, visit)
    assert seen == NODES
    assert reference.complete_nodes(SHA256, LEAVES) == NODES


@pytest.mark.parametrize("size", range(9))
def test_compact_range_from_stored_nodes(size: int) -> None:
    stored = CompactRange(SHA256, 0, size, [NODES[node] for node in decompose(0, size)])
    assert stored.root() == ROOTS[size]
    appended = CompactRange(SHA256)
    appended.extend(LEAVES[:size])
    assert appended.hashes == stored.hashes


@pytest.mark.parametrize(
    "case", VECTORS["inclusion"], ids=lambda c: f"index{c['index']}-size{c['size']}"
)
def test_inclusion(case: dict[str, Any]) -> None:
    index, size, want = case["index"], case["size"], _hashes(case["path"])
    plan = inclusion_plan(index, size)
    proof = plan.fold(SHA256, _fetch(plan.ids, size))
    assert list(proof) == want
    assert reference.path(SHA256, index, LEAVES[:size]) == want
    verify_inclusion(SHA256, index, size, LEAVES[index], want, ROOTS[size])


@pytest.mark.parametrize(
    "case", VECTORS["consistency"], ids=lambda c: f"size{c['size1']}-size{c['size2']}"
)
def test_consistency(case: dict[str, Any]) -> None:
    size1, size2, want = case["size1"], case["size2"], _hashes(case["path"])
    plan = consistency_plan(size1, size2)
    proof = plan.fold(SHA256, _fetch(plan.ids, size2))
    assert list(proof) == want
    assert reference.proof(SHA256, size1, LEAVES[:size2]) == want
    verify_consistency(SHA256, size1, size2, want, ROOTS[size1], ROOTS[size2])


def test_rfc6962_example_nodes() -> None:
    names = {name: bytes.fromhex(node["hash"]) for name, node in EXAMPLE["nodes"].items()}
    for name, node in EXAMPLE["nodes"].items():
        begin, end = node["covers"]
        assert reference.mth(SHA256, LEAVES[begin:end]) == names[name], name
    assert names["l"] == SHA256.hash_children(names["i"], names["j"])
    assert bytes.fromhex(EXAMPLE["hash"]) == ROOTS[7] == root_of(SHA256, LEAVES[:7])
    g, c, k, i = names["g"], names["c"], names["k"], names["i"]
    assert bytes.fromhex(EXAMPLE["hash0_size3"]["hash"]) == SHA256.hash_children(g, c) == ROOTS[3]
    assert bytes.fromhex(EXAMPLE["hash1_size4"]["hash"]) == k == ROOTS[4]
    assert bytes.fromhex(EXAMPLE["hash2_size6"]["hash"]) == SHA256.hash_children(k, i) == ROOTS[6]


@pytest.mark.parametrize("case", EXAMPLE["inclusion"], ids=lambda c: str(c["leaf"]))
def test_rfc6962_example_inclusion(case: dict[str, Any]) -> None:
    names = {name: bytes.fromhex(node["hash"]) for name, node in EXAMPLE["nodes"].items()}
    want = [names[name] for name in case["path_names"]]
    assert _hashes(case["path"]) == want
    index, size = case["index"], EXAMPLE["size"]
    plan = inclusion_plan(index, size)
    assert list(plan.fold(SHA256, _fetch(plan.ids, size))) == want
    verify_inclusion(SHA256, index, size, LEAVES[index], want, ROOTS[size])


@pytest.mark.parametrize("case", EXAMPLE["consistency"], ids=lambda c: f"size{c['size1']}")
def test_rfc6962_example_consistency(case: dict[str, Any]) -> None:
    names = {name: bytes.fromhex(node["hash"]) for name, node in EXAMPLE["nodes"].items()}
    want = [names[name] for name in case["path_names"]]
    assert _hashes(case["path"]) == want
    size1, size2 = case["size1"], case["size2"]
    assert size2 == EXAMPLE["size"]
    plan = consistency_plan(size1, size2)
    assert list(plan.fold(SHA256, _fetch(plan.ids, size2))) == want
    verify_consistency(SHA256, size1, size2, want, ROOTS[size1], ROOTS[size2])
