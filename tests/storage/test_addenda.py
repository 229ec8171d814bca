"""Addenda stored apart from entries, in the entries' WriteBatch; an erasure deletes them and
purges the bytes from every file of the database (WAL and SST), while proofs still verify."""

from __future__ import annotations

from pathlib import Path

from auditlog_tlog.storage.addenda import AddendaChange
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.verify import verify_inclusion

ORIGIN = "test.example/addenda"
SECRET = b"PLAINTEXT-alice@example.com-0451"


def files_holding(directory: Path, needle: bytes) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.is_file() and needle in p.read_bytes())


def _append(store: LogStore, entry: bytes, change: AddendaChange | None) -> int:
    batch = store.prepare([entry], dedup=True)
    batch.addenda = change
    store.commit(batch)
    return batch.outcomes[0].index


def test_an_erased_addendum_is_gone_from_every_file_and_proofs_still_verify(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    store = LogStore(db, ORIGIN, SHA256)
    digest = b"\x07" * 32
    for i in range(50):
        _append(store, b"before %d" % i, None)
    index = _append(store, b"entry with an addendum", AddendaChange(puts=((0, digest, SECRET),)))
    for i in range(50):
        _append(store, b"after %d" % i, None)
    got = store.addenda.get(digest)
    assert got is not None and got.data == SECRET
    db.purge(b"\x00", b"\xff")  # the addendum now sits in an SST file too, not only the WAL
    assert files_holding(tmp_path / "db", SECRET), "the test must see the bytes before erasure"
    leaf, root, size = store.leaf_hash(index), store.root, store.size

    record = _append(store, b"erasure record", AddendaChange(erasures=((digest, index, 101),)))
    store.addenda.purge()

    assert files_holding(tmp_path / "db", SECRET) == []
    assert store.addenda.get(digest) is None
    erased = store.addenda.erased(digest)
    assert erased is not None and (erased.index, erased.erasure_index) == (index, 101)
    assert record == size and store.entries(index, index + 1) == [b"entry with an addendum"]
    verify_inclusion(SHA256, index, size, leaf, store.inclusion_proof(index, size), root)
    db.close()
    db = Database(tmp_path / "db")  # and after a reopen
    store = LogStore(db, ORIGIN, SHA256)
    assert store.addenda.get(digest) is None and store.addenda.erased(digest) is not None
    assert files_holding(tmp_path / "db", SECRET) == []
    db.close()


def test_an_addendum_written_and_erased_before_any_flush_never_reaches_an_sst(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    store = LogStore(db, ORIGIN, SHA256)
    digest = b"\x09" * 32
    index = _append(store, b"entry", AddendaChange(puts=((0, digest, SECRET),)))
    assert files_holding(tmp_path / "db", SECRET)  # in the WAL
    _append(store, b"erasure", AddendaChange(erasures=((digest, index, 1),)))
    store.addenda.purge()
    assert files_holding(tmp_path / "db", SECRET) == []
    db.close()


def test_a_purge_cut_short_by_a_crash_is_completed_after_reopening(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    store = LogStore(db, ORIGIN, SHA256)
    digest = b"\x0b" * 32
    index = _append(store, b"entry", AddendaChange(puts=((0, digest, SECRET),)))
    db.purge(b"\x00", b"\xff")  # in an SST file
    _append(store, b"erasure", AddendaChange(erasures=((digest, index, 1),)))
    db.close()  # the erasure is committed, the purge never ran
    db = Database(tmp_path / "db")
    store = LogStore(db, ORIGIN, SHA256)
    assert store.addenda.get(digest) is None
    assert files_holding(tmp_path / "db", SECRET), "the bytes are still in a file"
    store.addenda.purge()  # what a second erase does (server/sequencer.py)
    assert files_holding(tmp_path / "db", SECRET) == []
    db.close()
