"""RELP, the Reliable Event Logging Protocol of rsyslog (librelp's ``doc/relp.html``): frames,
and the server side of one session.

::

    RELP-FRAME = TXNR SP COMMAND SP DATALEN [SP DATA] TRAILER      TRAILER = LF
    TXNR       = 1*9DIGIT (1..999999999, then it wraps to 1)       COMMAND = 1*32ALPHA
    response   = TXNR SP "rsp" SP DATALEN SP 3DIGIT SP HUMANMSG [LF offers]

A session starts with ``open`` (the client's offers: ``relp_version``, ``relp_software``,
``commands``), carries ``syslog`` commands, and ends with ``close``. Every command gets one
``rsp`` with the same TXNR: ``200 OK`` for a syslog message means the receiver has it — here,
that it is durable in the log, so the server sends it only after the sink has committed. A
client keeps every unanswered message and sends it again, in a new session, after a
disconnect: nothing a client saw acknowledged is lost, and a message may arrive twice.

Redelivery: within a session a TXNR already answered is answered again from memory (the last
``window`` of them), without a second entry, if its data is the same (a digest is kept); a TXNR
answered for other data is refused (``500``), never acknowledged for data that was not stored;
so is a TXNR sent again while its first message is still being committed (a sender reusing a
TXNR it has no answer for yet: librelp never does), which would otherwise be stored twice on a
log without dedup.
Across sessions TXNRs restart at 1 and say nothing, but the entry of a message does not depend
on the session, so an identical message is an identical entry and the log's dedup gives it its
first index.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from auditlog_tlog.tree.errors import MalformedError

MAX_TXNR = 999_999_999
MAX_NUMBER_DIGITS = 9
MAX_COMMAND = 32
SOFTWARE = "auditlog"
_FIELD_END = re.compile(rb"[ \n]")  # what ends TXNR, COMMAND and DATALEN
# A well-formed frame header (after any stray LFs), read in one match: TXNR SP COMMAND SP
# DATALEN and the byte after it (SP before DATA, LF when there is none).
_HEADER = re.compile(rb"\n*([0-9]{1,9}) ([A-Za-z]{1,32}) ([0-9]{1,9})([ \n])")
_COMMANDS = {b"syslog": "syslog"}  # the command of almost every frame, not decoded each time


@dataclass(frozen=True, slots=True)
class RelpFrame:
    txnr: int
    command: str
    data: bytes


class RelpDecoder:
    """Split a stream into RELP frames; every frame and field is bounded."""

    def __init__(self, max_data_bytes: int) -> None:
        self.max_data_bytes = max_data_bytes
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[RelpFrame]:
        """The frames completed so far (:meth:`frames`, each as a RelpFrame)."""
        return [RelpFrame(txnr, command, body) for txnr, command, body in self.frames(data)]

    def frames(self, data: bytes) -> list[tuple[int, str, bytes]]:
        """(TXNR, COMMAND, DATA) of each frame completed so far, no value built per frame (the
        server hands a read's frames to :meth:`RelpSession.take`). Whole well-formed frames
        are found in one loop, each header read by one regular expression, then their data
        sliced out of one copy of the bytes they span, which are dropped from the buffer at
        once; what that loop does not take (a frame cut short, a malformed one) is left to
        :meth:`_next`, which waits for more or says what is wrong field by field. A frame that
        arrives a few bytes per read costs O(1) a read until it is whole."""
        self._buffer += data
        buf = self._buffer
        found: list[tuple[int, str, int, int]] = []  # (txnr, command, data begin, data end)
        at = 0
        header = _HEADER.match
        limit = self.max_data_bytes
        commands = _COMMANDS
        while True:
            m = header(buf, at)
            if m is None:
                break
            number, name, datalen, after = m.groups()
            txnr, size, end = int(number), int(datalen), m.end()
            command = commands.get(name) or name.decode("ascii")
            if txnr and size == 0 and after == b"\n":
                found.append((txnr, command, end, end))
                at = end
                continue
            if not (txnr and 0 < size <= limit and after == b" ") or len(buf) <= end + size \
                    or buf[end + size] != 10:  # 10: LF
                break  # malformed, or the rest of the frame is still to come: _next
            found.append((txnr, command, end, end + size))
            at = end + size + 1
        taken = bytes(buf[:at])
        del buf[:at]
        frames = [(txnr, command, taken[begin:end]) for txnr, command, begin, end in found]
        while buf:  # what the loop left: more to come, or what is wrong
            frame = self._next()
            if frame is None:
                break
            frames.append(frame)
        return frames

    def _field(self, start: int, limit: int, what: str) -> tuple[bytes, int] | None:
        """The bytes from ``start`` up to the next SP (or LF, when DATALEN is 0)."""
        buf = self._buffer
        found = _FIELD_END.search(buf, start, min(len(buf), start + limit + 1))
        if found is not None:
            end = found.start()
            if end == start:
                raise MalformedError(f"RELP frame has an empty {what}")
            return bytes(buf[start:end]), end
        if len(buf) > start + limit:
            raise MalformedError(
                f"RELP {what} {bytes(buf[start:start + 12])!r}..., want at most {limit} characters"
            )
        return None

    def _next(self) -> tuple[int, str, bytes] | None:
        buf = self._buffer
        while buf[:1] == b"\n":  # librelp tolerates stray LFs between frames
            del buf[:1]
        parts: list[bytes] = []
        at = 0
        for what, limit in (("TXNR", MAX_NUMBER_DIGITS), ("COMMAND", MAX_COMMAND),
                            ("DATALEN", MAX_NUMBER_DIGITS)):
            found = self._field(at, limit, what)
            if found is None:
                return None
            value, end = found
            if what != "DATALEN" and buf[end:end + 1] != b" ":
                raise MalformedError(f"RELP {what} {value[:12]!r} is not followed by SP")
            parts.append(value)
            at = end + 1
        txnr, command, datalen = parts
        if not txnr.isdigit() or not datalen.isdigit() or not command.isalpha():
            raise MalformedError(
                f"RELP header {txnr[:12]!r} {command[:12]!r} {datalen[:12]!r}, want TXNR SP "
                "COMMAND SP DATALEN (digits, letters, digits)"
            )
        size = int(datalen)
        if size > self.max_data_bytes:
            raise MalformedError(f"RELP DATALEN {size}, want at most {self.max_data_bytes}")
        if not 1 <= int(txnr) <= MAX_TXNR:
            raise MalformedError(f"RELP TXNR {int(txnr)}, want 1..{MAX_TXNR}")
        # ``at`` is past the byte that ended DATALEN: SP before DATA, or LF when there is none.
        if size == 0:
            if buf[at - 1:at] != b"\n":
                raise MalformedError("RELP frame with DATALEN 0 is not ended by LF")
            del buf[:at]
            return int(txnr), command.decode("ascii"), b""
        if buf[at - 1:at] != b" ":
            raise MalformedError(f"RELP DATALEN {size} is not followed by SP DATA")
        if len(buf) < at + size + 1:
            return None
        if buf[at + size:at + size + 1] != b"\n":
            raise MalformedError(f"RELP frame of DATALEN {size} is not ended by LF after its data")
        data = bytes(buf[at:at + size])
        del buf[:at + size + 1]
        return int(txnr), command.decode("ascii"), data


def response(txnr: int, code: int, text: str, offers: str = "") -> bytes:
    """A ``rsp`` frame: ``code`` 200 for success, 500 for an error that ``text`` explains."""
    data = f"{code} {text}" + (f"\n{offers}" if offers else "")
    body = data.encode("utf-8")
    return b"%d rsp %d %s\n" % (txnr, len(body), body)


SERVER_CLOSE = b"0 serverclose 0\n"
_OK = " rsp 6 200 OK\n"  # after a TXNR: the response to a syslog command that is durable


@dataclass(frozen=True, slots=True)
class RelpRead:
    """One read's frames as :meth:`RelpSession.take` accepted them: ``replies`` in frame
    order, ``b""`` at the ``slots`` of the delivered messages (:meth:`RelpSession.answer_all`
    answers them once they are committed)."""

    replies: list[bytes]
    slots: list[int]
    txnrs: list[int]
    messages: list[bytes]
    closing: bool


class Step(Enum):
    """What the server does with a frame, decided by :meth:`RelpSession.accept`."""

    REPLY = "reply"  # send the given bytes now
    DELIVER = "deliver"  # a syslog message: commit it, then :meth:`RelpSession.answer`
    CLOSE = "close"  # send the given bytes, then close the connection


class RelpSession:
    """The server's side of one RELP session: open first, then syslog commands, then close."""

    def __init__(self, window: int = 1024) -> None:
        self.opened = False
        self._window = window
        # TXNR -> digest of the data it was answered 200 OK for; the digest is Python's hash
        # of bytes (SipHash, keyed per process): two messages collide by chance once in 2^64,
        # and a sender that collides two of its own on purpose loses only its own second one.
        self._answered: OrderedDict[int, int] = OrderedDict()
        self._inflight: set[int] = set()  # TXNRs delivered and not answered yet

    def accept(self, frame: RelpFrame) -> tuple[Step, bytes]:
        """What to do with ``frame``, and the bytes to send for it (none for DELIVER)."""
        return self._accept(frame.txnr, frame.command, frame.data)

    def take(self, frames: list[tuple[int, str, bytes]]) -> RelpRead:
        """:meth:`accept` of each of one read's frames (:meth:`RelpDecoder.frames`), up to
        one that closes the session: its replies in frame order (``b""`` in the slot of each
        syslog message delivered, for :meth:`answer_all` to fill once they are committed), the
        slots, TXNRs and data of the delivered messages, and whether the session closes. A new
        TXNR of an open session, almost every frame, is delivered without a call of its own."""
        replies: list[bytes] = []
        slots: list[int] = []
        txnrs: list[int] = []
        messages: list[bytes] = []
        answered, inflight = self._answered, self._inflight
        for txnr, command, data in frames:
            if command == "syslog" and self.opened and txnr not in answered \
                    and txnr not in inflight:
                step, reply = Step.DELIVER, b""
                inflight.add(txnr)
            else:
                step, reply = self._accept(txnr, command, data)
            if step is Step.DELIVER:
                slots.append(len(replies))
                txnrs.append(txnr)
                messages.append(data)
            replies.append(reply)
            if step is Step.CLOSE:
                return RelpRead(replies, slots, txnrs, messages, closing=True)
        return RelpRead(replies, slots, txnrs, messages, closing=False)

    def _accept(self, txnr: int, command: str, data: bytes) -> tuple[Step, bytes]:
        if command == "open":
            if self.opened:
                return Step.CLOSE, response(txnr, 500, "session is already open")
            offers = _offers(data)
            if offers.get("relp_version", "0") != "0" or "syslog" not in offers.get(
                    "commands", "").split(","):
                return Step.CLOSE, response(
                    txnr, 500, f"offers {data[:80]!r}, want relp_version=0 and "
                    "commands including syslog")
            self.opened = True
            return Step.REPLY, response(txnr, 200, "OK", f"relp_version=0\nrelp_software="
                                        f"{SOFTWARE}\ncommands=syslog")
        if not self.opened:
            return Step.CLOSE, response(txnr, 500, f"got {command!r} before open, "
                                        "want open first")
        if command == "close":
            return Step.CLOSE, response(txnr, 200, "OK").replace(b" 6 200 OK", b" 0")
        if command != "syslog":
            return Step.REPLY, response(txnr, 500, f"command {command!r} is not "
                                        "supported, want syslog or close")
        answered = self._answered.get(txnr)
        if answered is not None:
            if answered == hash(data):
                return Step.REPLY, b"%d rsp 6 200 OK\n" % txnr
            return Step.REPLY, response(txnr, 500, f"TXNR {txnr} was acknowledged "
                                        "for other data in this session, want a new TXNR")
        if txnr in self._inflight:
            return Step.REPLY, response(txnr, 500, f"TXNR {txnr} is still being committed in "
                                        "this session, want a new TXNR")
        self._inflight.add(txnr)
        return Step.DELIVER, b""

    def answer(self, txnr: int, code: int, text: str, data: bytes = b"") -> bytes:
        """The response to the delivered syslog command ``txnr`` of ``data``; a 200 is
        remembered, with a digest of ``data``, for redelivery."""
        self._inflight.discard(txnr)
        ok = code == 200 and text == "OK"  # written as response() writes it, without its work
        reply = b"%d rsp 6 200 OK\n" % txnr if ok else response(txnr, code, text)
        if code == 200:
            self._answered[txnr] = hash(data)
            self._answered.move_to_end(txnr)
            while len(self._answered) > self._window:
                self._answered.popitem(last=False)
        return reply

    def answer_all(self, read: RelpRead, errors: list[str]) -> bytes:
        """What to send for ``read`` once the messages it delivered are committed (``errors``:
        per message "" once it is durable, else why it was refused): its replies in frame
        order, each delivered message's as :meth:`answer` gives it. When every frame was a
        message and all are durable, the usual read, their ``200 OK``s are remembered in one
        update of the window and written in one join, not one call or format each."""
        txnrs, messages, replies = read.txnrs, read.messages, read.replies
        if not txnrs or any(errors) or len(txnrs) != len(replies):
            answers = [self.answer(txnr, 500 if error else 200, error or "OK", data)
                       for txnr, data, error in zip(txnrs, messages, errors, strict=True)]
            filled = list(replies)
            for slot, reply in zip(read.slots, answers, strict=True):
                filled[slot] = reply
            return b"".join(filled)
        self._inflight.difference_update(txnrs)
        answered = self._answered
        before = len(answered)
        answered.update(zip(txnrs, map(hash, messages), strict=True))
        if len(answered) != before + len(txnrs):  # a TXNR answered again moves to the end,
            for txnr in txnrs:                    # as in answer()
                answered.move_to_end(txnr)
        for _ in range(len(answered) - self._window):
            answered.popitem(last=False)
        return (_OK.join(map(str, txnrs)) + _OK).encode("ascii")  # TXNR rsp 6 200 OK LF ...


def _offers(data: bytes) -> dict[str, str]:
    """``name=value`` lines of an ``open`` command."""
    offers = {}
    for line in data.decode("utf-8", errors="replace").split("\n"):
        name, _, value = line.partition("=")
        offers[name.strip()] = value.strip()
    return offers
