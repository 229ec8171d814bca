"""RFC 6587 framing: octet counting and LF framing, mixed on one stream, split anywhere."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlog_tlog.server.ingest.syslog_framing import FrameDecoder
from auditlog_tlog.tree.errors import MalformedError

messages = st.binary(min_size=1, max_size=200).filter(
    lambda m: not m[:1].isdigit() and b"\n" not in m and not m.endswith(b"\r"))


def counted(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


@given(st.lists(st.tuples(messages, st.booleans()), max_size=20), st.data())
def test_any_mix_of_framings_split_anywhere_gives_the_messages_back(
    framed: list[tuple[bytes, bool]], data: st.DataObject
) -> None:
    stream = b"".join(counted(m) if octets else m + b"\n" for m, octets in framed)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder(200)
    got = []
    for begin, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[begin:end])
    assert got == [m for m, _ in framed]
    assert decoder.pending == 0


class FrameByFrame(FrameDecoder):
    """The decoder without its loop over octet-counted frames: every frame read by ``_next``."""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        got = []
        while self._buffer and (message := self._next()) is not None:
            if message:
                got.append(message)
        return got


def _decoded(decoder: FrameDecoder, chunks: list[bytes]) -> list[object]:
    got: list[object] = []
    try:
        for chunk in chunks:
            got += decoder.feed(chunk)
    except MalformedError as exc:
        got.append(str(exc))
    return [*got, decoder.pending]


pieces = st.sampled_from([b"1", b"0", b"01", b"9", b"20", b"201", b"1234567890", b" ", b"\n",
                          b"\r\n", b"<13>hi", b"x" * 30, b"5 abcde", b"3 ab"])


@settings(max_examples=400)
@given(st.lists(st.one_of(messages.map(counted), pieces), max_size=12), st.data())
def test_the_counted_loop_reads_as_the_frame_by_frame_reader(
        parts: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    chunks = [stream[b:e] for b, e in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert _decoded(FrameDecoder(200), chunks) == _decoded(FrameByFrame(200), chunks)


def test_octet_counting_keeps_newlines_inside_a_message() -> None:
    message = b"<13>1 - - - - - - two\nlines"
    assert FrameDecoder(100).feed(counted(message) + counted(b"<13>x")) == [message, b"<13>x"]


def test_lf_framing_drops_a_trailing_cr_and_empty_lines() -> None:
    assert FrameDecoder(100).feed(b"<13>a\r\n\n<13>b\n") == [b"<13>a", b"<13>b"]


def test_a_partial_frame_waits_for_more() -> None:
    decoder = FrameDecoder(100)
    assert decoder.feed(b"9 <13>") == []
    assert decoder.feed(b"abc") == []
    assert decoder.feed(b"de") == [b"<13>abcde"]


@pytest.mark.parametrize(("stream", "said"), [
    (b"101 " + b"x" * 101, "101 bytes, want at most 100"),
    (b"012 <13>hello", "without leading zero"),
    (b"1234567890 x", "at most 9 digits"),
    (b"12x <13>", "want a decimal number"),
    (b"12x", "want MSG-LEN SP MSG"),
    (b"<13>" + b"x" * 200, "without LF"),
    (b"<13>" + b"x" * 100 + b"\n", "want at most 100 bytes"),
])
def test_bad_frames_are_refused_with_the_reason(stream: bytes, said: str) -> None:
    with pytest.raises(MalformedError, match=said):
        FrameDecoder(100).feed(stream)


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="want at least 1"):
        FrameDecoder(0)
