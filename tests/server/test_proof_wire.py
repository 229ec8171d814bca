"""server/convert.py writes the two proof responses itself: byte for byte what protobuf writes
for the same message, for any values, and what any protobuf reader reads back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.convert import consistency_response_bytes, inclusion_response_bytes
from auditlog_tlog.server.runtime import Inclusion

uint64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 127, 128, 2**63, 2**64 - 1]))
hashes = st.lists(st.binary(min_size=32, max_size=32), max_size=64)


@given(uint64, uint64, st.one_of(st.just(b""), st.binary(min_size=32, max_size=32)), hashes,
       st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_inclusion_response_is_protobufs(index: int, size: int, leaf: bytes, proof: list[bytes],
                                         checkpoint: bytes) -> None:
    ours = inclusion_response_bytes(Inclusion(index, size, leaf, tuple(proof), checkpoint))
    message = pb.GetInclusionProofResponse(index=index, tree_size=size, leaf_hash=leaf,
                                           proof=proof, checkpoint=checkpoint)
    assert ours == message.SerializeToString(deterministic=True)
    assert pb.GetInclusionProofResponse.FromString(ours) == message


@given(uint64, uint64, hashes)
@settings(max_examples=200, deadline=None)
def test_consistency_response_is_protobufs(size1: int, size2: int, proof: list[bytes]) -> None:
    ours = consistency_response_bytes(size1, size2, proof)
    message = pb.GetConsistencyProofResponse(size1=size1, size2=size2, proof=proof)
    assert ours == message.SerializeToString(deterministic=True)
    assert pb.GetConsistencyProofResponse.FromString(ours) == message


def test_a_hash_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="got lengths \\[31, 32\\], want 32"):
        consistency_response_bytes(1, 2, [bytes(32), bytes(31)])


def test_an_inclusion_hash_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="got lengths \\[31, 32\\], want 32"):
        inclusion_response_bytes(Inclusion(1, 2, bytes(32), (bytes(31),), b""))
    with pytest.raises(ValueError, match="got lengths \\[31, 32\\], want 32"):
        inclusion_response_bytes(Inclusion(1, 2, bytes(31), (bytes(32),), b""))
