"""The witness journal (witness/journal.py): compare-and-swap state, one sync per request, the
archive queue, and recovery from a crash at any byte."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

import pytest

from auditlog_tlog.tree.errors import ConflictError, CorruptionError, PushbackError, StorageError
from auditlog_tlog.tree.note import parse_signature_lines
from auditlog_tlog.witness.archive import LocalArchive, cosigned_key
from auditlog_tlog.witness.journal import JOURNAL, Journal
from auditlog_tlog.witness.state import FileStateStore, WitnessedState
from tests.witness.helpers import TestLog, make_witness

ORIGIN = "test.example/log"


def _state(size: int, origin: str = ORIGIN) -> WitnessedState:
    root = hashlib.sha256(f"{origin} {size}".encode()).digest()
    return WitnessedState(origin, size, root, f"{origin}\n{size}\nnote\n".encode())


def _fill(directory: Path, sizes: list[int], archive: LocalArchive | None = None) -> None:
    journal = Journal(directory, archive)
    try:
        before = None
        for size in sizes:
            journal.swap(before, _state(size))
            before = (size, _state(size).root)
    finally:
        journal.close()


def test_swap_is_compare_and_swap_and_survives_reopening(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.load(ORIGIN) is None
    journal.swap(None, _state(5))
    with pytest.raises(ConflictError, match="got size 5 stored, want nothing"):
        journal.swap(None, _state(6))
    with pytest.raises(ConflictError, match="got size 5 stored, want size 4"):
        journal.swap((4, _state(4).root), _state(6))
    with pytest.raises(ValueError, match="got size 3, want >= 5"):
        journal.swap((5, _state(5).root), _state(3))
    journal.swap((5, _state(5).root), _state(9))
    journal.close()
    with pytest.raises(StorageError, match="closed"):
        journal.swap((9, _state(9).root), _state(10))
    assert journal.load(ORIGIN) == _state(9)  # still readable: all of it is durable
    assert Journal(tmp_path).load(ORIGIN) == _state(9)


def test_a_second_process_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    try:
        with pytest.raises(StorageError, match="in use by another witness process"):
            Journal(tmp_path)
    finally:
        journal.close()


def test_a_crash_at_any_byte_recovers_the_last_whole_record_and_appends_cleanly(
    tmp_path: Path,
) -> None:
    _fill(tmp_path / "full", [1, 2, 3])
    data = (tmp_path / "full" / JOURNAL).read_bytes()
    ends = []
    whole = {0, len(data)} | {i for i in range(len(data)) if data[i:i + 4] == b"\0\0\0\0"}
    cuts = sorted({*range(0, len(data) + 1, 5), *(w + d for w in whole for d in (-1, 0, 1))})
    for cut in (c for c in cuts if 0 <= c <= len(data)):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / JOURNAL).write_bytes(data[:cut])
        journal = Journal(directory)
        state = journal.load(ORIGIN)
        size = 0 if state is None else state.size
        assert state is None or state == _state(size)
        ends.append(size)
        # A new record goes where the torn one was: the cut-off bytes never come back.
        journal.swap(None if state is None else (size, state.root), _state(size + 10))
        journal.close()
        assert Journal(directory).load(ORIGIN) == _state(size + 10)
        shutil.rmtree(directory)
    assert ends == sorted(ends) and ends[0] == 0 and ends[-1] == 3  # never ahead, never back


def test_a_journal_that_goes_back_is_refused(tmp_path: Path) -> None:
    _fill(tmp_path / "a", [7])
    _fill(tmp_path / "b", [3])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / JOURNAL).write_bytes(
        (tmp_path / "a" / JOURNAL).read_bytes() + (tmp_path / "b" / JOURNAL).read_bytes())
    with pytest.raises(CorruptionError, match="goes back from size 7 to 3"):
        Journal(tmp_path / "c")


def test_state_files_of_the_old_store_are_imported_once(tmp_path: Path) -> None:
    old = FileStateStore(tmp_path)
    old.swap(None, _state(4))
    old.swap(None, _state(2, "other.example/log"))
    old.close()
    journal = Journal(tmp_path)
    assert journal.load(ORIGIN) == _state(4)
    assert journal.load("other.example/log") == _state(2, "other.example/log")
    journal.swap((4, _state(4).root), _state(8))
    journal.close()
    assert Journal(tmp_path).load(ORIGIN) == _state(8)  # the JSON file is not read again


def test_notes_are_staged_at_once_and_marked_archived_once_synced(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "archive")
    journal = Journal(tmp_path / "state", archive)
    try:
        journal.swap(None, _state(1))
        key = cosigned_key(ORIGIN, 1, _state(1).checkpoint)
        assert journal.put(key, _state(1).checkpoint) is True
        assert archive.path_of(key).read_bytes() == _state(1).checkpoint  # visible at once
        journal.flush()
        size = (tmp_path / "state" / JOURNAL).stat().st_size
        assert b'"archived_to"' in (tmp_path / "state" / JOURNAL).read_bytes()
        journal.flush()  # nothing pending: nothing written
        assert (tmp_path / "state" / JOURNAL).stat().st_size == size
        # Evidence and other objects the journal does not hold are put durably, once.
        other = "evidence/" + "ab" * 32 + "/1/" + "cd" * 32
        assert journal.put(other, b"doc") is True and journal.put(other, b"doc") is False
    finally:
        journal.close()


class _CountingArchive(LocalArchive):
    written: list[str]

    def write_staged(self, key: str, data: bytes) -> None:
        self.written.append(key)
        super().write_staged(key, data)


def test_an_object_prepared_during_its_sync_is_seen_only_once_put(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "archive")
    journal = Journal(tmp_path / "state", archive)
    try:
        journal.swap(None, _state(1))  # the log's first object: its parents are made
        journal.put(cosigned_key(ORIGIN, 1, _state(1).checkpoint), _state(1).checkpoint)
        ticket = journal.swap((1, _state(1).root), _state(2), durable=False)
        journal.sync(ticket)  # the sync thread syncs; this thread prepares the object
        key = cosigned_key(ORIGIN, 2, _state(2).checkpoint)
        path = archive.path_of(key)
        assert path.parent.is_dir() and not list(path.parent.iterdir())  # nothing to read yet
        assert journal.put(key, _state(2).checkpoint) is True
        assert path.read_bytes() == _state(2).checkpoint
        assert path.stat().st_mode & 0o777 == 0o444
        ticket = journal.swap((2, _state(2).root), _state(3), durable=False)
        journal.sync(ticket)  # prepared, never put: close drops it; the last pass writes it
    finally:
        journal.close()
    third = archive.path_of(cosigned_key(ORIGIN, 3, _state(3).checkpoint))
    assert third.read_bytes() == _state(3).checkpoint
    assert sorted(p.name for p in third.parent.iterdir()) == [third.name]


def test_the_archive_pass_writes_only_the_objects_no_put_wrote(tmp_path: Path) -> None:
    archive = _CountingArchive(tmp_path / "archive")
    archive.written = []
    journal = Journal(tmp_path / "state", archive)
    try:
        journal.swap(None, _state(1))
        journal.swap((1, _state(1).root), _state(2))  # never put: the pass writes it
        one, two = (cosigned_key(ORIGIN, n, _state(n).checkpoint) for n in (1, 2))
        assert journal.put(one, _state(1).checkpoint) is True
        journal.flush()
        assert archive.written == [one, two]
        assert archive.path_of(two).read_bytes() == _state(2).checkpoint
        assert archive.path_of(one).stat().st_mode & 0o777 == 0o444
    finally:
        journal.close()


def test_the_archive_pass_writes_an_object_only_once_its_record_is_durable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Written before the journal's fdatasync, an object could outlive a power cut that took the
    # state recording it: the witness could then cosign another checkpoint of that size while
    # the archive holds this one.
    events: list[str] = []
    real_fdatasync = os.fdatasync

    def fdatasync(fd: int) -> None:
        real_fdatasync(fd)
        events.append("synced")

    class Recording(LocalArchive):
        def write_staged(self, key: str, data: bytes) -> None:
            events.append(key)
            super().write_staged(key, data)

    journal = Journal(tmp_path / "state", Recording(tmp_path / "archive"))
    try:
        journal.swap(None, _state(1))
        journal.flush()
        monkeypatch.setattr(os, "fdatasync", fdatasync)
        journal.swap((1, _state(1).root), _state(2), durable=False)  # appended, not synced
        journal.flush()  # (or the archiver's own pass, whichever comes first)
        key = cosigned_key(ORIGIN, 2, _state(2).checkpoint)
        assert key in events and "synced" in events[:events.index(key)]
    finally:
        journal.close()


def test_the_paths_to_sync_without_syncfs_reach_the_root(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "archive")
    key = cosigned_key(ORIGIN, 7, b"note")
    object_path = archive.path_of(key)
    assert archive.paths_to_sync(key) == [
        object_path, object_path.parent, object_path.parent.parent, tmp_path / "archive" /
        "cosigned", tmp_path / "archive"]


def test_recovery_rewrites_an_object_a_crash_left_torn_or_missing(tmp_path: Path) -> None:
    _fill(tmp_path / "state", [1, 2])  # state records, no archive marker: all unarchived
    archive = LocalArchive(tmp_path / "archive")
    torn = archive.path_of(cosigned_key(ORIGIN, 1, _state(1).checkpoint))
    torn.parent.mkdir(parents=True)
    torn.write_bytes(b"")  # the name was durable, the data was not
    torn.chmod(0o444)
    journal = Journal(tmp_path / "state", archive)
    try:
        assert torn.read_bytes() == _state(1).checkpoint
        missing = archive.path_of(cosigned_key(ORIGIN, 2, _state(2).checkpoint))
        assert missing.read_bytes() == _state(2).checkpoint
        assert torn.stat().st_mode & 0o777 == 0o444
    finally:
        journal.close()


def test_compaction_bounds_the_file_and_keeps_the_latest_state(tmp_path: Path) -> None:
    archive = LocalArchive(tmp_path / "archive")
    journal = Journal(tmp_path / "state", archive, max_bytes=2048)
    before = None
    for size in range(1, 60):
        journal.swap(before, _state(size))
        journal.put(cosigned_key(ORIGIN, size, _state(size).checkpoint), _state(size).checkpoint)
        before = (size, _state(size).root)
        journal.flush()
        assert (tmp_path / "state" / JOURNAL).stat().st_size < 2048 + 400
    journal.close()
    assert Journal(tmp_path / "state").load(ORIGIN) == _state(59)
    assert len([p for p in (tmp_path / "archive").rglob("*") if p.is_file()]) == 59


def test_a_failed_sync_releases_nothing_and_refuses_until_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = TestLog()
    archive = LocalArchive(tmp_path / "archive")
    journal = Journal(tmp_path / "state", archive)
    witness = make_witness(tmp_path / "state", [log], archive=journal, state=journal)
    witness.add_checkpoint(log.body(0, 3))

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    # The request's own wait, or the sync thread that started its sync (witness.syncahead),
    # meets the failure first; either way the request is refused, saying why.
    with pytest.raises(StorageError, match=r"cannot sync the witness journal|unusable until a "
                       r"restart: fdatasync: Input/output error"):
        witness.add_checkpoint(log.body(3, 5))
    monkeypatch.undo()
    with pytest.raises(StorageError, match="unusable until a restart"):
        witness.latest(hashlib.sha256(log.origin.encode()).hexdigest())
    with pytest.raises(StorageError, match="unusable until a restart"):
        witness.add_checkpoint(log.body(3, 5))
    journal.close()
    # After the restart the state is what is on disk (here the page cache kept size 5: the
    # write was whole, only its sync was in doubt); it is never behind what was answered.
    reopened = Journal(tmp_path / "state", archive)
    try:
        state = reopened.load(log.origin)
        assert state is not None and state.size in (3, 5)
    finally:
        reopened.close()


def test_concurrent_swaps_share_syncs_and_each_is_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real = os.fdatasync
    origins = [f"test.example/log{i}" for i in range(16)]
    appended = threading.Semaphore(0)

    def slow(fd: int) -> None:
        if not syncs:  # a slow disk: the first sync lasts until every swap has appended
            for _ in origins:
                assert appended.acquire(timeout=10)
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow)
    journal = Journal(tmp_path)

    def swap(origin: str) -> None:
        journal.swap(None, _state(1, origin))

    real_append = journal._append

    def counted(record: bytes) -> int:
        offset = real_append(record)
        appended.release()
        return offset

    monkeypatch.setattr(journal, "_append", counted)
    threads = [threading.Thread(target=swap, args=(o,)) for o in origins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    assert 1 <= len(syncs) <= 2  # the first, then at most one for all that queued behind it
    reopened = Journal(tmp_path)
    assert all(reopened.load(o) == _state(1, o) for o in origins)


def test_the_witness_answers_from_the_journal_and_archives_every_note(tmp_path: Path) -> None:
    log = TestLog()
    archive = LocalArchive(tmp_path / "archive")
    journal = Journal(tmp_path / "state", archive)
    witness = make_witness(tmp_path / "state", [log], archive=journal, state=journal)
    lines = [witness.add_checkpoint(log.body(old, new)) for old, new in ((0, 2), (2, 5), (5, 9))]
    journal.close()
    notes = [p.read_bytes() for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    for answer in lines:
        (line,) = parse_signature_lines(answer)
        assert any(line.line().encode() in note for note in notes)


class _SwappingArchive(LocalArchive):
    """Swaps a newer state into the journal while the archive pass stages: a request that
    arrives during the pass, so that the compaction after it has a record not yet archived."""

    journal: Journal | None = None

    def write_staged(self, key: str, data: bytes) -> None:
        journal, self.journal = self.journal, None
        if journal is not None:
            journal.swap((1, _state(1).root), _state(2))
        super().write_staged(key, data)


def test_a_compaction_keeps_the_records_not_yet_archived(tmp_path: Path) -> None:
    archive = _SwappingArchive(tmp_path / "archive")
    journal = Journal(tmp_path / "state", archive, max_bytes=1)  # compact after every pass
    try:
        journal.swap(None, _state(1))
        archive.journal = journal
        journal.flush()  # archives size 1; size 2 arrives meanwhile; then compacts
        crashed = tmp_path / "crashed"
        shutil.copytree(tmp_path / "state", crashed, ignore=shutil.ignore_patterns(".lock"))
    finally:
        journal.close()
    note2 = archive.path_of(cosigned_key(ORIGIN, 2, _state(2).checkpoint))
    note2.unlink()  # as if the crash came before size 2 reached the archive
    reopened = Journal(crashed, LocalArchive(tmp_path / "archive"))
    try:
        assert reopened.load(ORIGIN) == _state(2)
        assert note2.read_bytes() == _state(2).checkpoint  # recovery archived it again
    finally:
        reopened.close()


class _BrokenArchive(LocalArchive):
    def write_staged(self, key: str, data: bytes) -> None:
        raise StorageError("the archive disk is gone")


def test_a_backlog_the_archive_cannot_take_refuses_new_cosignatures(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state", _BrokenArchive(tmp_path / "archive"), max_pending=2)
    try:
        journal.swap(None, _state(1))
        journal.swap((1, _state(1).root), _state(2))
        with pytest.raises(PushbackError, match="2 cosigned notes wait for the archive sync"):
            journal.swap((2, _state(2).root), _state(3))
        assert journal.load(ORIGIN) == _state(2)
    finally:
        journal.close()  # its last archive sync fails too: logged, the notes stay in the journal
    assert Journal(tmp_path / "state").load(ORIGIN) == _state(2)
