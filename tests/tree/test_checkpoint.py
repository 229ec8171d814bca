"""tree.checkpoint: the checkpoints of notes.json and cosignatures.json, strictness, properties."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.tree.checkpoint import MAX_EXTENSION_LINES, Checkpoint, open_checkpoint, parse_checkpoint
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import sign_note
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.tree.vectors import case_id, load, note_bytes

NOTES = load("notes")
WITH_CHECKPOINT = [c for c in NOTES["cases"] if "checkpoint" in c]
NOT_A_CHECKPOINT = [c for c in NOTES["cases"] if c["name"].startswith("formats-parse-checkpoint")]
ROOT = bytes(range(32))
GOOD = "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"


@pytest.mark.parametrize("case", WITH_CHECKPOINT, ids=case_id)
def test_vector_checkpoints(case: dict[str, Any]) -> None:
    want = case["checkpoint"]
    checkpoint = parse_checkpoint(case["text"])
    assert checkpoint == Checkpoint(want["origin"], want["size"], bytes.fromhex(want["root_hex"]))
    assert checkpoint.to_text() == case["text"]
    if case["expect"] == "valid":
        verifiers = [parse_vkey(v) for v in case["vkeys"]]
        got, opened = open_checkpoint(note_bytes(case), verifiers, origin=want["origin"])
        assert got == checkpoint
        assert [v.name for v in opened.verified] == case["verified_names"]
        with pytest.raises(VerificationError, match="origin"):
            open_checkpoint(note_bytes(case), verifiers, origin="example.com/other")


@pytest.mark.parametrize("case", NOT_A_CHECKPOINT, ids=case_id)
def test_six_byte_root_is_not_a_checkpoint(case: dict[str, Any]) -> None:
    with pytest.raises(MalformedError, match="got 6 bytes, want 32"):
        parse_checkpoint(case["text"])
    # Malformed is reported before any signature is looked at, whatever the keys.
    with pytest.raises(MalformedError):
        open_checkpoint(note_bytes(case), [parse_vkey(v) for v in case["vkeys"]])
    with pytest.raises(MalformedError):
        open_checkpoint(note_bytes(case), [])


@pytest.mark.parametrize("case", load("cosignatures")["cosignature_cases"], ids=case_id)
def test_cosignature_vector_checkpoints(case: dict[str, Any]) -> None:
    checkpoint, opened = open_checkpoint(
        case["checkpoint_note"].encode(), [parse_vkey(case["log_vkey"])]
    )
    assert checkpoint.to_text() == case["checkpoint_text"]
    assert opened.note.text == case["checkpoint_text"]


def test_open_checkpoint_errors() -> None:
    log = Ed25519Signer.generate("example.com/log")
    signed = sign_note(GOOD, [log])
    checkpoint, _ = open_checkpoint(signed, [log.verifier()], origin="example.com/log")
    assert checkpoint == Checkpoint("example.com/log", 5, ROOT)
    with pytest.raises(VerificationError, match="no verifiable signature"):
        open_checkpoint(signed, [Ed25519Signer.generate("example.com/log").verifier()])
    with pytest.raises(MalformedError):
        open_checkpoint(signed[:-1], [log.verifier()])


@pytest.mark.parametrize(
    "text",
    [
        "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",  # no final newline
        "example.com/log\n5\n",  # two lines
        "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # empty origin
        "example.com/log\n05\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # leading zero
        "example.com/log\n+5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n-5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n 5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n٥\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # Arabic-Indic 5
        "example.com/log\n18446744073709551616\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n",  # padding bits
        "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",  # no padding
        "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n",  # 31 bytes
        "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n",  # empty extension
        "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nex\tt\n",  # tab
        "example.com/log\r\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # CR
        GOOD + "e\n" * (MAX_EXTENSION_LINES + 1),
    ],
)
def test_non_canonical_text(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(text)


def test_extensions_and_edges() -> None:
    text = GOOD + "ext one\n— two\n"
    checkpoint = parse_checkpoint(text)
    assert checkpoint.extensions == ("ext one", "— two")
    assert checkpoint.to_text() == text
    assert parse_checkpoint(GOOD.replace("\n5\n", "\n0\n")).size == 0
    big = GOOD.replace("\n5\n", "\n18446744073709551615\n")
    assert parse_checkpoint(big).size == 2**64 - 1
    assert parse_checkpoint("go.sum database tree" + GOOD[15:]).origin == "go.sum database tree"


def test_misuse_is_value_error() -> None:
    calls: list[Callable[[], object]] = [
        lambda: Checkpoint("", 1, ROOT),
        lambda: Checkpoint("a\nb", 1, ROOT),
        lambda: Checkpoint("o", -1, ROOT),
        lambda: Checkpoint("o", 2**64, ROOT),
        lambda: Checkpoint("o", True, ROOT),
        lambda: Checkpoint("o", 1, ROOT[:31]),
        lambda: Checkpoint("o", 1, ROOT, ("",)),
    ]
    for bad in calls:
        with pytest.raises(ValueError):
            bad()


LINES = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="".join(map(chr, range(32)))),
    min_size=1,
    max_size=30,
)
CHECKPOINTS = st.builds(
    Checkpoint,
    LINES,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(LINES, max_size=3).map(tuple),
)


@given(CHECKPOINTS)
def test_round_trip(checkpoint: Checkpoint) -> None:
    assert parse_checkpoint(checkpoint.to_text()) == checkpoint


@given(st.text(alphabet=st.sampled_from("ab0159+/=A\n \t—"), max_size=80))
def test_garbage_raises_only_malformed(text: str) -> None:
    try:
        checkpoint = parse_checkpoint(text)
    except MalformedError:
        return
    assert checkpoint.to_text() == text
