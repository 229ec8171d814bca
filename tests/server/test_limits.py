"""server/budget.py and common/echo.py in process: the largest valid request of each method is
computed exactly, the byte budget never holds more than its capacity, and echoed client input
stays short."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlog_tlog.common.echo import MAX_MESSAGE_CHARS, clip, echo
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.budget import (
    OTHER_REQUEST_BYTES,
    ByteBudget,
    HeapTrimmer,
    pin_mmap_threshold,
    request_limits,
)
from auditlog_tlog.server.config import LogConfig, ServerConfig
from auditlog_tlog.tree import addenda
from auditlog_tlog.tree.errors import MalformedError, PushbackError

MAX_UINT64 = 2**64 - 1
# The largest addenda an Append may carry (docs/erasure.md).
ADDENDA = [b"a" * addenda.MAX_ADDENDUM_BYTES] * addenda.MAX_ADDENDA


def _config(*logs: LogConfig, max_request_bytes: int = 16 * 1024 * 1024) -> ServerConfig:
    return ServerConfig(data_dir=Path("data"), logs=logs, max_request_bytes=max_request_bytes,
                        max_inflight_bytes=max(max_request_bytes, 64 * 1024 * 1024))


def _log(origin: str, entry: int, batch: int) -> LogConfig:
    return LogConfig(origin=origin, key_file=Path("k"), max_entry_bytes=entry,
                     max_batch_entries=batch)


@pytest.mark.parametrize(("entry", "batch"), [(1, 1), (127, 3), (128, 10), (65536, 100),
                                               (16383, 7), (16384, 7)])
def test_limits_equal_the_largest_valid_requests(entry: int, batch: int) -> None:
    small, large = _log("a.example/x", 1, 1), _log("b.example/long-origin-name", entry, batch)
    limits = request_limits(_config(small, large, max_request_bytes=256 * 1024 * 1024))
    big = b"x" * entry
    log = large.origin
    assert limits.append == pb.AppendRequest(log=log, entry=big, want_receipt=True,
                                             addenda=ADDENDA).ByteSize()
    assert limits.batch == pb.AppendBatchRequest(
        log=log, entries=[big] * batch, want_receipt=True).ByteSize()
    assert limits.stream == pb.AppendStreamRequest(
        log=log, entries=[big] * batch, want_receipt=True, sequence=MAX_UINT64).ByteSize()
    assert limits.receive == max(limits.append, limits.stream, OTHER_REQUEST_BYTES)


def test_max_request_bytes_caps_the_receive_limit() -> None:
    limits = request_limits(_config(_log("a.example/x", 65536, 10_000)))
    assert limits.receive == 16 * 1024 * 1024
    assert limits.batch == limits.stream == limits.receive
    assert limits.append == pb.AppendRequest(log="a.example/x", entry=b"x" * 65536,
                                             want_receipt=True, addenda=ADDENDA).ByteSize()


def test_a_request_larger_than_any_valid_one_of_its_method_is_malformed() -> None:
    limits = request_limits(_config(_log("a.example/x", 1024, 10)))
    limits.check("Append", limits.append)
    with pytest.raises(MalformedError, match=rf"Append request of {limits.append + 1} bytes, "
                                             rf"want at most {limits.append}"):
        limits.check("Append", limits.append + 1)
    limits.check("GetLogInfo", OTHER_REQUEST_BYTES)
    with pytest.raises(MalformedError, match="GetLogInfo request of 65537 bytes"):
        limits.check("GetLogInfo", OTHER_REQUEST_BYTES + 1)


def test_the_budget_refuses_what_does_not_fit_and_frees_what_is_given_back() -> None:
    budget = ByteBudget(100)
    budget.take(60)
    with pytest.raises(PushbackError, match=r"hold 60 of the server's 100 bytes.*needs 41; "
                                            r"retry after 100 ms") as info:
        budget.take(41)
    assert info.value.retry_after == pytest.approx(0.1)
    assert budget.held == 60  # a refusal holds nothing
    budget.take(40)
    budget.give(60)
    budget.give(40)
    assert (budget.held, budget.peak) == (0, 100)
    with pytest.raises(ValueError, match=r"releasing 1 bytes, want 0\.\.0"):
        budget.give(1)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 50)), max_size=60))
def test_the_budget_never_holds_more_than_its_capacity(steps: list[tuple[bool, int]]) -> None:
    budget, held = ByteBudget(100), []
    for take, size in steps:
        if take:
            try:
                budget.take(size)
                held.append(size)
            except PushbackError:
                assert sum(held) + size > 100
        elif held:
            budget.give(held.pop())
        assert budget.held == sum(held) <= 100


def test_the_heap_is_trimmed_once_per_every_refused_bytes() -> None:
    trimmer = HeapTrimmer(every=100)
    for size in (60, 30, 9):
        trimmer.refused(size)
    assert (trimmer.trims, trimmer.pending) == (0, 99)
    trimmer.refused(1)
    assert (trimmer.trims, trimmer.pending) == (1, 0)
    trimmer.refused(250)  # one large refusal: one trim, nothing carried over
    assert (trimmer.trims, trimmer.pending) == (2, 0)


def test_the_mmap_threshold_is_pinned_on_glibc() -> None:
    import platform

    assert pin_mmap_threshold() == (platform.libc_ver()[0] == "glibc")


def test_inflight_budget_must_hold_the_largest_request() -> None:
    config = _config(_log("a.example/x", 1024, 10))
    with pytest.raises(ValueError, match=r"max_inflight_bytes = 1000, want 16777216 "
                                         r"\(max_request_bytes\)"):
        replace(config, max_inflight_bytes=1000)


def test_echo_keeps_short_values_and_cuts_long_ones() -> None:
    assert echo("payments") == "'payments'"
    assert echo(b"\x00ab") == "b'\\x00ab'"
    assert echo("a" * 100_000) == "'" + "a" * 64 + "…' (100000 characters)"
    assert echo(b"z" * 65, limit=2) == "b'zz…' (65 bytes)"


@given(st.text(max_size=3000))
def test_echo_and_clip_bound_every_message(value: str) -> None:
    assert len(echo(value)) <= 10 * 64 + 40  # repr escapes at most 10 characters per character
    message = clip(f"unknown log {echo(value)}; and {value}")
    assert len(message) <= MAX_MESSAGE_CHARS
    if len(value) < 500:
        assert message.endswith(value)
