"""tree.note against every case of tests/vectors/notes.json, plus properties of the parser."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.tree.cosignature import CosignatureVerifier
from auditlog_tlog.tree.encoding import decode_base64
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.keys import Ed25519Signer, Ed25519Verifier, NoteSigner, NoteVerifier, key_id
from auditlog_tlog.tree.note import (
    MAX_SIGNATURES,
    Note,
    Signature,
    add_signatures,
    format_note,
    open_note,
    parse_note,
    parse_signature_lines,
    sign_note,
)
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.tree.vectors import case_id, load, note_bytes

V = load("notes")
PETER = next(k for k in V["key_pairs"] if k["name"] == "PeterNeumann")
PETER_NOTE = note_bytes(V["sign_cases"][0] | {"note": V["sign_cases"][0]["expect_note"]})


@pytest.mark.parametrize("case", V["cases"], ids=case_id)
def test_note_case(case: dict[str, Any]) -> None:
    verifiers = [parse_vkey(v) for v in case["vkeys"]]
    data = note_bytes(case)
    expect = case["expect"]
    if expect == "malformed":
        with pytest.raises(MalformedError):
            parse_note(data)
        with pytest.raises(MalformedError):
            open_note(data, verifiers)
        return
    note = parse_note(data)
    assert format_note(note) == data  # every well-formed vector note is canonical
    if expect == "valid":
        opened = open_note(data, verifiers)
        assert [v.name for v in opened.verified] == case["verified_names"]
        assert opened.note.text == case["text"]
        if "unverified_names" in case:
            assert [s.name for s in opened.unverified] == case["unverified_names"]
        return
    raises: dict[str, tuple[type[Exception], str]] = {
        "no-verifiable-signature": (VerificationError, "no verifiable signature"),
        "invalid-signature": (VerificationError, "invalid signature"),
        "ambiguous-key": (ValueError, "ambiguous key"),
    }
    exc, match = raises[expect]
    with pytest.raises(exc, match=match):
        open_note(data, verifiers)


@pytest.mark.parametrize("case", V["vkey_cases"], ids=case_id)
def test_vkey_case(case: dict[str, Any]) -> None:
    if case["expect"] == "valid":
        verifier = Ed25519Verifier.from_vkey(case["vkey"])
        assert verifier.vkey() == case["vkey"]
        assert isinstance(parse_vkey(case["vkey"]), Ed25519Verifier)
    else:
        with pytest.raises(MalformedError):
            parse_vkey(case["vkey"])
        with pytest.raises(MalformedError):
            Ed25519Verifier.from_vkey(case["vkey"])


@pytest.mark.parametrize("vkey", V["vkey_mutation_cases"]["vkeys"])
def test_vkey_mutation(vkey: str) -> None:
    assert V["vkey_mutation_cases"]["expect"] == "invalid"
    with pytest.raises(MalformedError):
        parse_vkey(vkey)


@pytest.mark.parametrize("pair", V["key_pairs"], ids=case_id)
def test_key_pair(pair: dict[str, Any]) -> None:
    signer = Ed25519Signer.from_skey(pair["skey"])
    assert signer.skey() == pair["skey"]
    assert signer.vkey() == pair["vkey"]
    assert signer.name == pair["name"]
    assert signer.public_key.hex() == pair["public_key_hex"]
    derived = Ed25519Signer(pair["name"], bytes.fromhex(pair["seed_hex"]))
    assert (derived.skey(), derived.vkey()) == (pair["skey"], pair["vkey"])
    assert derived.verifier().vkey() == pair["vkey"]
    assert derived.key_id == key_id(pair["name"], 0x01, derived.public_key)
    assert pair["seed_hex"] not in repr(signer) and "PRIVATE" not in repr(signer)


@pytest.mark.parametrize("case", V["sign_cases"], ids=case_id)
def test_sign_case(case: dict[str, Any]) -> None:
    signer = Ed25519Signer.from_skey(case["skey"])
    signed = sign_note(case["text"], [signer])
    assert signed == case["expect_note"].encode()
    assert open_note(signed, [signer.verifier()]).verified[0].name == signer.name


@pytest.mark.parametrize("case", V["sign_error_cases"], ids=case_id)
def test_sign_error_case(case: dict[str, Any]) -> None:
    assert case["expect"] == "malformed"
    with pytest.raises(MalformedError):
        sign_note(case["text"], [Ed25519Signer.from_skey(case["skey"])])


def test_protocols_are_satisfied() -> None:
    signer: NoteSigner = Ed25519Signer.generate("example.com/log")
    verifier: NoteVerifier = Ed25519Signer.generate("example.com/log").verifier()
    assert len(signer.key_id) == len(verifier.key_id) == 4


def test_cosignature_vkey_dispatch() -> None:
    vkey = "TEST+fdd2dbc7+BAcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
    assert isinstance(parse_vkey(vkey), CosignatureVerifier)
    with pytest.raises(MalformedError, match="want 0x01"):
        Ed25519Verifier.from_vkey(vkey)


def test_many_signatures_accepted_and_capped() -> None:
    signers = [Ed25519Signer.generate(f"w{i}.example") for i in range(20)]
    text = "hello\n"
    signed = sign_note(text, signers)
    opened = open_note(signed, [s.verifier() for s in signers])
    assert len(opened.verified) == 20
    line = parse_note(signed).signatures[0].line().encode()
    assert len(parse_note(signed + line * (MAX_SIGNATURES - 20)).signatures) == MAX_SIGNATURES
    with pytest.raises(MalformedError, match="signature lines"):
        parse_note(signed + line * (MAX_SIGNATURES - 19))
    with pytest.raises(MalformedError, match="bytes"):
        parse_note(signed, max_size=len(signed) - 1)


def test_repeated_known_line_that_fails_rejects() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    signed = sign_note("hello\n", [signer])
    bad = Signature(signer.name, signer.key_id, bytes(64)).line().encode()
    with pytest.raises(VerificationError, match="invalid signature"):
        open_note(signed + bad, [signer.verifier()])
    assert len(open_note(signed + signed[7:], [signer.verifier()]).verified) == 1


def test_wrong_length_signature_from_known_key_fails() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    short = Signature(signer.name, signer.key_id, b"x").line().encode()
    with pytest.raises(VerificationError, match="invalid signature"):
        open_note(b"hello\n\n" + short, [signer.verifier()])


@pytest.mark.parametrize(
    "line",
    [
        "— a\u2003b AAAAAAA=\n",  # Unicode space in the name
        "— a+b AAAAAAA=\n",  # plus in the name
        "— a AAAAAAB=\n",  # non-zero padding bits
        "— a AAAAAAA\n",  # missing padding
        "— a AAAA\n",  # only a key ID
        "— a  AAAAAAA=\n",  # two spaces
        "— a\n",  # no signature
        "-- a AAAAAAA=\n",  # not an em dash
        "—a AAAAAAA=\n",  # no space after the dash
        "— a AAAAAAA=\r\n",  # carriage return
    ],
)
def test_malformed_signature_lines(line: str) -> None:
    with pytest.raises(MalformedError):
        parse_note(b"text\n\n" + line.encode())
    with pytest.raises(MalformedError):
        parse_signature_lines(line.encode())


def test_text_may_hold_blank_lines_and_dash_lines() -> None:
    signer = Ed25519Signer.generate("n")
    text = "a\n\n— n AAAAAAA=\n\n"
    signed = sign_note(text, [signer])
    assert open_note(signed, [signer.verifier()]).note.text == text


def test_add_signatures() -> None:
    log = Ed25519Signer.generate("example.com/log")
    other = Ed25519Signer.generate("example.com/other")
    signed = sign_note("hello\n", [log])
    line = Signature(other.name, other.key_id, other.sign(b"hello\n")).line().encode()
    both = add_signatures(signed, line)
    assert both == sign_note("hello\n", [log, other])
    assert [v.name for v in open_note(both, [other.verifier()]).verified] == [other.name]
    for bad in (b"", b"garbage\n", line[:-1], line + b"\n"):
        with pytest.raises(MalformedError):
            add_signatures(signed, bad)
    with pytest.raises(MalformedError, match="at most"):
        add_signatures(signed, line * MAX_SIGNATURES)


def test_misuse_is_value_error() -> None:
    for name in ("", "a b", "a+b", "a\u3000b"):
        with pytest.raises(ValueError):
            Ed25519Signer.generate(name)
    with pytest.raises(ValueError):
        Ed25519Signer("n", b"short")
    with pytest.raises(ValueError):
        sign_note("x\n", [])
    with pytest.raises(ValueError):
        Note("no newline", (Signature("n", b"1234", b"s"),))
    with pytest.raises(ValueError):
        Note("x\n", ())
    with pytest.raises(ValueError):
        Signature("n", b"123", b"s")


def test_decode_base64_is_strict() -> None:
    assert decode_base64("AAAA", "x") == b"\0\0\0"
    for bad in ("AAA", "AAB=", "AA==AA==", " AAAA", "AAAA\n", "ÀAAA", "A-_A"):
        with pytest.raises(MalformedError):
            decode_base64(bad, "x")


# Key names: no Unicode White_Space, no '+', no control characters, valid Unicode.
NAMES = st.text(
    st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="+\x85"),
    min_size=1,
    max_size=20,
)
TEXTS = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="".join(map(chr, range(32)))),
    max_size=40,
).flatmap(lambda first: st.lists(st.just(first) | st.text("ab\n—", max_size=8), max_size=4))
SIGS = st.builds(
    Signature, NAMES, st.binary(min_size=4, max_size=4), st.binary(min_size=1, max_size=80)
)
NOTES = st.builds(
    Note,
    TEXTS.map(lambda parts: "\n".join(parts) + "\n"),
    st.lists(SIGS, min_size=1, max_size=5).map(tuple),
)


@given(NOTES)
def test_round_trip(note: Note) -> None:
    assert parse_note(format_note(note)) == note
    assert parse_signature_lines(format_note(Note("x\n", note.signatures))[3:]) == note.signatures


NOTEISH = st.text(st.sampled_from("ab+/=A0 —\n\t\x85"), max_size=120).map(str.encode)


@given(st.one_of(st.binary(max_size=300), NOTEISH))
def test_garbage_raises_only_malformed(data: bytes) -> None:
    try:
        note = parse_note(data)
    except MalformedError:
        return
    assert format_note(note) == data


@given(st.data())
def test_mutated_note_raises_only_audit_errors(data: st.DataObject) -> None:
    verifier = parse_vkey(PETER["vkey"])
    raw = bytearray(PETER_NOTE)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if op == "flip":
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "delete":
            del raw[pos]
        else:
            raw.insert(pos, data.draw(st.integers(0, 255)))
    try:
        opened = open_note(bytes(raw), [verifier])
    except (MalformedError, VerificationError):
        return
    assert opened.note.text == parse_note(PETER_NOTE).text  # only the signature block changed


@given(st.text(st.sampled_from("PRIVATE+KEY+abc0123456789f=/AZ"), max_size=80))
def test_key_garbage_raises_only_malformed(text: str) -> None:
    for parse in (parse_vkey, Ed25519Signer.from_skey):
        with contextlib.suppress(MalformedError):
            parse(text)
