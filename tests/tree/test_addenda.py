"""tree.addenda: the canonical addendum, its digest and path, and what an entry commits
(c2sp.org/tlog-addenda)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.tree import addenda
from auditlog_tlog.tree.addenda import Addendum, committed, parse_addendum, parse_digest, path
from auditlog_tlog.tree.errors import MalformedError, VerificationError

NONCE = bytes(range(16))


def test_encoding_is_pinned() -> None:
    a = Addendum("email", "alice@example.com", NONCE)
    assert a.encode() == (b'{"field":"email","nonce":"000102030405060708090a0b0c0d0e0f",'
                          b'"value":"alice@example.com"}')
    assert a.digest() == hashlib.sha256(a.encode()).digest()
    assert parse_addendum(a.encode(), a.digest()) == a


def test_path_splits_the_hex_digest() -> None:
    d = bytes.fromhex("ab" * 32)
    assert path(d) == "addenda/ab/ab/" + "ab" * 32
    with pytest.raises(ValueError, match="want 32"):
        path(b"short")


@pytest.mark.parametrize("nonce", [b"", b"x" * 15, b"x" * 65])
def test_a_nonce_of_less_than_16_bytes_is_refused(nonce: bytes) -> None:
    with pytest.raises(ValueError, match="want 16 to 64 random bytes"):
        Addendum("email", "a@b", nonce)


@pytest.mark.parametrize("data", [
    b'{"field":"email","nonce":"00","value":"a"}',                      # short nonce
    b'{"field":"email","value":"a"}',                                   # no nonce
    b'{"value":"a","field":"email","nonce":"' + b"00" * 16 + b'"}',     # not canonical
    b'{"field":"e mail","nonce":"' + b"00" * 16 + b'","value":"a"}',    # bad field name
    b'{"field":"email","nonce":"' + b"00" * 16 + b'","value":1.5}',     # a float
    b"\xff",
])
def test_only_the_canonical_encoding_parses(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_addendum(data)


def test_bytes_that_do_not_hash_to_the_digest_are_refused() -> None:
    a = Addendum("email", "alice@example.com", NONCE)
    with pytest.raises(VerificationError, match="want " + hashlib.sha256(b"x").hexdigest()):
        parse_addendum(a.encode(), hashlib.sha256(b"x").digest())


def test_committed_reads_the_addenda_member_of_any_json_entry() -> None:
    d = "0f" * 32
    assert committed(b'{"addenda":{"email":"' + d.encode() + b'"},"v":2}') == {
        "email": bytes.fromhex(d)}
    assert committed(b"plain text") == {}
    assert committed(b'{"v":1}') == {}
    assert committed(b'["addenda"]') == {}
    with pytest.raises(MalformedError, match="64 lowercase hex"):
        committed(b'{"addenda":{"email":"' + d.upper().encode() + b'"}}')
    with pytest.raises(MalformedError, match="must be an object"):
        committed(b'{"addenda":["x"]}')


def test_parse_digest() -> None:
    assert parse_digest("00" * 32) == bytes(32)
    for bad in ("00" * 31, "G" * 64, "AB" * 32, ""):
        with pytest.raises(MalformedError, match="want 64 lowercase hex digits"):
            parse_digest(bad)


@given(st.from_regex(addenda.FIELD, fullmatch=True),
       st.one_of(st.text(max_size=200), st.booleans(),
                 st.integers(-addenda.MAX_INT, addenda.MAX_INT)),
       st.binary(min_size=16, max_size=64))
def test_parse_format_round_trip(field: str, value: str | int | bool, nonce: bytes) -> None:
    try:
        a = Addendum(field, value, nonce)
    except ValueError:
        return  # a lone surrogate
    assert parse_addendum(a.encode(), a.digest()) == a
