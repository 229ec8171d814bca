"""A review of storage/proofs.py's consistency split without max() and of the strata read
handle that storage/db.py makes for read_stratum (and makes again in recover())."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import StorageError
from auditlog_tlog.tree.hashing import SHA256
from tests.tree import reference

ORIGIN = "split.example/log"
SIZE = 2**12 + 1


def _old_split(size1: int, size2: int) -> tuple[int, int, bool]:
    """(level, split, tail has its sibling) as ProofReader.consistency had them with max()."""
    anchor = size1 - 1
    level = (size1 & -size1).bit_length() - 1
    split = max(level, (anchor ^ (size2 - 1)).bit_length())
    return level, split, split > level


def _new_split(size1: int, size2: int) -> tuple[int, int, bool]:
    """The same as ProofReader.consistency has them now."""
    anchor = size1 - 1
    level = (size1 ^ anchor).bit_length() - 1
    return level, (anchor ^ (size2 - 1)).bit_length(), True


def test_the_split_without_max_equals_the_split_with_it_for_every_pair_to_2_10() -> None:
    for size2 in range(2, 2**10 + 1):
        for size1 in range(1, size2):
            assert _new_split(size1, size2) == _old_split(size1, size2), (size1, size2)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_the_split_without_max_equals_the_split_with_it_for_large_sizes(
        data: st.DataObject) -> None:
    size2 = data.draw(st.one_of(st.integers(2, 2**64), st.sampled_from(
        [2**k + d for k in (12, 31, 32, 40, 63) for d in (-1, 0, 1)])), label="size2")
    size1 = data.draw(st.one_of(st.integers(1, size2 - 1), st.sampled_from(
        [s for s in (1, size2 - 1, 1 << (size2.bit_length() - 1), size2 // 2) if 0 < s < size2])),
        label="size1")
    assert _new_split(size1, size2) == _old_split(size1, size2)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogStore]:
    db = Database(tmp_path_factory.mktemp("split"))
    log = LogStore(db, ORIGIN, SHA256)
    for first in range(0, SIZE, 1000):
        log.commit(log.prepare([i.to_bytes(8, "big") for i in range(first, min(SIZE, first + 1000))],
                               False))
    yield log
    db.close()


@given(size2=st.integers(2, SIZE), size1=st.integers(1, SIZE - 1))
@settings(max_examples=150, deadline=None)
@example(size2=SIZE, size1=2**12)
@example(size2=2**12, size1=2**12 - 1)
@example(size2=2**12, size1=1)
@example(size2=257, size1=256)
def test_consistency_proofs_are_rfc6962_proof(store: LogStore, size2: int, size1: int) -> None:
    size1 = min(size1, size2 - 1)
    leaves = reference.leaves(SHA256, size2)
    assert list(store.consistency_proof(size1, size2)) == reference.proof(SHA256, size1, leaves)


def test_a_recover_reads_strata_through_new_handles_and_frees_the_old(tmp_path: Path) -> None:
    """recover() after a failed write (its state set as ``write`` sets it) closes RocksDB and
    opens it again: the strata read handle is made again, reads go on, and no handle of the
    old one keeps the database open (which would hold its lock)."""
    db = Database(tmp_path / "db")
    log = LogStore(db, ORIGIN, SHA256)
    log.commit(log.prepare([i.to_bytes(8, "big") for i in range(700)], False))
    leaves = reference.leaves(SHA256, 700)
    for _ in range(2):
        db._broken = StorageError("write failed: simulated")
        db.recover()  # StorageError if a handle of the old database kept its lock
        assert db._broken is None
        again = LogStore(db, ORIGIN, SHA256)  # nothing cached: every stratum read anew
        for size1 in (1, 255, 256, 257, 511, 699):
            assert list(again.consistency_proof(size1, 700)) == reference.proof(
                SHA256, size1, leaves)
        log.commit(log.prepare([b"after"], False))  # writes go on
    db.close()
    reopened = Database(tmp_path / "db")  # the lock is free: no handle outlived its database
    assert LogStore(reopened, ORIGIN, SHA256).size == 702
    reopened.close()
