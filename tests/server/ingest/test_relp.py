"""RELP frames and the server side of a session."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.server.ingest.relp import (
    RelpDecoder,
    RelpFrame,
    RelpRead,
    RelpSession,
    Step,
    response,
)
from auditlog_tlog.tree.errors import MalformedError

OPEN = RelpFrame(1, "open", b"relp_version=0\nrelp_software=librelp,1.2.13\ncommands=syslog")


def encode(frame: RelpFrame) -> bytes:
    if not frame.data:
        return b"%d %s 0\n" % (frame.txnr, frame.command.encode())
    return b"%d %s %d %s\n" % (frame.txnr, frame.command.encode(), len(frame.data), frame.data)


frames = st.builds(RelpFrame, st.integers(1, 999_999_999),
                   st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=1, max_size=32),
                   st.binary(max_size=100))


@given(st.lists(frames, max_size=10), st.data())
def test_frames_split_anywhere_decode_to_themselves(sent: list[RelpFrame],
                                                    data: st.DataObject) -> None:
    stream = b"".join(map(encode, sent))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = RelpDecoder(100)
    got = []
    for begin, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[begin:end])
    assert got == sent


class FieldByField(RelpDecoder):
    """The decoder without its one-expression header reader: every frame read by ``_next``."""

    def feed(self, data: bytes) -> list[RelpFrame]:
        self._buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(RelpFrame(*frame))
        return frames


def _decoded(decoder: RelpDecoder, chunks: list[bytes]) -> list[object]:
    got: list[object] = []
    try:
        for chunk in chunks:
            got += decoder.feed(chunk)
    except MalformedError as exc:
        got.append(str(exc))
    return got


pieces = st.sampled_from([b"1", b"0", b"07", b"999999999", b"1234567890", b" ", b"\n", b"syslog",
                          b"open", b"a" * 33, b"x!", b"3", b"0 ", b"abc", b"100", b"101"])


@settings(max_examples=400, deadline=None)  # a loaded machine stalls a case now and then
@given(st.lists(st.one_of(frames.map(encode), pieces), max_size=12), st.data())
def test_the_header_expression_reads_as_the_field_by_field_reader(
        parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    chunks = [stream[b:e] for b, e in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert _decoded(RelpDecoder(100), chunks) == _decoded(FieldByField(100), chunks)


@pytest.mark.parametrize(("stream", "said"), [
    (b"1 syslog 101 " + b"x" * 101 + b"\n", "DATALEN 101, want at most 100"),
    (b"x syslog 1 a\n", "digits, letters, digits"),
    (b"0 syslog 1 a\n", "want 1..999999999"),
    (b"1 syslog 3 abc!", "not ended by LF"),
    (b"1 syslog 0 \n", "DATALEN 0 is not ended by LF"),
    (b"1 syslog 3\nabc\n", "not followed by SP DATA"),
    (b"1234567890 syslog", "at most 9"),
    (b"1 " + b"a" * 33, "at most 32"),
    (b"1  syslog", "empty COMMAND"),
    (b"1\n", "TXNR b'1' is not followed by SP"),
])
def test_bad_frames_say_what_is_wrong(stream: bytes, said: str) -> None:
    with pytest.raises(MalformedError, match=said):
        RelpDecoder(100).feed(stream)


def test_a_session_opens_takes_syslog_and_closes() -> None:
    session = RelpSession()
    step, reply = session.accept(OPEN)
    assert step is Step.REPLY
    assert reply.startswith(b"1 rsp ") and b"200 OK\nrelp_version=0\n" in reply
    assert b"commands=syslog\n" in reply
    assert int(reply.split(b" ")[2]) == len(reply.split(b" ", 3)[3]) - 1
    assert session.accept(RelpFrame(2, "syslog", b"<13>hi")) == (Step.DELIVER, b"")
    assert session.answer(2, 200, "OK") == b"2 rsp 6 200 OK\n" == response(2, 200, "OK")
    assert session.answer(7, 500, "OK") == response(7, 500, "OK")
    assert session.accept(RelpFrame(3, "close", b"")) == (Step.CLOSE, b"3 rsp 0\n")


def test_an_answered_txnr_is_answered_again_without_delivery() -> None:
    session = RelpSession(window=2)
    session.accept(OPEN)
    for txnr in (2, 3, 4):
        assert session.accept(RelpFrame(txnr, "syslog", b"m"))[0] is Step.DELIVER
        session.answer(txnr, 200, "OK", b"m")
    assert session.accept(RelpFrame(4, "syslog", b"m")) == (Step.REPLY, b"4 rsp 6 200 OK\n")
    step, reply = session.accept(RelpFrame(4, "syslog", b"other"))  # acknowledged for b"m"
    assert step is Step.REPLY and b"500 TXNR 4 was acknowledged for other data" in reply
    assert session.accept(RelpFrame(2, "syslog", b"m"))[0] is Step.DELIVER  # out of the window
    session.answer(5, 500, "refused")
    assert session.accept(RelpFrame(5, "syslog", b"m"))[0] is Step.DELIVER  # errors are retried


@pytest.mark.parametrize(("frames", "said"), [
    ([RelpFrame(1, "syslog", b"x")], b"before open"),
    ([OPEN, OPEN], b"already open"),
    ([RelpFrame(1, "open", b"relp_version=1\ncommands=syslog")], b"want relp_version=0"),
    ([RelpFrame(1, "open", b"relp_version=0\ncommands=other")], b"commands including syslog"),
])
def test_protocol_errors_close_the_session(frames: list[RelpFrame], said: bytes) -> None:
    session = RelpSession()
    for frame in frames[:-1]:
        session.accept(frame)
    step, reply = session.accept(frames[-1])
    assert step is Step.CLOSE
    assert b" 500 " in reply and said in reply


def test_unknown_commands_get_an_error_and_the_session_goes_on() -> None:
    session = RelpSession()
    session.accept(OPEN)
    step, reply = session.accept(RelpFrame(2, "starttls", b""))
    assert step is Step.REPLY and reply.startswith(b"2 rsp ") and b"500 command" in reply


def test_response_counts_its_data_bytes() -> None:
    assert response(7, 500, "é") == b"7 rsp 6 500 \xc3\xa9\n"


# Reads of a session: frames of few TXNRs (so some repeat, with the same data or other data),
# an occasional open, close or unknown command; per delivered message, durable or refused.
session_frames = st.builds(
    RelpFrame, st.integers(1, 6),
    st.sampled_from(["syslog"] * 6 + ["open", "close", "starttls"]),
    st.sampled_from([b"m", b"n", b"relp_version=0\ncommands=syslog"]))


def by_frame(session: RelpSession, frames: list[RelpFrame]
             ) -> tuple[list[bytes], list[RelpFrame], Step | None]:
    """accept of each of one read's frames up to one that closes: the replies, the frames
    delivered, the last step (the reference take is held to)."""
    want: list[bytes] = []
    delivered: list[RelpFrame] = []
    step = None
    for frame in frames:
        step, reply = session.accept(frame)
        want.append(reply)
        if step is Step.DELIVER:
            delivered.append(frame)
        if step is Step.CLOSE:
            break
    return want, delivered, step


def answer_both(at_once: RelpSession, frame_by_frame: RelpSession, read: RelpRead,
                delivered: list[RelpFrame], want: list[bytes], errors: list[str]) -> None:
    """answer_all of ``read`` gives what answer of each delivered frame gives, and leaves the
    same redelivery window and the same TXNRs in flight."""
    sent = at_once.answer_all(read, errors)
    for slot, frame, error in zip(read.slots, delivered, errors, strict=True):
        want[slot] = frame_by_frame.answer(frame.txnr, 500 if error else 200, error or "OK",
                                           frame.data)
    assert sent == b"".join(want)
    assert list(at_once._answered.items()) == list(frame_by_frame._answered.items())
    assert at_once._inflight == frame_by_frame._inflight


@settings(max_examples=300)
@given(st.lists(st.lists(session_frames, max_size=8), max_size=6), st.data())
def test_a_read_taken_at_once_is_answered_as_frame_by_frame(reads: list[list[RelpFrame]],
                                                           data: st.DataObject) -> None:
    """take and answer_all give the replies and leave the redelivery window that accept and
    answer, one frame at a time, give and leave."""
    at_once, reference = RelpSession(window=3), RelpSession(window=3)
    for frames_of_read in reads:
        read = at_once.take([(f.txnr, f.command, f.data) for f in frames_of_read])
        want, delivered, step = by_frame(reference, frames_of_read)
        assert read.closing == (step is Step.CLOSE)
        assert read.txnrs == [f.txnr for f in delivered]
        assert read.messages == [f.data for f in delivered]
        errors = [""] * len(delivered)  # all durable, the usual read, or some refused
        if data.draw(st.booleans()):
            errors = data.draw(st.lists(st.sampled_from(["", "refused"]),
                                        min_size=len(delivered), max_size=len(delivered)))
        answer_both(at_once, reference, read, delivered, want, errors)
        if read.closing:
            break


def test_a_txnr_sent_again_before_its_answer_is_refused_not_stored_twice() -> None:
    """A TXNR the session has delivered and not answered yet, in the same read or the next
    one (taken while the first commits), is refused: stored twice otherwise on a log without
    dedup. Once answered it is a redelivery, answered from the window."""
    session = RelpSession(window=2)
    session.accept(OPEN)
    read = session.take([(2, "syslog", b"m"), (3, "syslog", b"n"), (2, "syslog", b"m")])
    assert read.txnrs == [2, 3] and read.slots == [0, 1]
    assert read.replies[2].startswith(b"2 rsp ") and b"500 TXNR 2 is still being committed" \
        in read.replies[2]
    following = session.take([(3, "syslog", b"n"), (4, "syslog", b"o")])  # before the answer
    assert following.txnrs == [4] and b"500 TXNR 3 is still being committed" in \
        following.replies[0]
    sent = session.answer_all(read, ["", ""])
    assert sent.startswith(b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n2 rsp ")
    assert session.answer_all(following, [""]).endswith(b"4 rsp 6 200 OK\n")
    assert session.accept(RelpFrame(3, "syslog", b"n")) == (Step.REPLY, b"3 rsp 6 200 OK\n")
    assert session.accept(RelpFrame(5, "syslog", b"p"))[0] is Step.DELIVER
    step, reply = session.accept(RelpFrame(5, "syslog", b"p"))  # frame by frame, the same
    assert step is Step.REPLY and b"500 TXNR 5 is still being committed" in reply
    session.answer(5, 500, "refused")  # a refusal ends it too: the sender may resend it
    assert session.accept(RelpFrame(5, "syslog", b"p"))[0] is Step.DELIVER


# Reads of an open session made of syslog frames only, of a few TXNRs (fresh ones mostly, some
# repeated in one read or across reads), the data of two kinds: the reads answer_all answers in
# one join when all are durable (the strategy above, with open, close and other commands mixed
# in, almost never makes one).
syslog_reads = st.lists(st.lists(st.builds(RelpFrame, st.integers(2, 9), st.just("syslog"),
                                           st.sampled_from([b"m", b"n"])),
                                 min_size=1, max_size=6), min_size=1, max_size=6)


@settings(max_examples=300)
@given(syslog_reads, st.booleans(), st.data())
def test_reads_of_messages_only_answered_at_once_are_as_frame_by_frame(
        reads: list[list[RelpFrame]], pipelined: bool, data: st.DataObject) -> None:
    """take and answer_all of reads that deliver only syslog messages (the usual read: its
    200 OKs joined at once and the window updated at once) give the replies and leave the
    window that accept and answer give, frame by frame, also when the next read is taken
    before the one before is answered (the server's pipeline, server/ingest/pipeline.py)."""
    at_once, reference = RelpSession(window=3), RelpSession(window=3)
    at_once.accept(OPEN)
    reference.accept(OPEN)
    waiting: list[tuple[RelpRead, list[RelpFrame], list[bytes]]] = []

    def answer(read: RelpRead, delivered: list[RelpFrame], want: list[bytes]) -> None:
        errors = [""] * len(delivered)
        if data.draw(st.integers(0, 4)) == 0:  # now and then some refused
            errors = data.draw(st.lists(st.sampled_from(["", "refused"]),
                                        min_size=len(delivered), max_size=len(delivered)))
        answer_both(at_once, reference, read, delivered, want, errors)

    for frames_of_read in reads:
        read = at_once.take([(f.txnr, f.command, f.data) for f in frames_of_read])
        want, delivered, _ = by_frame(reference, frames_of_read)
        assert not read.closing and read.txnrs == [f.txnr for f in delivered]
        waiting.append((read, delivered, want))
        if not pipelined or len(waiting) == 2:
            answer(*waiting.pop(0))
    while waiting:
        answer(*waiting.pop(0))
