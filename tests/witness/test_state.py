"""The witness state: a durable compare-and-swap that never rolls back, even under forced races
(c2sp.org/tlog-witness@v1.0.0: check-old-size-and-persist is atomic)."""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from auditlog_tlog.tree.errors import ConflictError, CorruptionError
from auditlog_tlog.tree.witness_protocol import parse_add_checkpoint
from auditlog_tlog.witness.core import OldSizeConflictError, Witness
from auditlog_tlog.witness.state import FileStateStore, WitnessedState
from tests.witness.helpers import TestLog, make_witness

ORIGIN = "test.example/log"
R1, R2 = bytes(range(32)), bytes(range(1, 33))


def test_swap_is_compare_and_swap_and_survives_reopening(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    assert store.load(ORIGIN) is None
    store.swap(None, WitnessedState(ORIGIN, 1, R1, b"note 1\n"))
    with pytest.raises(ConflictError):
        store.swap(None, WitnessedState(ORIGIN, 2, R2))
    with pytest.raises(ConflictError):
        store.swap((1, R2), WitnessedState(ORIGIN, 2, R2))
    store.swap((1, R1), WitnessedState(ORIGIN, 2, R2, b"note 2\n"))
    store.close()
    reopened = FileStateStore(tmp_path)
    assert reopened.load(ORIGIN) == WitnessedState(ORIGIN, 2, R2, b"note 2\n")
    assert reopened.load("other.example") is None
    (state_file,) = [p for p in tmp_path.iterdir() if p.suffix == ".json"]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    reopened.close()


def test_swap_never_moves_backwards(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    store.swap(None, WitnessedState(ORIGIN, 5, R1))
    with pytest.raises(ValueError, match="want >= 5"):
        store.swap((5, R1), WitnessedState(ORIGIN, 4, R1))
    store.close()


def test_a_corrupt_state_file_is_refused(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    store.swap(None, WitnessedState(ORIGIN, 5, R1))
    (state_file,) = [p for p in tmp_path.iterdir() if p.suffix == ".json"]
    os.chmod(state_file, 0o600)
    state_file.write_text('{"origin": "test.example/log", "size": "5"}')
    with pytest.raises(CorruptionError):
        store.load(ORIGIN)
    with pytest.raises(CorruptionError):
        store.swap((5, R1), WitnessedState(ORIGIN, 6, R1))
    store.close()


def test_concurrent_swaps_from_one_state_have_exactly_one_winner(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    barrier = threading.Barrier(16)

    def attempt(size: int) -> bool:
        barrier.wait()
        try:
            store.swap(None, WitnessedState(ORIGIN, size, R1))
        except ConflictError:
            return False
        return True

    with ThreadPoolExecutor(16) as pool:
        won = list(pool.map(attempt, range(1, 17)))
    assert won.count(True) == 1
    state = store.load(ORIGIN)
    assert state is not None and state.size == won.index(True) + 1
    store.close()


class RacingStore(FileStateStore):
    """Holds the first ``parties`` loads at a barrier, so that that many requests all check
    against the same state before any of them swaps: the race the spec warns about."""

    def __init__(self, directory: Path, parties: int) -> None:
        super().__init__(directory)
        self._parties = parties
        self._barrier = threading.Barrier(parties)
        self._held = 0
        self._count_lock = threading.Lock()

    def arm(self) -> None:
        self._held = self._parties

    def load(self, origin: str) -> WitnessedState | None:
        state = super().load(origin)
        with self._count_lock:
            hold, self._held = self._held > 0, self._held - 1
        if hold:
            self._barrier.wait(10)
        return state


def _race(witness: Witness, bodies: list[bytes]) -> list[int | str]:
    def send(body: bytes) -> int | str:
        try:
            witness.process(parse_add_checkpoint(body))
        except OldSizeConflictError as exc:
            return f"409 {exc.size}"
        return 200

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_forced_race_of_n_and_n_plus_k_never_rolls_back(tmp_path: Path) -> None:
    log = TestLog()
    for round_ in range(3):
        store = RacingStore(tmp_path / f"state{round_}", parties=2)
        witness = make_witness(tmp_path, [log], state=store)
        store.arm()
        outcomes = _race(witness, [log.body(0, 3), log.body(0, 8)])
        assert sorted(map(str, outcomes)) in (["200", "409 3"], ["200", "409 8"])
        winner = 3 if outcomes[0] == 200 else 8
        state = witness.state_of(log.origin)
        assert state is not None and (state.size, state.root) == (winner, log.root(winner))
        store.close()


def test_many_racing_requests_move_the_state_forward_only(tmp_path: Path) -> None:
    log = TestLog()
    size = 0
    seen = [0]
    for round_ in range(4):
        store = RacingStore(tmp_path / f"state{round_}", parties=6)
        witness = make_witness(tmp_path, [log], state=store)
        if size:  # bring the fresh store to where the last round ended
            witness.process(parse_add_checkpoint(log.body(0, size)))
        store.arm()
        bodies = [log.body(size, size + k) for k in range(1, 7)]
        outcomes = _race(witness, bodies)
        assert outcomes.count(200) == 1
        size = size + 1 + outcomes.index(200)
        assert all(o == f"409 {size}" for o in outcomes if o != 200)
        state = witness.state_of(log.origin)
        assert state is not None and state.size == size
        seen.append(size)
        store.close()
    assert seen == sorted(seen)
