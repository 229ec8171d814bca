"""tree.tlogproof: c2sp.org/tlog-proof@v1 receipts, end to end with a real tree and witness."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import add_signatures, sign_note
from auditlog_tlog.tree.tlogproof import (
    HEADER,
    TlogProof,
    format_tlog_proof,
    open_tlog_proof,
    parse_tlog_proof,
)
from auditlog_tlog.tree.verify import MAX_INCLUSION_HASHES, verify_inclusion

LOG = Ed25519Signer("example.com/fancylog", b"\2" * 32)
WITNESS = CosignatureSigner("witness1.example", b"\3" * 32)
LEAVES = [SHA256.hash_leaf(b"entry %d" % i) for i in range(13)]


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, recursively."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return SHA256.hash_children(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]), leaf's sibling first."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _checkpoint_note(size: int) -> bytes:
    text = Checkpoint(LOG.name, size, _mth(LEAVES[:size])).to_text()
    return add_signatures(sign_note(text, [LOG]), WITNESS.cosignature_line(text, 1700000000))


NOTE = _checkpoint_note(13)


def test_end_to_end() -> None:
    proof = TlogProof(5, tuple(_path(5, LEAVES)), NOTE, extra=b"age-v1.2.1-darwin-arm64.tar.gz")
    data = format_tlog_proof(proof)
    assert data.startswith(f"{HEADER}\nextra ".encode())
    assert b"\nindex 5\n" in data
    parsed, checkpoint, opened = open_tlog_proof(
        data, [LOG.verifier(), WITNESS.verifier()], origin=LOG.name
    )
    assert parsed == proof
    assert [v.name for v in opened.verified] == [LOG.name, WITNESS.name]
    verify_inclusion(
        SHA256, parsed.index, checkpoint.size, LEAVES[5], parsed.proof, checkpoint.root
    )
    with pytest.raises(VerificationError):
        open_tlog_proof(data, [Ed25519Signer.generate(LOG.name).verifier()])
    with pytest.raises(VerificationError, match="origin"):
        open_tlog_proof(data, [LOG.verifier()], origin="example.com/other")


def test_layout_without_extra() -> None:
    proof = TlogProof(0, tuple(_path(0, LEAVES[:1])), _checkpoint_note(1))
    data = format_tlog_proof(proof)
    assert data == f"{HEADER}\nindex 0\n\n".encode() + proof.checkpoint
    assert parse_tlog_proof(data) == proof


GOOD = f"{HEADER}\nindex 5\n".encode() + base64.b64encode(bytes(32)) + b"\n\n" + NOTE


@pytest.mark.parametrize(
    "data",
    [
        GOOD.replace(b"@v1", b"@v2"),
        GOOD.replace(b"index 5", b"index 05"),
        GOOD.replace(b"index 5", b"index  5"),
        GOOD.replace(b"index 5", b"Index 5"),
        GOOD.replace(b"index 5", b"index -5"),
        GOOD.replace(b"index 5", b"index 18446744073709551616"),
        GOOD.replace(b"index 5\n", b""),
        GOOD.replace(b"index 5\n", b"extra YQ==\n"),  # extra but no index
        GOOD.replace(b"index 5", b"extra \nindex 5"),  # empty extra is not canonical
        GOOD.replace(b"index 5", b"extra YR==\nindex 5"),  # non-canonical base64
        GOOD.replace(b"index 5", b"index 5\nextra YQ=="),  # extra after index
        GOOD.replace(b"index 5", b"extra YQ==\nextra YQ==\nindex 5"),
        GOOD.replace(b"=\n\n", b"\n\n"),  # proof hash without padding
        GOOD.replace(b"\n\n", b"\n", 1),  # no empty line
        GOOD.replace(b"\nindex", b"\r\nindex"),
        GOOD[:-1],  # checkpoint note without its final newline
        GOOD.replace(b"\n13\n", b"\n013\n"),  # note text is not a checkpoint
        f"{HEADER}\nindex 5\n".encode() + (base64.b64encode(bytes(32)) + b"\n") * 65 + b"\n" + NOTE,
        b"",
        b"\n\n",
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_tlog_proof(data)


def test_limits() -> None:
    many = (bytes(32),) * MAX_INCLUSION_HASHES
    assert parse_tlog_proof(format_tlog_proof(TlogProof(1, many, NOTE))).proof == many
    with pytest.raises(MalformedError, match="at most"):
        parse_tlog_proof(GOOD, max_size=len(GOOD) - 1)
    calls: list[Callable[[], object]] = [
        lambda: TlogProof(-1, (), NOTE),
        lambda: TlogProof(0, (bytes(32),) * (MAX_INCLUSION_HASHES + 1), NOTE),
        lambda: TlogProof(0, (bytes(31),), NOTE),
        lambda: TlogProof(0, (), b"x\n\n"),
        lambda: TlogProof(0, (), NOTE, extra=b"x" * 70000),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()


PROOFS = st.builds(
    TlogProof,
    st.integers(0, 2**64 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_INCLUSION_HASHES).map(tuple),
    st.just(NOTE),
    st.binary(max_size=100),
)


@given(PROOFS)
def test_round_trip(proof: TlogProof) -> None:
    assert parse_tlog_proof(format_tlog_proof(proof)) == proof


@given(PROOFS, st.data())
def test_mutations_raise_only_malformed(proof: TlogProof, data: st.DataObject) -> None:
    raw = bytearray(format_tlog_proof(proof))
    pos = data.draw(st.integers(0, len(raw) - 1))
    op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
    if op == "flip":
        raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "delete":
        del raw[pos]
    else:
        raw.insert(pos, data.draw(st.sampled_from(b"\n 0aA=+/\xe2\x80\x94\xff")))
    try:
        parsed = parse_tlog_proof(bytes(raw))
    except MalformedError:
        return
    assert format_tlog_proof(parsed) == bytes(raw)
