"""The sequencer in process, with a fake clock: when checkpoints are signed (every batch, on
receipts, on the interval, for the idle tail), and that a halted log takes no appends."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.server.anchors import AnchorFile, LogHaltedError, checkpoint_of
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.sequencer import Sequencer
from auditlog_tlog.server.writer import LogWriter
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import MalformedError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import open_note
from auditlog_tlog.tree.tlogproof import parse_tlog_proof
from tests.clock import FakeClock

ORIGIN = "seq.example/log"
KEY = Ed25519Signer.generate(ORIGIN)


@dataclass
class Opened:
    db: Database
    store: LogStore
    writer: LogWriter
    anchors: AnchorFile


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    db = Database(tmp_path / "db")
    store = LogStore(db, ORIGIN, SHA256)
    anchors = AnchorFile(tmp_path / "anchors", ORIGIN)
    writer = LogWriter(store, [KEY], anchors)
    writer.open()
    yield Opened(db, store, writer, anchors)
    db.close()


def _run(opened: Opened, clock: FakeClock, interval_ms: float,
         body: Callable[[Sequencer], Awaitable[None]], max_batch_entries: int = 1000) -> None:
    config = LogConfig(ORIGIN, Path("unused"), checkpoint_interval_ms=interval_ms,
                       max_batch_entries=max_batch_entries)

    async def main() -> None:
        sequencer = Sequencer(opened.writer, config, Metrics(), clock)
        sequencer.start()
        try:
            await body(sequencer)
        finally:
            await sequencer.close()

    asyncio.run(main())


async def _until(check: Callable[[], bool]) -> None:
    """Let the event loop and the writer thread run until ``check`` holds (real time, bounded)."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("timed out")


def test_every_batch_is_signed_without_an_interval(opened: Opened) -> None:
    async def body(sequencer: Sequencer) -> None:
        for n in range(3):
            await sequencer.append([b"entry %d" % n], False)
            assert opened.store.checkpoint_size == n + 1
        assert opened.anchors.latest() == opened.store.checkpoint()

    _run(opened, FakeClock(), 0, body)
    assert opened.store.checkpoint_sizes() == [0, 1, 2, 3]


def test_many_callers_are_answered_only_once_their_checkpoint_is_stored(opened: Opened) -> None:
    """With batches waiting, the anchor file's fsync of one batch overlaps the next batch's
    commit (server/writer.py); each caller still sees a stored checkpoint covering its entry,
    duplicates of an entry in flight included; the last batch waits for its own."""

    async def one(sequencer: Sequencer, n: int) -> None:
        for k in range(6):
            entry = b"entry %d" % (k * 100 + n % 8)  # callers n and n + 8 append the same
            (result,) = await sequencer.append([entry], False)
            assert opened.store.checkpoint_size > result.outcome.index
            in_file = opened.anchors.latest()  # first there, or as far as the database
            assert in_file is not None and checkpoint_of(in_file).size >= result.outcome.index

    async def body(sequencer: Sequencer) -> None:
        await asyncio.gather(*(one(sequencer, n) for n in range(16)))
        assert sequencer.queued == 0 and opened.writer.in_flight is None

    settle = opened.writer.settle
    overlapped: list[bool] = []  # per settle: was a checkpoint in flight during a later commit

    def watched() -> None:
        in_flight = opened.writer.in_flight
        overlapped.append(in_flight is not None and in_flight < opened.store.size)
        settle()

    opened.writer.settle = watched  # type: ignore[method-assign]
    _run(opened, FakeClock(), 0, body, max_batch_entries=4)  # 4 batches of 4 wait at once
    assert opened.store.size == 48 and opened.store.checkpoint_size == 48
    assert opened.anchors.latest() == opened.store.checkpoint()
    assert any(overlapped) and not all(overlapped)


def test_the_interval_signs_when_due_on_receipts_and_for_the_idle_tail(opened: Opened) -> None:
    clock = FakeClock()
    store = opened.store

    async def body(sequencer: Sequencer) -> None:
        await sequencer.append([b"early"], False)
        assert store.checkpoint_size == 0  # the interval has not passed since open
        clock.advance(0.5)
        await sequencer.append([b"first"], False)
        assert store.checkpoint_size == 2  # due: signed at once
        await sequencer.append([b"a", b"b"], False)
        assert store.checkpoint_size == 2  # not due yet
        (receipted,) = await sequencer.append([b"r"], True)
        assert store.checkpoint_size == 5  # a receipt forces a checkpoint covering the entry
        proof = parse_tlog_proof(receipted.receipt)
        assert proof.index == 4 and open_note(proof.checkpoint, [KEY.verifier()])
        await sequencer.append([b"tail"], False)
        await _until(lambda: clock.sleeping == 1)  # the sequencer waits out the interval
        clock.advance(0.25)
        await _until(lambda: clock.sleeping == 1)  # half-way: still waiting, nothing signed
        assert store.checkpoint_size == 5
        clock.advance(0.25)
        await _until(lambda: store.checkpoint_size == 6)  # the idle tail is signed
        assert store.checkpoint() == opened.anchors.latest()
        await _until(lambda: clock.sleeping == 0)  # and nothing is left to sign

    _run(opened, clock, 500, body)
    assert store.checkpoint_sizes() == [0, 2, 5, 6]


def test_the_signed_signal_fires_for_each_new_checkpoint_only(opened: Opened) -> None:
    """Witness pushers wake on it (server/pushing.py): a signed batch and a signed idle tail
    fire it; a batch left unsigned by the interval does not."""
    clock = FakeClock()
    store = opened.store

    async def body(sequencer: Sequencer) -> None:
        edge = sequencer.signed.edge()
        await sequencer.append([b"unsigned"], False)
        assert store.checkpoint_size == 0 and not edge.is_set()
        clock.advance(0.5)
        await sequencer.append([b"signed"], False)
        await _until(edge.is_set)
        assert store.checkpoint_size == 2
        tail = sequencer.signed.edge()
        assert tail is not edge and not tail.is_set()
        await sequencer.append([b"tail"], False)
        assert not tail.is_set()
        await _until(lambda: clock.sleeping == 1)
        clock.advance(0.5)
        await _until(tail.is_set)  # the idle tail, signed when the interval ran out
        assert store.checkpoint_size == 3

    _run(opened, clock, 500, body)


def test_a_halted_log_refuses_appends(opened: Opened) -> None:
    async def body(sequencer: Sequencer) -> None:
        await sequencer.append([b"one"], False)
        await sequencer.report_witness_size("w at http://127.0.0.1:1", 9)
        with pytest.raises(LogHaltedError, match="smaller than the size 9 that witness w at"):
            await sequencer.append([b"two"], False)

    _run(opened, FakeClock(), 0, body)
    assert opened.store.size == 1 and opened.store.checkpoint_sizes() == [0, 1]


@pytest.mark.parametrize("module", ["sequencer", "pushing"])
def test_time_is_read_from_the_clock_only(module: str) -> None:
    """The sequencer and the pusher get time from the injected Clock, never from ``time``."""
    source = Path(__file__).resolve().parents[2] / "server" / f"{module}.py"
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source.read_text()))
                if isinstance(node, ast.Import | ast.ImportFrom)
                for alias in (node.names if isinstance(node, ast.Import) else
                              [ast.alias(node.module or "")])}
    assert imported and "time" not in imported


class _Unread(Sequence[bytes]):
    """A batch of 10^6 entries that counts every read of them."""

    reads = 0

    def __len__(self) -> int:
        return 10**6

    def __getitem__(self, index: Any) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(index)
        self.reads += 1
        return b"x"


def test_a_refused_batch_is_counted_before_its_entries_are_read(opened: Opened) -> None:
    """A batch over ``max_batch_entries`` is refused from its length alone: none of its entries
    is read (a refused 10^6-entry request must not become 10^6 Python objects)."""
    batch = _Unread()

    async def body(sequencer: Sequencer) -> None:
        with pytest.raises(MalformedError, match="batch of 1000000 entries, want at most 1000"):
            await sequencer.append(batch, False)

    _run(opened, FakeClock(), 0, body)
    assert batch.reads == 0
    assert opened.store.size == 0
