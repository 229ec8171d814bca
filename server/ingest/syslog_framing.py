"""Syslog over a byte stream: RFC 6587 (TCP) and RFC 5425 (TLS) framing.

Two framings share one connection format, and a sender may use either:

* octet counting (RFC 6587 section 3.4.1, the only framing of RFC 5425 section 4.3):
  ``MSG-LEN SP SYSLOG-MSG``, where MSG-LEN is a decimal count of the bytes that follow, with no
  leading zero;
* non-transparent framing (RFC 6587 section 3.4.2): the message ends at LF (a trailing CR
  before it is dropped, as NGINX and some senders emit CRLF).

The framing is decided per frame, as rsyslog does: a frame that starts with a digit is octet
counted (a syslog message itself starts with ``<``, never a digit), anything else runs to the
next LF. Every frame is bounded: a count above ``max_message_bytes``, a line longer than that,
or a count that is not a number is a :class:`MalformedError` that ends the connection, because
after it the stream cannot be resynchronised.

A frame is bounded in time too (:class:`FrameTimer`, for syslog and RELP alike): the time the
server spends waiting for the rest of a frame begun is summed until a frame is whole, and past
:data:`FRAME_S` the connection ends. A sender that dribbles a frame a byte at a time
(slowloris) holds its connection and its ``max_message_bytes`` that long and no longer. Time
the server spends not reading (committing, waiting out a full queue) is not counted, nor is
silence between frames: senders keep idle connections for hours.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final

from auditlog_tlog.common.clock import Clock
from auditlog_tlog.tree.errors import MalformedError

MAX_COUNT_DIGITS = 9  # RFC 5425: MSG-LEN is NONZERO-DIGIT *DIGIT; 9 digits bound any real count
_COUNT = re.compile(rb"([1-9][0-9]{0,%d}) " % (MAX_COUNT_DIGITS - 1))  # MSG-LEN SP, well formed
FRAME_S: Final = 30.0  # the longest wait for the rest of a frame begun


class FrameTimer:
    """The reads of one connection, with the wait for the rest of a frame bounded (module
    docstring); :meth:`whole` says a frame was completed."""

    def __init__(self, clock: Clock, reader: asyncio.StreamReader, size: int) -> None:
        self._clock = clock
        self._reader = reader
        self._size = size
        self._waited = 0.0

    async def read(self, pending: int) -> bytes:
        """The next bytes (b"" at the end); ``pending``: bytes of a frame not yet whole."""
        if not pending:
            self._waited = 0.0
            return await self._reader.read(self._size)
        began = self._clock.monotonic()
        data = await self._reader.read(self._size)
        self._waited += self._clock.monotonic() - began
        if self._waited > FRAME_S:
            raise MalformedError(f"a frame still not whole after {self._waited:.0f} s of waiting "
                                 f"for it ({pending} bytes so far), want it within {FRAME_S:.0f} s")
        return data

    def whole(self) -> None:
        self._waited = 0.0


class FrameDecoder:
    """Split a stream into syslog messages; :meth:`feed` returns the messages completed so far."""

    def __init__(self, max_message_bytes: int) -> None:
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes is {max_message_bytes}, want at least 1")
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """The messages completed so far. Whole frames of either framing are found in one
        loop, then sliced out of one copy of the bytes they span (not two copies per frame),
        which are dropped from the buffer at once; what that loop does not take (a frame cut
        short, a count or a line that is wrong) is left to :meth:`_next`, which waits for
        more or says what is wrong. A frame that arrives a few bytes per read costs O(1) a
        read until it is whole (an LF-framed line is searched for its LF again, as before)."""
        self._buffer += data
        buf = self._buffer
        spans: list[tuple[int, int]] = []
        at = 0
        limit = self.max_message_bytes
        count_at = _COUNT.match
        while at < len(buf):
            if 48 <= buf[at] <= 57:  # a digit: octet counting
                m = count_at(buf, at)
                if m is None or int(m[1]) > limit:
                    break  # a count that is wrong, or cut short: _next
                end = m.end() + int(m[1])
                if end > len(buf):
                    break  # the rest of the frame is still to come
                spans.append((m.end(), end))
            else:
                end = buf.find(b"\n", at)
                if end < 0 or end - at > limit:
                    break  # no LF yet, or a line too long: _next
                spans.append((at, end - 1 if end > at and buf[end - 1] == 13 else end))  # CR
                end += 1
            at = end
        taken = bytes(buf[:at])
        del buf[:at]
        # An empty line between frames carries nothing (a count is never 0).
        messages = [taken[begin:end] for begin, end in spans if end > begin]
        while buf:  # what the loop left: more to come, or what is wrong
            message = self._next()
            if message is None:
                break
            if message:
                messages.append(message)
        return messages

    def _next(self) -> bytes | None:
        buf = self._buffer
        if buf[0:1].isdigit():
            return self._counted()
        end = buf.find(b"\n")
        if end < 0:
            if len(buf) > self.max_message_bytes:
                raise MalformedError(
                    f"a line of more than {len(buf)} bytes without LF, want at most "
                    f"{self.max_message_bytes} bytes per message"
                )
            return None
        line = bytes(buf[:end])
        del buf[: end + 1]
        if len(line) > self.max_message_bytes:
            raise MalformedError(
                f"a line of {len(line)} bytes, want at most {self.max_message_bytes} bytes"
            )
        return line.removesuffix(b"\r")

    def _counted(self) -> bytes | None:
        buf = self._buffer
        space = buf.find(b" ", 0, MAX_COUNT_DIGITS + 1)
        if space < 0:
            digits = bytes(buf[:MAX_COUNT_DIGITS + 1])
            if len(buf) > MAX_COUNT_DIGITS or not digits.isdigit():
                raise MalformedError(
                    f"octet-counted frame starts with {digits[:12]!r}, want MSG-LEN SP MSG "
                    f"with at most {MAX_COUNT_DIGITS} digits"
                )
            return None
        digits = bytes(buf[:space])
        if not digits.isdigit() or digits.startswith(b"0"):
            raise MalformedError(
                f"octet-counted frame length {digits[:12]!r}, want a decimal number without "
                "leading zero"
            )
        count = int(digits)
        if count > self.max_message_bytes:
            raise MalformedError(
                f"octet-counted frame of {count} bytes, want at most {self.max_message_bytes}"
            )
        if len(buf) < space + 1 + count:
            return None
        message = bytes(buf[space + 1: space + 1 + count])
        del buf[: space + 1 + count]
        return message
