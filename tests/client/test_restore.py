"""``auditlog restore`` and ``--source``: a log published to a bucket (moto_server) is rebuilt from
it alone, continues with the same key, and is audited from the bucket with the server stopped.

The bucket is made here from a real server's tlog-tiles endpoint (what the publisher writes):
``checkpoint``, every tile and entry bundle of the latest size, and ``checkpoints/<size>``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from pathlib import Path

import pytest

from auditlog_tlog.client import restore, restore_cmd
from auditlog_tlog.client.cli import build_parser, main
from auditlog_tlog.client.restore_worker import Digests, SourceSpec, close_sources
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.tiles_source import HttpFetcher, TileSource, history_path
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.anchors import AnchorFile
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.db import prefix as prefix_of
from auditlog_tlog.storage.layout import LogKeys
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.storage.restore import LogImporter
from auditlog_tlog.tree.checkpoint import Checkpoint, parse_checkpoint
from auditlog_tlog.tree.errors import CorruptionError, VerificationError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer, Ed25519Verifier
from auditlog_tlog.tree.note import parse_note, sign_note
from auditlog_tlog.tree.tiles import encode_entry_bundle, entry_bundles_for_size, tiles_for_size
from auditlog_tlog.tree.verify import verify_consistency
from auditlog_tlog.tree.vkeys import parse_vkey
from tests.servers import AUDITLOG, RunningServer, running, write_server_config
from tests.witness import s3server

ORIGIN = "restore.example/log"
BATCHES = (1000, 1500, 700, 2000)  # 5200 entries: 20 full tiles and one of 80, three levels
SIZE = sum(BATCHES)
BUCKET = "published"
PREFIX = "logs/restore"


@dataclass
class Published:
    directory: Path
    vkey: str
    moto: str
    receipts: dict[int, bytes] = field(default_factory=dict)
    checkpoints: dict[int, bytes] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"s3://{BUCKET}/{PREFIX}"


def _copy_to_bucket(server: RunningServer, moto: str, prefix: str, size: int) -> None:
    s3 = s3server.client(moto)
    for path in ["checkpoint", *tiles_for_size(size), *entry_bundles_for_size(size)]:
        with urllib.request.urlopen(f"{server.tiles_url}/{ORIGIN}/{path}", timeout=10) as r:
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{path}", Body=r.read())


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    for url in s3server.running_moto():
        s3server.make_bucket(s3server.client(url), BUCKET, lock=False, versioning=False)
        yield url


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, moto: str) -> Published:
    """A log of SIZE entries with a checkpoint per batch, published, and its server stopped."""
    directory = tmp_path_factory.mktemp("original")
    config = write_server_config(directory, (ORIGIN,))
    for server in running(config):
        stub = server.stub()
        vkey = stub.GetLogInfo(pb.GetLogInfoRequest(log=ORIGIN)).verifier_key
        result = Published(directory, vkey, moto)
        with LogClient(server.address, ORIGIN) as client:
            first = 0
            for count in BATCHES:
                client.append_batch([b"entry %d" % i for i in range(first, first + count - 1)])
                receipt = client.append(b"entry %d" % (first + count - 1), receipt=True).receipt
                first += count
                result.receipts[first - 1] = receipt
            for size in client.checkpoint_sizes():
                note = client.checkpoint_at(size)
                assert note is not None
                result.checkpoints[size] = note
        assert max(result.checkpoints) == SIZE
        _copy_to_bucket(server, moto, PREFIX, SIZE)
        s3 = s3server.client(moto)
        for size, note in result.checkpoints.items():
            s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{history_path(size)}", Body=note)
    return result


def _cli(published: Published, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **s3server.CREDENTIALS, "AWS_ENDPOINT_URL": published.moto}
    env.pop("AUDITLOG_CONFIG", None)
    return subprocess.run([*AUDITLOG, *args], capture_output=True, text=True, timeout=100, env=env,
                          cwd=cwd or published.directory)


def _trust(published: Published, state: Path) -> list[str]:
    return ["--log-key", published.vkey, "--state-dir", str(state), "--source", published.source]


def test_read_commands_work_from_the_bucket_with_the_server_stopped(published: Published,
                                                                   tmp_path: Path) -> None:
    trust = _trust(published, tmp_path / "state")
    audit = _cli(published, "audit", "--json", *trust)
    assert audit.returncode == 0, audit.stderr
    report = json.loads(audit.stdout)
    assert (report["ok"], report["size"], report["entries"]) == (True, SIZE, SIZE)
    assert report["stored_checkpoints"] == len([s for s in published.checkpoints if s > 0])

    listed_sizes = _cli(published, "checkpoints", "--json", *trust)
    assert [json.loads(line)["size"] for line in listed_sizes.stdout.splitlines()] == \
        sorted(published.checkpoints), listed_sizes.stderr
    head = _cli(published, "checkpoint", "--json", *trust)
    assert (json.loads(head.stdout)["size"], json.loads(head.stdout)["consistency"]) == (SIZE, "same")

    proved = _cli(published, "prove", "--index", "4321", "--json", "--receipt",
                  str(tmp_path / "r.tlog-proof"), *trust)
    assert proved.returncode == 0, proved.stderr
    assert json.loads(proved.stdout)["checkpoint"]["size"] == SIZE
    by_entry = _cli(published, "prove", "--entry", "entry 5000", "--json", *trust)
    assert json.loads(by_entry.stdout)["index"] == 5000, by_entry.stderr
    verified = _cli(published, "verify", str(tmp_path / "r.tlog-proof"), "--leaf-hash",
                    SHA256.hash_leaf(b"entry 4321").hex(), *trust)
    assert verified.returncode == 0 and "OK: entry 4321" in verified.stdout, verified.stderr

    old = tmp_path / "old-checkpoint"
    old.write_bytes(published.checkpoints[1000])
    for how in (["--from", "2500", "--to", "3200"], ["--from-checkpoint", str(old)]):
        consistent = _cli(published, "consistency", "--json", *how, *trust)
        assert consistent.returncode == 0, consistent.stderr
        assert json.loads(consistent.stdout)["consistent"] is True

    listed = _cli(published, "entries", "--begin", "250", "--end", "260", "--json", *trust)
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [line["index"] for line in lines] == list(range(250, 260)), listed.stderr
    assert lines[3]["leaf_hash"] == SHA256.hash_leaf(b"entry 253").hex()


def test_restore_rebuilds_the_log_and_it_continues(published: Published, tmp_path: Path) -> None:
    directory = tmp_path / "restored"
    config = _fresh(published, directory)
    done = _cli(published, "restore", "--from", published.source, "--config", str(config), "--json",
                cwd=directory)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["size"], result["checkpoints"]) == (SIZE, len(published.checkpoints))
    assert result["tiles"] == len(tiles_for_size(SIZE))

    anchors = AnchorFile(directory / "data" / "anchors", ORIGIN)
    assert anchors.latest() == published.checkpoints[SIZE]

    again = _cli(published, "restore", "--from", published.source, "--config", str(config),
                 cwd=directory)
    assert again.returncode == 1 and f"already holds {SIZE} entries" in again.stderr

    for server in running(config):
        with LogClient(server.address, ORIGIN) as client:
            assert client.checkpoint().note == published.checkpoints[SIZE]
            client.append_batch([b"after %d" % i for i in range(300)])
            latest = client.checkpoint()
            assert latest.size == SIZE + 300
            new_root = parse_checkpoint(parse_note(latest.note).text).root
            for size, note in published.checkpoints.items():
                old_root = parse_checkpoint(parse_note(note).text).root
                proof = client.consistency_proof(size, latest.size).proof
                verify_consistency(SHA256, size, latest.size, proof, old_root, new_root)
            tiles = TileSource(HttpFetcher(f"{server.tiles_url}/{ORIGIN}"), ORIGIN, SHA256)
            for size in (1, 70, 2499, SIZE):
                assert tiles.consistency_proof(size, SIZE + 300).proof == \
                    client.consistency_proof(size, SIZE + 300).proof
            for index, size in ((0, 1), (60, 70), (4999, SIZE), (5300, SIZE + 300)):
                ours = tiles.inclusion_proof(index=index, size=size)
                theirs = client.inclusion_proof(index=index, size=size)
                assert (ours.proof, ours.leaf_hash) == (theirs.proof, theirs.leaf_hash)
            assert [e for _, e in tiles.entries(5195, 5205)] == \
                [b"entry %d" % i for i in range(5195, 5200)] + [b"after %d" % i for i in range(5)]
            tiles.close()
            # The server's own tiles endpoint is a source too (without the history).
            second = _fresh(published, tmp_path / "from-http")
            assert main(["restore", "--from", f"{server.tiles_url}/{ORIGIN}", "--config",
                         str(second), "--quiet"]) == 0
            db = Database(tmp_path / "from-http" / "data" / "db")
            again_store = LogStore(db, ORIGIN, SHA256)
            assert (again_store.size, again_store.checkpoint_sizes()) == (SIZE + 300, [SIZE + 300])
            assert again_store.checkpoint() == latest.note
            db.close()
    for index, receipt in published.receipts.items():
        path = tmp_path / f"{index}.tlog-proof"
        path.write_bytes(receipt)
        checked = _cli(published, "verify", str(path), "--entry", f"entry {index}", "--log-key",
                       published.vkey, "--state-dir", str(tmp_path / "state"))
        assert checked.returncode == 0, checked.stderr


def _tampered(published: Published, name: str, path: str, change: bytes) -> str:
    """A copy of the published objects under another prefix, with ``path`` replaced."""
    s3 = s3server.client(published.moto)
    prefix = f"tampered/{name}"
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX + "/", MaxKeys=1000)["Contents"]:
        relative = obj["Key"][len(PREFIX) + 1:]
        body = change if relative == path else s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{relative}", Body=body)
    return prefix


def _tile_with(tile: bytes, position: int) -> bytes:
    return tile[: 32 * position] + bytes(32) + tile[32 * (position + 1):]


@pytest.mark.parametrize("case", ["tile", "bundle", "upper-tile", "checkpoint", "history",
                                  "bundle-and-tile"])
def test_a_tampered_bucket_is_refused_naming_the_object(
    published: Published, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    s3 = s3server.client(published.moto)

    def get(path: str) -> bytes:
        return s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{path}")["Body"].read()

    entries = [b"entry %d" % i for i in range(7 * 256, 8 * 256)]
    changed_entries = [b"changed", *entries[1:]]
    history = history_path(2500)
    objects = {
        "tile": ("tile/0/005", _tile_with(get("tile/0/005"), 9), "tile/0/005"),
        "bundle": ("tile/entries/007", encode_entry_bundle(changed_entries), "tile/entries/007"),
        "upper-tile": ("tile/1/000.p/20", _tile_with(get("tile/1/000.p/20"), 3), "tile/1/000.p/20"),
        "checkpoint": ("checkpoint", get("checkpoint").replace(b"5200", b"5201"), "checkpoint"),
        "history": (history, get(history_path(1000)), history),
    }
    if case == "bundle-and-tile":
        leaves = b"".join(SHA256.hash_leaf(e) for e in changed_entries)
        prefix = _tampered(published, case, "tile/entries/007", encode_entry_bundle(changed_entries))
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/tile/0/007", Body=leaves)
        named = history_path(2499)  # the first signed root after bundle 7
    else:
        path, body, named = objects[case]
        prefix = _tampered(published, case, path, body)
    directory = tmp_path / "restored"
    config = _fresh(published, directory)
    code = main(["restore", "--from", f"s3://{BUCKET}/{prefix}", "--config", str(config),
                 "--s3-endpoint", published.moto, "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"s3://{BUCKET}/{prefix}/{named}" in err, err
    db = Database(directory / "data" / "db")
    try:
        assert LogStore(db, ORIGIN, SHA256).size == 0  # nothing of the failed restore is left
    finally:
        db.close()


def _fresh(published: Published, directory: Path, with_key: bool = True) -> Path:
    (directory / "keys").mkdir(parents=True)
    if with_key:
        shutil.copy2(published.directory / "keys" / "restore.example_log.key", directory / "keys")
    return write_server_config(directory, (ORIGIN,))


def test_restore_in_process_seeds_the_anchor_and_shows_progress(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", published.moto)
    monkeypatch.setattr(restore, "MIN_SIZE_FOR_PROCESSES", 0)  # decode and hash in a process
    # Tasks go to the worker processes once their server of forks answers (before, they run here).
    pool, ready = restore._process_pool(1)
    pool.shutdown()
    assert ready.wait(60)
    config = _fresh(published, tmp_path)
    seeded: list[tuple[str, bytes]] = []
    args = build_parser().parse_args(["restore", "--from", published.source, "--config", str(config),
                                      "--workers", "3"])
    assert restore_cmd.cmd_restore(args, lambda _c, log, note: seeded.append((log.origin, note))) == 0
    assert seeded == [(ORIGIN, published.checkpoints[SIZE])]
    out, err = capsys.readouterr()
    assert f"restore: {SIZE} entries to check" in err and f"restore: {SIZE}/{SIZE} entries" in err
    assert f"restored {ORIGIN} from {published.source}" in out and f"{SIZE} entries" in out


def test_restore_wants_the_logs_own_key(published: Published, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in s3server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", published.moto)
    other = Ed25519Signer.generate(ORIGIN)
    no_key = _fresh(published, tmp_path / "no-key", with_key=False)
    assert main(["restore", "--from", published.source, "--config", str(no_key), "--quiet"]) == 1
    assert "restore.example_log.key does not exist: put the log's signing key back" in \
        capsys.readouterr().err
    config = _fresh(published, tmp_path / "wrong-key")
    assert main(["restore", "--from", published.source, "--config", str(config), "--quiet",
                 "--log-key", other.vkey()]) == 1
    err = capsys.readouterr().err
    assert f"{published.source}/checkpoint is not a checkpoint signed by the log's key" in err
    (tmp_path / "wrong-key" / "keys" / "restore.example_log.key").write_text(other.skey() + "\n")
    assert main(["restore", "--from", published.source, "--config", str(config), "--quiet",
                 "--log-key", published.vkey]) == 1
    assert "is not signed by the log's active key in the config" in capsys.readouterr().err


def test_restore_refuses_a_source_behind_the_anchor_file(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", published.moto)
    config = _fresh(published, tmp_path)
    key = (tmp_path / "keys" / "restore.example_log.key").read_text().strip()
    ahead = sign_note(Checkpoint(ORIGIN, SIZE + 1, bytes(32)).to_text(), [Ed25519Signer.from_skey(key)])
    AnchorFile(tmp_path / "data" / "anchors", ORIGIN).append(ahead)
    assert main(["restore", "--from", published.source, "--config", str(config), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"holds a checkpoint of size {SIZE + 1} signed by the log, beyond the source's latest " \
        f"({SIZE})" in err, err
    assert AnchorFile(tmp_path / "data" / "anchors", ORIGIN).latest() == ahead


def test_a_restore_killed_after_ingesting_rows_is_refused_then_redone(
    published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3server.CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    s3 = s3server.client(published.moto)
    tile = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/tile/0/015")["Body"].read()
    prefix = _tampered(published, "killed", "tile/0/015", _tile_with(tile, 4))
    verifier = parse_vkey(published.vkey)
    assert isinstance(verifier, Ed25519Verifier)
    db = Database(tmp_path / "db")
    try:
        # Killed where the check of tile 15 fails: the rows of the first task (bundles 0-15)
        # are ingested, nothing is undone.
        abort = LogImporter.abort
        monkeypatch.setattr(LogImporter, "abort", lambda self: None)
        spec = SourceSpec(f"s3://{BUCKET}/{prefix}", ORIGIN, "sha256", published.moto)
        with pytest.raises(VerificationError, match="tile/0/015 differs"):
            restore.Restorer(spec, [verifier], processes=0).run(db, SHA256)
        keys = LogKeys(prefix_of(db.log_ids()[ORIGIN]))
        last = restore.task_bounds(-(-SIZE // 256))[0][1] * 256 - 1
        assert db.get(keys.entry(last)) == b"entry %d" % last
        with pytest.raises(CorruptionError, match="tile 0/0 holds 1 hashes, want 0 for size 0"):
            LogStore(db, ORIGIN, SHA256)  # never served, never signed over
        monkeypatch.setattr(LogImporter, "abort", abort)
        good = SourceSpec(published.source, ORIGIN, "sha256", published.moto)
        result = restore.Restorer(good, [verifier], processes=0).run(db, SHA256)
        store = LogStore(db, ORIGIN, SHA256)
        assert (store.size, store.checkpoint()) == (SIZE, published.checkpoints[SIZE])
        assert store.root == result.root and store.entries(SIZE - 2, SIZE) == \
            [b"entry %d" % i for i in (SIZE - 2, SIZE - 1)]
    finally:
        db.close()
        close_sources()


def test_tasks_cover_every_bundle_once_small_at_both_ends() -> None:
    for count in (1, 5, 20, 100, 782, 1563, 3907):
        bounds = restore.task_bounds(count)
        assert bounds[0][0] == 0 and bounds[-1][1] == count
        assert all(end == first for (_, end), (first, _) in pairwise(bounds))
        sizes = [end - first for first, end in bounds]
        assert min(sizes) > 0 and max(sizes) <= restore.BUNDLES_PER_TASK
        assert sizes[0] == min(count, restore.MIN_TASK_BUNDLES)
        if count > 4 * restore.BUNDLES_PER_TASK:
            assert restore.BUNDLES_PER_TASK in sizes and sizes[-1] < restore.BUNDLES_PER_TASK


def _where(n: int) -> Digests:
    return Digests([], [f"{n} {threading.current_thread().name}"])


@pytest.mark.parametrize("ready_at", [None, 3])
def test_tasks_run_here_until_the_worker_processes_answer(ready_at: int | None) -> None:
    ready = threading.Event()
    if ready_at is None:
        ready.set()
    seen: list[str] = []
    with ThreadPoolExecutor(2, thread_name_prefix="here") as here, \
            ThreadPoolExecutor(2, thread_name_prefix="pool") as pool:
        tasks = [partial(_where, n) for n in range(14)]
        for digests in restore._results(tasks, here, pool, 2, ready):
            seen.extend(digests.files)
            if len(seen) == ready_at:
                ready.set()
    assert [int(s.split()[0]) for s in seen] == list(range(14))  # in order, each once
    # The window holds 6 tasks: 0-5 are submitted before the first answer, 6-7 before the
    # third; after that every task goes to the pool.
    local = restore.LOCAL_TASKS if ready_at is None else 8
    assert [s.split()[1].startswith("here") for s in seen] == [n < local for n in range(14)]


def test_the_server_of_forks_answers_and_its_processes_work() -> None:
    pool, ready = restore._process_pool(1)
    try:
        assert ready.wait(60)
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
    finally:
        pool.shutdown()
