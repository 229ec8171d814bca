"""tree.witness_protocol: the add-checkpoint body of c2sp.org/tlog-witness and the 409 size body."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import parse_signature_lines, sign_note
from auditlog_tlog.tree.witness_protocol import (
    MAX_PROOF_LINES,
    AddCheckpointRequest,
    format_add_checkpoint,
    format_size_body,
    parse_add_checkpoint,
    parse_size_body,
)

# The example request of C2SP tlog-witness.md ("add-checkpoint"); its signatures are illustrative
# (no published key), so it is a syntax vector only.
SPEC_EXAMPLE = """old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcy\
v2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V626\
7UEjw6QUXTS5Rovnzv++qbSzm9Q=
""".encode()

SPEC_RESPONSE = """\
— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXD\
qI5G2HgLatVs0pWh6Up69HVOw==
— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+U\
fzuOBMh9ChdMkP1vi/lCAsmlw==
— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm\
/kWl7oJlqU3rXXvpysAdyP3wQ==
""".encode()

LOG = Ed25519Signer("example.com/log", b"\1" * 32)
NOTE = sign_note(Checkpoint("example.com/log", 8, bytes(range(32))).to_text(), [LOG])
HASH = base64.b64encode(bytes(32))


def test_spec_example() -> None:
    req = parse_add_checkpoint(SPEC_EXAMPLE)
    assert req.old_size == 20852014
    assert len(req.proof) == 4
    assert req.proof[0] == base64.b64decode("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=")
    assert req.checkpoint.startswith(b"example.com/behind-the-sofa\n20852163\n")
    assert format_add_checkpoint(req) == SPEC_EXAMPLE


def test_spec_response_is_signature_lines() -> None:
    names = [s.name for s in parse_signature_lines(SPEC_RESPONSE)]
    assert names == ["witness.example/w1", "witness.example/w1", "witness.example/w2"]
    assert all(len(s.signature) == 72 for s in parse_signature_lines(SPEC_RESPONSE))


def test_edges() -> None:
    assert parse_add_checkpoint(b"old 0\n\n" + NOTE) == AddCheckpointRequest(0, (), NOTE)
    full = b"old 7\n" + (HASH + b"\n") * MAX_PROOF_LINES + b"\n" + NOTE
    assert len(parse_add_checkpoint(full).proof) == MAX_PROOF_LINES
    # Syntax only: the witness, not the parser, answers old > size (400), a proof for old 0 (422).
    assert parse_add_checkpoint(b"old 9\n\n" + NOTE).old_size == 9
    assert parse_add_checkpoint(b"old 0\n" + HASH + b"\n\n" + NOTE).proof == (bytes(32),)


@pytest.mark.parametrize(
    "body",
    [
        b"old 7\n" + (HASH + b"\n") * (MAX_PROOF_LINES + 1) + b"\n" + NOTE,  # 64 proof lines
        b"old 07\n\n" + NOTE,
        b"old -7\n\n" + NOTE,
        b"old  7\n\n" + NOTE,
        b"old 7 \n\n" + NOTE,
        b"Old 7\n\n" + NOTE,
        b"old\n\n" + NOTE,
        b"old 18446744073709551616\n\n" + NOTE,
        b"old 7\r\n\n" + NOTE,
        b"old 7\n" + NOTE,  # no empty line before the note
        b"\nold 7\n\n" + NOTE,
        b"old 7\n" + HASH[:-2] + b"==\n\n" + NOTE,  # a 31-byte hash
        b"old 7\n" + base64.b64encode(bytes(31)) + b"\n\n" + NOTE,
        b"old 7\n" + HASH[:-1] + b"\n\n" + NOTE,
        b"old 7\n" + HASH + b" \n\n" + NOTE,
        "old 7\n\u00e9\n\n".encode() + NOTE,
        b"old 7\n\n" + NOTE[:-1],  # note without its final newline
        b"old 7\n\n" + NOTE.replace(b"\n8\n", b"\n08\n"),  # note text is not a checkpoint
        b"old 7\n\n",
        b"old 7\n\n\n" + NOTE,
        b"",
    ],
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_add_checkpoint(body)


def test_size_cap() -> None:
    body = b"old 0\n\n" + NOTE
    with pytest.raises(MalformedError, match="at most"):
        parse_add_checkpoint(body, max_size=len(body) - 1)


def test_misuse_is_value_error() -> None:
    for call in (
        lambda: AddCheckpointRequest(-1, (), NOTE),
        lambda: AddCheckpointRequest(0, (bytes(31),), NOTE),
        lambda: AddCheckpointRequest(0, (bytes(32),) * 64, NOTE),
        lambda: AddCheckpointRequest(0, (), b"not a note"),
        lambda: format_size_body(-1),
    ):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("size", [0, 1, 42, 2**64 - 1])
def test_size_body(size: int) -> None:
    assert parse_size_body(format_size_body(size)) == size
    assert format_size_body(size) == f"{size}\n".encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\n",
        b"42",
        b"042\n",
        b"-1\n",
        b"42\n\n",
        b" 42\n",
        b"4 2\n",
        b"18446744073709551616\n",
        "٤٢\n".encode(),
    ],
)
def test_size_body_malformed(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_size_body(body)


REQUESTS = st.builds(
    AddCheckpointRequest,
    st.integers(0, 2**64 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_PROOF_LINES).map(tuple),
    st.just(NOTE),
)


@given(REQUESTS)
def test_round_trip(req: AddCheckpointRequest) -> None:
    assert parse_add_checkpoint(format_add_checkpoint(req)) == req


@given(REQUESTS, st.data())
def test_mutations_raise_only_malformed(req: AddCheckpointRequest, data: st.DataObject) -> None:
    body = bytearray(format_add_checkpoint(req))
    pos = data.draw(st.integers(0, len(body) - 1))
    op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
    if op == "flip":
        body[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif op == "delete":
        del body[pos]
    else:
        body.insert(pos, data.draw(st.sampled_from(b"\n 0aA=+/\xe2\x80\x94\xff")))
    try:
        parsed = parse_add_checkpoint(bytes(body))
    except MalformedError:
        return
    assert format_add_checkpoint(parsed) == bytes(body)


@given(st.binary(max_size=100))
def test_size_body_garbage(body: bytes) -> None:
    try:
        size = parse_size_body(body)
    except MalformedError:
        return
    assert format_size_body(size) == body
