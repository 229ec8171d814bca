"""``auditlog audit`` end to end, against ``auditlog up`` (a log and a witness archiving to a local
write-once directory): a clean log passes; a cosigned checkpoint missing from the archive and an
entry changed in RocksDB behind the server's back are each found, with a non-zero exit."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from auditlog_tlog.client.witnesses import latest_cosigned
from auditlog_tlog.storage.db import Database, prefix
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.note import parse_note
from tests.client.up import Up, start_up

ORIGIN = "localhost/audit"
ENTRIES = 40
TAMPERED = 17


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = start_up(tmp_path_factory.mktemp("up"))
    try:
        lines = "".join(f"audit test entry {i}\n" for i in range(ENTRIES))
        running.run("append", "--lines", stdin=lines)
        wait_cosigned(running, ENTRIES)
        yield running
    finally:
        running.stop()


def settings(up: Up) -> dict[str, Any]:
    import tomllib

    return tomllib.loads((up.directory / "var" / "client.toml").read_text())


def wait_cosigned(up: Up, size: int) -> bytes:
    """The witness's latest cosigned checkpoint, once it covers ``size`` entries."""
    url = settings(up)["witness_urls"][0]
    deadline = time.monotonic() + 20
    while True:
        try:
            note = latest_cosigned(url, ORIGIN)
            if parse_checkpoint(parse_note(note).text).size >= size:
                return note
        except Exception:
            pass
        assert time.monotonic() < deadline, "the witness did not cosign in time"
        time.sleep(0.1)


def audit(up: Up) -> tuple[int, dict[str, Any]]:
    done = up.run("audit", "--json", check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> set[str]:
    return {f["kind"] for f in report["findings"]}


def test_a_clean_log_passes(up: Up) -> None:
    code, report = audit(up)
    assert code == 0 and report["ok"], report["findings"]
    assert report["entries"] == ENTRIES and report["size"] == ENTRIES
    sources = " ".join(c["source"] for c in report["checkpoints"])
    assert "archived" in sources and "witness" in sources and "latest" in sources
    assert report["archive_objects"] >= 1
    done = up.run("audit")  # the text report, plain progress lines when not on a terminal
    assert "OK: every checkpoint agrees" in done.stdout
    assert "entries to check" in done.stderr
    # The monitor agrees: the log, the witness and this client saw one history.
    assert up.run("monitor", "--once").returncode == 0


def test_a_cosigned_checkpoint_missing_from_the_archive(up: Up) -> None:
    note = wait_cosigned(up, ENTRIES)
    size = parse_checkpoint(parse_note(note).text).size
    origin_dir = hashlib.sha256(ORIGIN.encode()).hexdigest()
    path = (up.directory / "var" / "witness" / "archive" / "cosigned" / origin_dir / str(size)
            / hashlib.sha256(note).hexdigest())
    assert path.read_bytes() == note
    path.unlink()  # the file is 0444, but its directory lets it be removed: the archive is local
    try:
        code, report = audit(up)
        assert code == 1 and "missing-from-archive" in kinds(report)
        missing = [f for f in report["findings"] if f["kind"] == "missing-from-archive"]
        assert all(f["size"] == size for f in missing)
        done = up.run("audit", check=False)
        assert done.returncode == 1 and "FAILED" in done.stdout
        assert "not in the archive" in done.stdout
    finally:
        path.write_bytes(note)
        os.chmod(path, 0o444)
    assert audit(up)[0] == 0


def test_an_entry_changed_in_storage(up: Up) -> None:
    up.stop()
    db = Database(up.directory / "var" / "data" / "db")
    try:
        key = prefix(db.log_ids()[ORIGIN]) + b"E" + TAMPERED.to_bytes(8, "big")
        value = bytearray(db.get(key) or b"")
        assert value == b"audit test entry %d" % TAMPERED
        value[0] ^= 0x01  # one bit of one byte
        batch = db.batch()
        batch.put(key, bytes(value))
        db.write(batch)
    finally:
        db.close()
    restarted = start_up(up.directory)
    up.process, up.output, up.pump = restarted.process, restarted.output, restarted.pump
    code, report = audit(up)
    assert code == 1 and {"root-mismatch", "tampered-entry"} <= kinds(report)
    (tampered,) = [f for f in report["findings"] if f["kind"] == "tampered-entry"]
    assert tampered["message"].startswith(f"entry {TAMPERED} does not hash")
    assert all(c["ok"] is False for c in report["checkpoints"] if c["size"] > TAMPERED)
    assert all(c["ok"] for c in report["checkpoints"] if c["size"] <= TAMPERED)
