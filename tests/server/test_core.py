"""The server's core without gRPC: the status table, the signer's consistency guard, config."""

from __future__ import annotations

import inspect
from pathlib import Path

import grpc
import pytest

from auditlog_tlog.server.anchors import AnchorFile, LogHaltedError
from auditlog_tlog.server.config import parse_config
from auditlog_tlog.server.signer import CheckpointSigner
from auditlog_tlog.server.status import GRPC_STATUS, status_of
from auditlog_tlog.server.writer import LogWriter
from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree import errors
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.compact import root_of
from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.tree.proof import consistency_plan

ORIGIN = "test.example/log"


def test_every_exception_class_has_a_status() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, errors.AuditLogError)]
    assert classes and set(classes) == set(GRPC_STATUS)
    # No exception a client can cause maps to INTERNAL.
    assert grpc.StatusCode.INTERNAL not in GRPC_STATUS.values()
    assert status_of(errors.PushbackError("full")) == grpc.StatusCode.RESOURCE_EXHAUSTED


def _leaves(n: int) -> list[bytes]:
    return [SHA256.hash_leaf(b"%d" % i) for i in range(n)]


def _proof(leaves: list[bytes], size1: int, size2: int) -> tuple[bytes, ...]:
    """PROOF(size1, size2) by brute force over the reference node hashes."""
    plan = consistency_plan(size1, size2)
    return plan.fold(SHA256, [root_of(SHA256, leaves[n.begin:n.end]) for n in plan.ids])


def test_signer_signs_consistent_heads_only() -> None:
    key = Ed25519Signer.generate(ORIGIN)
    leaves = _leaves(20)
    signer = CheckpointSigner(ORIGIN, SHA256, [key], 0, SHA256.empty_root())
    root10 = root_of(SHA256, leaves[:10])
    note = signer.sign(10, root10, ())
    cp = parse_checkpoint(open_note(note, [key.verifier()]).note.text)
    assert (cp.origin, cp.size, cp.root) == (ORIGIN, 10, root10)

    root20 = root_of(SHA256, leaves[:20])
    forged = root_of(SHA256, [*_leaves(19), SHA256.hash_leaf(b"forged")])
    with pytest.raises(VerificationError):
        signer.sign(20, forged, _proof(leaves, 10, 20))  # a root from another history
    with pytest.raises(VerificationError):
        signer.sign(5, root_of(SHA256, leaves[:5]), ())  # a rollback
    with pytest.raises(VerificationError):
        signer.sign(10, forged, ())  # the same size with another root
    assert signer.last == (10, root10)  # refusals change nothing
    signer.sign(20, root20, _proof(leaves, 10, 20))
    assert signer.last == (20, root20)


def test_the_writer_refuses_to_sign_over_a_corrupted_tree(tmp_path: Path) -> None:
    """A node rewritten behind the log's back cannot get an inconsistent checkpoint signed."""
    db = Database(tmp_path / "db")
    store = LogStore(db, ORIGIN, SHA256)
    anchors = AnchorFile(tmp_path / "anchors", ORIGIN)
    halts: list[LogHaltedError] = []
    writer = LogWriter(store, [Ed25519Signer.generate(ORIGIN)], anchors, on_halt=halts.append)
    writer.open()
    writer.append([b"%d" % i for i in range(600)], True, sign=True)
    signed = anchors.latest()
    assert store.checkpoint_size == 600 and signed == store.checkpoint()
    # PROOF(600, 601) starts with the node over leaves [0, 512): level 9, kept in row 1 of the
    # stratum 1/0 on disk. Flip its last byte.
    key = prefix(1) + b"T" + bytes([1]) + (0).to_bytes(8, "big")
    tile = bytearray(db.get_stratum(key) or b"")
    assert len(tile) == 3 * 32  # two level-8 nodes and the level-9 node above them
    tile[-1] ^= 1
    wb = db.batch()
    db.put_stratum(wb, key, bytes(tile))
    db.write(wb)
    with pytest.raises(LogHaltedError, match="does not extend the last checkpoint signed"):
        writer.append([b"more"], True, sign=True)
    assert store.size == 601  # durable, but never signed
    assert (store.checkpoint_size, writer.signer.last[0], anchors.latest()) == (600, 600, signed)
    assert len(halts) == 1 and halts[0].evidence == (signed, signed)
    with pytest.raises(LogHaltedError):  # and it stays halted
        writer.append([b"again"], True, sign=False)
    db.close()


def test_config_defaults_and_paths(tmp_path: Path) -> None:
    config = parse_config('[[log]]\norigin = "a.example/log"\n', tmp_path)
    assert config.listen == "127.0.0.1:7600" and config.data_dir == tmp_path / "data"
    log = config.logs[0]
    assert log.hash == "sha256" and log.dedup and log.key_file == tmp_path / "keys/a.example_log.key"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no [[log]] configured"),
        ("[[log]]\nhash = 'sha256'\n", "origin is required"),
        ("[[log]]\norigin = 'a b'\n", "without spaces"),
        ("[[log]]\norigin = 'a'\nhash = 'md5'\n", "want 'sha256' or 'blake3'"),
        ("[[log]]\norigin = 'a'\nmax_entry_bytes = 0\n", "max_entry_bytes = 0"),
        ("[[log]]\norigin = 'a'\nmax_entry_bytes = '12'\n", "want int"),
        ("[[log]]\norigin = 'a'\ndedup = 1\n", "want bool"),
        ("[[log]]\norigin = 'a'\n[[log]]\norigin = 'a'\n", "configured twice"),
        ("[[log]]\norigin = 'a'\ncolour = 1\n", "unknown keys ['colour']"),
        ("[server]\nport = 1\n[[log]]\norigin = 'a'\n", "unknown keys ['port']"),
        ("[[log]\n", "not valid TOML"),
    ],
)
def test_config_errors_say_what_is_wrong(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
        parse_config(text, tmp_path)
