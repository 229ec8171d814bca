"""``append --file BIG --hash-only`` and ``verify RECEIPT --file BIG``: the file-digest record
(client/filedigest.py, docs/retention.md), its one encoding, and the commands against a real
server."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.client.filedigest import (
    FileDigest,
    check_file,
    digest_file,
    is_file_digest,
    parse_file_digest,
)
from auditlog_tlog.tree.errors import MalformedError, VerificationError
from auditlog_tlog.tree.tlogproof import parse_tlog_proof

VECTOR = (b'{"kind":"file-digest","media_type":"application/pdf","name":"report.pdf","sha256":'
          b'"845e91831319e89c4d656bdb80c278ac09a7230d61e5dfd2e1b1fbb436ac8917","size":6,"v":1}')


def test_the_vector_is_the_one_in_the_docs() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "retention.md").read_text()
    assert VECTOR.decode() in docs


def test_the_documented_vector(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"report")
    record = digest_file(path)
    assert record.encode() == VECTOR
    assert parse_file_digest(VECTOR) == record and is_file_digest(VECTOR)
    check_file(record, path)


def test_streamed_over_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(3 * (1 << 20) + 17)  # more than CHUNK, not a multiple of it
    path.write_bytes(data)
    record = digest_file(path, "application/x-test")
    assert record.sha256 == hashlib.sha256(data).digest() and record.size == len(data)
    assert record.media_type == "application/x-test" and record.name == "big.bin"


@pytest.mark.parametrize("data", [
    VECTOR.replace(b'"v":1', b'"v":2'),
    VECTOR.replace(b"file-digest", b"file"),
    VECTOR.replace(b'"size":6', b'"size":-1'),
    VECTOR.replace(b'"size":6', b'"size":6.0'),
    VECTOR.replace(b",", b", "),
    VECTOR.replace(b"report.pdf", b"a/b.pdf"),
    VECTOR.replace(b"application/pdf", b"PDF"),
    VECTOR[:-1] + b',"x":1}',
    b"not json",
])
def test_anything_but_the_canonical_encoding_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_file_digest(data)
    assert not is_file_digest(data)


@given(st.binary(min_size=32, max_size=32), st.integers(0, (1 << 53) - 1),
       st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
               min_size=1, max_size=40).filter(lambda s: s not in (".", "..")))
def test_round_trip(sha: bytes, size: int, name: str) -> None:
    record = FileDigest(sha, size, name)
    assert parse_file_digest(record.encode()) == record


def test_a_changed_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"abc")
    record = digest_file(path)
    path.write_bytes(b"abd")
    with pytest.raises(VerificationError, match="got SHA-256"):
        check_file(record, path)
    path.write_bytes(b"abcd")
    with pytest.raises(VerificationError, match="got 4 bytes, want 3"):
        check_file(record, path)


def test_append_hash_only_then_verify_the_file(cli: Any, tmp_path: Path) -> None:
    big = tmp_path / "dump.tar"
    big.write_bytes(os.urandom(300_000))  # over the 65536-byte entry limit
    code, _, err = cli("append", "--file", "dump.tar")
    assert code == 1 and "--hash-only" in err
    code, _, err = cli("append", "--file", "dump.tar", "--hash-only", "--receipt", "d.tlog-proof")
    assert code == 0, err
    record = parse_file_digest(parse_tlog_proof((tmp_path / "d.tlog-proof").read_bytes()).extra)
    assert record.size == 300_000 and record.name == "dump.tar"
    assert record.media_type == "application/x-tar"
    code, out, err = cli("verify", "d.tlog-proof", "--file", "dump.tar", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["ok"] is True and shown["file"]["sha256"] == record.sha256.hex()
    code, out, _ = cli("verify", "d.tlog-proof", "--file", "dump.tar")
    assert code == 0 and "is the file logged as dump.tar" in out
    other = tmp_path / "other.tar"
    other.write_bytes(os.urandom(300_000))
    code, _, err = cli("verify", "d.tlog-proof", "--file", "other.tar")
    assert code == 1 and "got SHA-256" in err


def test_hash_only_usage(cli: Any, tmp_path: Path) -> None:
    assert cli("append", "text", "--hash-only")[0] == 2
    (tmp_path / "x").write_bytes(b"x")
    assert cli("append", "--file", "x", "--media-type", "text/plain")[0] == 2
    code, _, err = cli("append", "--file", "x", "--hash-only", "--media-type", "Bad Type")
    assert code == 2 and "media_type" in err
