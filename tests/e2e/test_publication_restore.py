"""Issue 12's "done means", end to end, with the real console script and a real object store
(SeaweedFS, enforcing Object Lock): with publication on, SIGKILL the server, delete its data
directory, ``auditlog restore`` from the bucket, restart, append more; every receipt ever issued
verifies, the audit of the bucket alone finds nothing, and a bucket that does not enforce the
lock is refused at start.

The story, in one test:

1. ``auditlog bucket init`` prepares the bucket; a server publishes to it (docs/publication.md)
   through a proxy (tests/s3double.py) that can refuse the ``checkpoint`` object.
2. A few thousand entries are appended, some with receipts; the publication lag reaches 0.
3. The proxy refuses the ``checkpoint`` object: more entries (with receipts) are appended and
   their round writes tiles, bundles and ``checkpoints/<size>`` but never ``checkpoint``; the
   retried rounds meet their own objects (412, identical: success). This is what a crash between
   the objects of a round and its checkpoint leaves in the bucket.
4. SIGKILL; ``rm -rf`` the data directory (the key file stays); ``auditlog restore --from s3://``
   rebuilds it, up to the largest signed checkpoint in the history, and seeds the anchor file.
5. A restart behind a proxy that lies about the lock is refused, naming the guarantee, and
   leaves the restored log as it was.
6. The restarted server publishes again: its first round writes the objects already there
   (412, identical: success) and the ``checkpoint``; more entries with receipts; the bucket's
   checkpoint grows.
7. With the server stopped: every receipt verifies (``auditlog verify``, offline and against the
   bucket), ``auditlog audit --source s3://`` finds nothing, and the checkpoint taken before
   the crash is consistent with the bucket's latest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from auditlog_tlog.client.cli import main as auditlog_main
from auditlog_tlog.common.s3 import LockedBucket
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.anchors import AnchorFile, checkpoint_of
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.note import parse_note
from tests import seaweedfs
from tests.client.up import env
from tests.s3double import lying_store
from tests.servers import AUDITLOG, RunningServer, start_server, write_server_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ORIGIN = "e2e.example/published"
PREFIX = ORIGIN + "/"
FIRST, BEFORE, CUT_OFF, AFTER = 3000, 40, 60, 60
"""Entries without receipts, then with receipts: before the cut, during it, after the restore."""

LIES = {  # what tests/s3double.py breaks -> the guarantee the canary probe names
    "delete": "a locked version cannot be deleted",
    "retention": "a COMPLIANCE retention cannot be shortened",
    "lock": "an object put with COMPLIANCE retention is stored locked",
}


@pytest.fixture
def s3(seaweed_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    for name, value in seaweedfs.CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # every subprocess inherits them
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweed_url)  # for --source s3:// and restore
    client = seaweedfs.client(seaweed_url)
    yield client
    client.close()


def _config(directory: Path, endpoint: str, bucket: str) -> Path:
    return write_server_config(directory, (ORIGIN,), extra_log=(
        f'[log.publish]\nbucket = "{bucket}"\nendpoint_url = "{endpoint}"\n'
        'region = "us-east-1"\nretention_days = 1\ninterval_s = 0.05\nmax_attempts = 1\n'
    ))


def _run(directory: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*AUDITLOG, *args], cwd=directory, input=stdin, text=True,
                          capture_output=True, timeout=120, env=env())
    assert done.returncode == 0, f"auditlog {' '.join(args)}: {done.returncode}\n{done.stderr}"
    return done


def _client(server: RunningServer, vkey: str, state: Path) -> list[str]:
    return ["--server", server.address, "--log", ORIGIN, "--log-key", vkey, "--state-dir", str(state)]


def _append(directory: Path, client: list[str], stem: str, count: int, receipts: Path) -> None:
    """``count`` entries as one stream, each with its receipt; and one event with ``--receipt``."""
    had = len(list(receipts.glob("*.tlog-proof"))) if receipts.exists() else 0
    lines = "".join(f"{stem} entry {i:05d} {'.' * 200}\n" for i in range(count))
    _run(directory, "append", "--lines", "--receipt-dir", str(receipts), *client, stdin=lines)
    _run(directory, "append", "--actor", f"{stem}-admin", "--action", "restore.drill",
         "--resource", ORIGIN, "--receipt", str(receipts / f"{stem}.event.tlog-proof"), *client)
    assert len(list(receipts.glob("*.tlog-proof"))) == had + count + 1


def _bucket_size(s3: S3Client, bucket: str, name: str = "checkpoint") -> int:
    note = LockedBucket(s3, bucket, 1, PREFIX).get(name)
    return 0 if note is None else parse_checkpoint(parse_note(note).text).size


def _info(server: RunningServer) -> pb.LogInfo:
    info: pb.LogInfo = server.stub().GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN))
    return info


def _published(server: RunningServer) -> int:
    """The bucket's size as the publisher knows it: set once a round has finished (its metrics
    counted), after the ``checkpoint`` object is in the bucket."""
    return int(_info(server).publication.published_size)


def _wait(what: str, done: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _metric(server: RunningServer, name: str) -> float:
    with urllib.request.urlopen(server.metrics_url, timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(f'{name}{{log="{ORIGIN}"}}'):
                return float(line.split()[-1])
    return 0.0


def _verify_all(receipts: Path, vkey: str, state: Path) -> int:
    """Every receipt, through the console script's entry point (in process: a subprocess each would take
    a second apiece; a few go through subprocesses below)."""
    paths = sorted(receipts.glob("*.tlog-proof"))
    for path in paths:
        code = auditlog_main(["verify", str(path), "--log-key", vkey, "--state-dir", str(state),
                              "--json"])
        assert code == 0, f"auditlog verify {path}: exit {code}"
    return len(paths)


def test_restore_from_the_bucket_after_losing_the_server(
    s3: S3Client, seaweed_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = f"e2e-restore-{os.getpid()}"
    _run(tmp_path, "bucket", "init", "--endpoint", seaweed_url, "--bucket", bucket,
         "--retention-days", "1")
    old, new = tmp_path / "receipts-old", tmp_path / "receipts-new"
    breaks: set[str] = set()

    # 1-3. Publish through a proxy, then cut the checkpoint off.
    with lying_store(seaweed_url, live=breaks) as proxy:
        config = _config(tmp_path, proxy, bucket)
        server = start_server(config)
        try:
            vkey = next(line.split(" key ")[-1].strip() for line in server.output
                        if "auditlog: log " in line)
            client = _client(server, vkey, tmp_path / "state-server")
            lines = "".join(f"bulk {i:05d} {'x' * 200}\n" for i in range(FIRST))
            _run(tmp_path, "append", "--lines", *client, stdin=lines)
            _append(tmp_path, client, "before", BEFORE, old)
            size = FIRST + BEFORE + 1
            _wait("every entry is published", lambda: _published(server) == size)
            assert _bucket_size(s3, bucket) == size
            info = _info(server).publication
            assert (info.published_size, info.lag_entries, info.failure) == (size, 0, "")
            before = _run(tmp_path, "checkpoint", "--note", *client).stdout
            assert parse_checkpoint(parse_note(before.encode()).text).size == size

            breaks.add("checkpoint")
            _append(tmp_path, client, "cut", CUT_OFF, old)
            cut = size + CUT_OFF + 1
            history = f"checkpoints/{cut:020d}"
            _wait("the round before the checkpoint is written",
                  lambda: _bucket_size(s3, bucket, history) == cut)
            # A retried round writes the same objects again: S3 answers 412, and identical
            # objects are success (a different one would stop publication with a failure).
            _wait("a round is retried", lambda: _metric(server, "auditlog_publish_errors_total") >= 2)
            assert _info(server).publication.failure == ""
            assert _bucket_size(s3, bucket) == size
        finally:
            server.kill()  # 4. SIGKILL: nothing flushed, nothing drained

    shutil.rmtree(tmp_path / "data")
    assert list((tmp_path / "keys").iterdir()), "the key file must survive"
    done = _run(tmp_path, "restore", "--from", f"s3://{bucket}/{ORIGIN}", "--config", str(config),
                "--s3-endpoint", seaweed_url, "--json", "--quiet")
    restored = json.loads(done.stdout)
    assert restored["size"] == cut and restored["checkpoints"] >= 2, restored
    anchors = AnchorFile(tmp_path / "data" / "anchors", ORIGIN).latest()
    assert anchors is not None and checkpoint_of(anchors).size == cut

    # 5. A store that accepts the lock headers but does not enforce them is refused at start.
    for lie, guarantee in LIES.items():
        with lying_store(seaweed_url, lie) as liar, pytest.raises(RuntimeError) as refused:
            start_server(_config(tmp_path, liar, bucket))
        assert guarantee in str(refused.value), refused.value

    # 6. The restored server, straight to the store: it resumes publication, and goes on.
    config = _config(tmp_path, seaweed_url, bucket)
    server = start_server(config)
    try:
        assert _info(server).halted == ""
        assert server.stub().GetCheckpoint(pb.GetCheckpointRequest(log=ORIGIN)).size == cut
        client = _client(server, vkey, tmp_path / "state-restored")
        _wait("the restored server publishes", lambda: _published(server) == cut)
        assert _bucket_size(s3, bucket) == cut
        # Its first round met every tile, bundle and history object already there (412,
        # identical): the one object it wrote is the new version of ``checkpoint``.
        assert _metric(server, "auditlog_published_objects_total") == 1
        _append(tmp_path, client, "after", AFTER, new)
        final = cut + AFTER + 1
        _wait("the new entries are published", lambda: _published(server) == final)
        assert _bucket_size(s3, bucket) == final
        info = _info(server).publication
        assert (info.published_size, info.lag_entries, info.failure) == (final, 0, "")
        assert _metric(server, "auditlog_publish_errors_total") == 0
        assert server.stop() == 0
    finally:
        if server.process.poll() is None:
            server.kill()

    # 7. The server is stopped: everything below reads the receipts and the bucket only.
    verified = _verify_all(old, vkey, tmp_path / "state-offline")
    verified += _verify_all(new, vkey, tmp_path / "state-offline")
    capsys.readouterr()
    assert verified == BEFORE + 1 + CUT_OFF + 1 + AFTER + 1
    source = ["--source", f"s3://{bucket}/{ORIGIN}", "--log", ORIGIN, "--log-key", vkey,
              "--state-dir", str(tmp_path / "state-bucket")]
    for receipt in (old / "before.event.tlog-proof", old / f"{FIRST}.tlog-proof",
                    old / f"{size + CUT_OFF - 1}.tlog-proof", new / "after.event.tlog-proof"):
        checked = json.loads(_run(tmp_path, "verify", str(receipt), *source, "--json").stdout)
        assert checked["ok"] and checked["checkpoint"]["consistency"] in ("first", "proved", "older")
    report = json.loads(_run(tmp_path, "audit", *source, "--json", "--quiet").stdout)
    assert report["ok"] and not report["findings"], report["findings"]
    assert report["size"] == final and report["entries"] == final
    (tmp_path / "before.txt").write_text(before)
    _run(tmp_path, "consistency", "--from-checkpoint", str(tmp_path / "before.txt"), *source)
