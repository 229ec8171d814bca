"""tree.cosignature against every case of tests/vectors/cosignatures.json, plus properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.tree.checkpoint import Checkpoint
from auditlog_tlog.tree.cosignature import (
    MAX_TIMESTAMP,
    Cosignature,
    CosignatureSigner,
    CosignatureVerifier,
    cosignature_message,
    decode_cosignature,
)
from auditlog_tlog.tree.encoding import decode_base64
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.keys import Ed25519Signer, Ed25519Verifier
from auditlog_tlog.tree.note import add_signatures, open_note, parse_signature_lines, sign_note
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.tree.vectors import case_id, load

V = load("cosignatures")


@pytest.mark.parametrize("case", V["signed_message_cases"], ids=case_id)
def test_signed_message(case: dict[str, Any]) -> None:
    message = cosignature_message(case["checkpoint_text"], case["timestamp"])
    assert message == case["expected_message"].encode()


@pytest.mark.parametrize("case", V["layout_cases"], ids=case_id)
def test_layout(case: dict[str, Any]) -> None:
    (sig,) = parse_signature_lines((case["line"] + "\n").encode())
    assert sig.name == case["witness_name"]
    raw = sig.key_id + sig.signature
    assert len(raw) == case["decoded_length"]
    cosig = decode_cosignature(raw)
    assert cosig.key_id.hex() == case["key_id_hex"]
    assert cosig.timestamp == case["timestamp"]
    assert cosig.signature.hex() == case["signature_hex"]
    assert cosig.to_bytes() == raw


@pytest.mark.parametrize("case", V["timestamp_cases"], ids=case_id)
def test_timestamp(case: dict[str, Any]) -> None:
    if case["expect"] == "ok":
        raw = decode_base64(case["signature_b64"], "cosignature")
        cosig = decode_cosignature(raw)
        assert cosig.timestamp == case["timestamp"]
        assert cosig.key_id.hex() == case["key_id_hex"]
        verifier = CosignatureSigner.generate("w").verifier()
        assert verifier.timestamp_of(raw[4:]) == case["timestamp"]
    else:
        with pytest.raises(MalformedError):
            decode_cosignature(decode_base64(case["signature_b64"], "cosignature"))


@pytest.mark.parametrize("case", V["vkey_cases"], ids=case_id)
def test_vkey(case: dict[str, Any]) -> None:
    vkey = case["vkey"]
    if case["expect"] == "invalid":
        with pytest.raises(MalformedError):
            parse_vkey(vkey)
        with pytest.raises(MalformedError):
            CosignatureVerifier.from_vkey(vkey)
    elif case["type"] == 4:
        verifier = CosignatureVerifier.from_vkey(vkey)
        assert verifier.vkey() == vkey
        assert isinstance(parse_vkey(vkey), CosignatureVerifier)
    else:
        plain = parse_vkey(vkey)
        assert isinstance(plain, Ed25519Verifier) and plain.vkey() == vkey
        with pytest.raises(MalformedError, match="want 0x04"):
            CosignatureVerifier.from_vkey(vkey)
        converted = CosignatureVerifier(plain.name, plain.public_key).vkey()
        assert converted in [c["vkey"] for c in V["vkey_cases"] if c.get("type") == 4]


@pytest.mark.parametrize("case", V["cosignature_cases"], ids=case_id)
def test_deterministic_cosignature(case: dict[str, Any]) -> None:
    seed = bytes.fromhex(case["witness_seed_hex"])
    signer = CosignatureSigner(case["witness_name"], seed)
    assert signer.public_key.hex() == case["witness_public_key_hex"]
    assert signer.vkey() == case["witness_vkey"]
    assert signer.verifier().vkey() == case["witness_vkey"]
    text, ts = case["checkpoint_text"], case["timestamp"]
    assert cosignature_message(text, ts) == case["expected_message"].encode()
    line = signer.cosignature_line(text, ts)
    assert line == case["expected_cosignature_line"].encode()
    cosigned = add_signatures(case["checkpoint_note"].encode(), line)
    assert cosigned == case["expected_cosigned_note"].encode()
    log = parse_vkey(case["log_vkey"])
    assert log.key_id.hex() == case["log_vkey"].split("+", 2)[1]
    opened = open_note(cosigned, [log, signer.verifier()])
    assert [v.name for v in opened.verified] == [log.name, signer.name]
    assert signer.verifier().timestamp_of(signer.cosign(text, ts).signature) == ts
    # The witness skey is x/mod's: same string as the type 0x01 signer of that seed.
    assert signer.skey() == Ed25519Signer(case["witness_name"], seed).skey()
    assert CosignatureSigner.from_skey(signer.skey()).vkey() == signer.vkey()


@pytest.mark.parametrize("case", V["verify_cases"], ids=case_id)
def test_verify(case: dict[str, Any]) -> None:
    verifier = CosignatureVerifier.from_vkey(case["witness_vkey"])
    note = case["note"].encode()
    if case["expect"] == "valid":
        opened = open_note(note, [verifier])
        assert [v.name for v in opened.verified] == case["verified_names"]
    else:
        match = {"invalid-signature": "invalid signature"}.get(case["expect"], "no verifiable")
        with pytest.raises(VerificationError, match=match):
            open_note(note, [verifier])


def test_cosigner_is_not_a_note_signer() -> None:
    signer = CosignatureSigner.generate("witness.example/w1")
    assert not hasattr(signer, "sign")
    assert signer.key_id != Ed25519Signer(signer.name, b"\0" * 32).key_id
    assert "PRIVATE" not in repr(signer)


def test_cosign_checks_its_inputs() -> None:
    signer = CosignatureSigner.generate("w")
    text = Checkpoint("example.com/log", 1, bytes(32)).to_text()
    with pytest.raises(MalformedError):
        signer.cosign("not a checkpoint\n", 1)
    for ts in (-1, MAX_TIMESTAMP + 1):
        with pytest.raises(ValueError):
            signer.cosign(text, ts)
    with pytest.raises(ValueError):
        cosignature_message("no newline", 1)


def test_verify_rejects_bad_shapes() -> None:
    signer = CosignatureSigner.generate("w")
    verifier = signer.verifier()
    text = Checkpoint("example.com/log", 1, bytes(32)).to_text()
    sig = signer.cosign(text, 0).signature
    assert verifier.verify(text.encode(), sig)
    assert not verifier.verify(text.encode(), sig[:-1])
    assert not verifier.verify(text.encode(), b"\x80" + sig[1:])  # timestamp >= 2^63
    assert not verifier.verify(text.encode() + b"x\n", sig)
    with pytest.raises(MalformedError):
        verifier.timestamp_of(b"\xff" * 72)
    with pytest.raises(MalformedError):
        decode_cosignature(b"\0" * 4 + b"\xff" * 72)
    # A cosignature does not verify as a plain Ed25519 note signature, nor the reverse.
    log = Ed25519Signer("w", b"\1" * 32)
    signed = sign_note(text, [log])
    with pytest.raises(VerificationError):
        open_note(signed, [CosignatureSigner("w", b"\1" * 32).verifier()])


@settings(max_examples=30)
@given(
    st.builds(
        Checkpoint,
        st.sampled_from(["example.com/log", "go.sum database tree"]),
        st.integers(0, 2**64 - 1),
        st.binary(min_size=32, max_size=32),
        st.lists(st.sampled_from(["ext", "a b"]), max_size=2).map(tuple),
    ),
    st.integers(0, MAX_TIMESTAMP),
)
def test_cosign_round_trip(checkpoint: Checkpoint, timestamp: int) -> None:
    signer = CosignatureSigner("witness.example", b"\7" * 32)
    text = checkpoint.to_text()
    log = Ed25519Signer("log", b"\5" * 32)
    cosigned = add_signatures(sign_note(text, [log]), signer.cosignature_line(text, timestamp))
    opened = open_note(cosigned, [signer.verifier()])
    (sig,) = (s for s in opened.note.signatures if s.name == signer.name)
    assert decode_cosignature(sig.key_id + sig.signature).timestamp == timestamp


@given(
    st.binary(min_size=4, max_size=4),
    st.integers(0, MAX_TIMESTAMP),
    st.binary(min_size=64, max_size=64),
)
def test_cosignature_bytes_round_trip(kid: bytes, timestamp: int, sig: bytes) -> None:
    cosig = Cosignature(kid, timestamp, sig)
    assert decode_cosignature(cosig.to_bytes()) == cosig


@given(st.binary(max_size=100))
def test_garbage_raises_only_malformed(data: bytes) -> None:
    try:
        cosig = decode_cosignature(data)
    except MalformedError:
        return
    assert cosig.to_bytes() == data
