"""The syslog and RELP listeners: RFC 5425 (TLS), RFC 6587 (TCP), RELP, and UDP when enabled.

Each listener reads frames (``syslog_framing`` or ``relp``), has the messages parsed, routed
to a log and written as entries (``syslog_convert``, in a conversion worker when ``[ingest]
workers`` is set: server/ingest/pool.py) and hands them to the one
:class:`~auditlog_tlog.server.ingest.sink.IngestSink`, which answers once they are durable.
Every message of one read is one durable batch. A conversion worker that dies with a read in
flight ends its connection unanswered, as a store that is down does: a RELP sender resends.
A connection reads and parses its next chunk while the one before is being committed, and no
further (``one_ahead``, server/ingest/pipeline.py), so a slow log slows its senders through TCP
flow control instead of buffering without bound. A full queue or quota (PushbackError) is
waited out on the injected clock and the refused batch tried again, the batches durable already
not appended again (server/ingest/sink.py); it is not counted as a refusal.

What each transport can lose on a crash of this server is in docs/ingestion-syslog.md: RELP
answers ``200 OK`` only for durable messages and the sender resends the rest; TCP and TLS have
no acknowledgement, so what the sender wrote into the socket but this server had not yet
committed is gone; UDP can lose anything at any time.

UDP has no flow control, so datagrams wait in a queue bounded twice: at most ``MAX_UDP_QUEUE``
datagrams waiting, and at most ``MAX_UDP_QUEUE_BYTES`` bytes of datagrams waiting or being
committed (the batch in flight counts until it is durable). A datagram that does not fit is
dropped and counted (``auditlog_ingest_rejected_total{reason="pushback"}``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import Counter, deque
from collections.abc import AsyncGenerator, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from auditlog_tlog.common.clock import Clock
from auditlog_tlog.common.files import check_private_mode
from auditlog_tlog.common.net import format_address, split_host_port
from auditlog_tlog.server.ingest.pipeline import one_ahead
from auditlog_tlog.server.ingest.pool import ConversionPool
from auditlog_tlog.server.ingest.relp import SERVER_CLOSE, RelpDecoder, RelpRead, RelpSession
from auditlog_tlog.server.ingest.sink import IngestSink
from auditlog_tlog.server.ingest.syslog_config import SyslogListener
from auditlog_tlog.server.ingest.syslog_convert import Batch, convert_messages
from auditlog_tlog.server.ingest.syslog_framing import FrameDecoder, FrameTimer
from auditlog_tlog.server.security import Principal, TLSConfig
from auditlog_tlog.tree.errors import (
    AuditLogError,
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    PushbackError,
    UnauthenticatedError,
)

log = logging.getLogger("auditlog.server.ingest.syslog")

READ_BYTES = 256 * 1024
MAX_UDP_QUEUE = 10_000  # datagrams waiting for the batch in flight to be committed
MAX_UDP_QUEUE_BYTES = 16 * 1024 * 1024  # bytes of datagrams waiting or being committed
_REFUSALS = (NotFoundError, PermissionDeniedError, UnauthenticatedError)
_UNPARSED = MalformedError("a message that does not parse")  # its metrics reason: malformed


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    """TLS 1.2+ with the listener's certificate; a client CA makes client certificates required."""
    check_private_mode(tls.key_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.client_ca_file is not None:
            context.load_verify_locations(tls.client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS files {tls.cert_file}, {tls.key_file}: {exc}") from exc
    return context


def cert_names(peercert: object) -> dict[str, list[bytes]]:
    """A verified client certificate's CN and DNS names, as gRPC's auth context gives them."""
    if not isinstance(peercert, dict):
        return {}
    common = [value.encode() for rdn in peercert.get("subject", ()) for key, value in rdn
              if key == "commonName"]
    dns = [value.encode() for kind, value in peercert.get("subjectAltName", ()) if kind == "DNS"]
    return {"x509_common_name": common, "x509_subject_alternative_name": dns}


class SyslogServer:
    """One ``[[ingest.syslog]]`` listener; ``udp_queue_bytes`` (``MAX_UDP_QUEUE_BYTES`` unless a
    test wants a small one) bounds the bytes a UDP listener queues (module docstring)."""

    def __init__(self, config: SyslogListener, sink: IngestSink, clock: Clock,
                 pool: ConversionPool | None = None,
                 udp_queue_bytes: int = MAX_UDP_QUEUE_BYTES) -> None:
        if udp_queue_bytes < 1:
            raise ValueError(f"udp_queue_bytes: got {udp_queue_bytes}, want at least 1")
        self.config = config
        self._sink = sink
        self._clock = clock
        self._pool = pool  # None: convert in the server process
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_queue: deque[bytes] = deque()
        self._udp_queue_bytes = udp_queue_bytes
        self._udp_held = 0  # bytes of the datagrams queued and of the batch being committed
        self._udp_ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_peer: Counter[str] = Counter()  # open connections by peer address
        self.port = 0

    async def start(self) -> str:
        """Bind and serve; returns the address bound (``check_listener`` was called before)."""
        host, port = split_host_port(self.config.listen)
        if self.config.transport == "udp":
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, port))
            self._udp = transport
            self.port = transport.get_extra_info("sockname")[1]
            self._spawn(self._drain_udp())
        else:
            context = server_context(self.config.tls) if self.config.tls else None
            self._server = await asyncio.start_server(
                self._accept, host, port, ssl=context, limit=READ_BYTES,
                ssl_handshake_timeout=10 if context else None)
            self.port = self._server.sockets[0].getsockname()[1]
        return format_address(host, self.port)

    async def stop(self) -> None:
        """Stop listening and end every connection; unanswered RELP messages are resent."""
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= self.config.max_connections:
            self._sink.rejected(self.config.name, PushbackError(
                f"{self.config.max_connections} connections open, want at most that many"))
            writer.close()
            return
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else "?"
        if self._per_peer[peer] >= self.config.max_connections_per_peer:
            # One sender cannot hold every slot (idle, or a byte at a time) and lock out others.
            self._sink.rejected(self.config.name, PushbackError(
                f"{self._per_peer[peer]} connections open from {peer}, want at most "
                f"{self.config.max_connections_per_peer} (max_connections_per_peer)"))
            writer.close()
            return
        self._per_peer[peer] += 1
        self._tasks.add(task)
        try:
            principal = self._sink.identify(None, cert_names(writer.get_extra_info("peercert")))
            if self.config.transport == "relp":
                await self._serve_relp(reader, writer, principal)
            else:
                await self._serve_syslog(reader, principal)
        except MalformedError as exc:
            self._sink.rejected(self.config.name, exc)
            log.info("%s from %s: %s; closing the connection", self.config.name,
                     writer.get_extra_info("peername"), exc)
            if self.config.transport == "relp":
                writer.write(SERVER_CLOSE)
        except AuditLogError as exc:  # the log stops or refuses the sender: no acknowledgement
            log.warning("%s from %s: %s; closing the connection", self.config.name,
                        writer.get_extra_info("peername"), exc)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass
        finally:
            self._tasks.discard(task)
            self._per_peer[peer] -= 1
            if not self._per_peer[peer]:
                del self._per_peer[peer]
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
                await writer.wait_closed()

    async def _serve_syslog(self, reader: asyncio.StreamReader, principal: Principal | None) -> None:
        decoder = FrameDecoder(self.config.max_message_bytes)

        async def batches() -> AsyncGenerator[Batch, None]:
            timer = FrameTimer(self._clock, reader, READ_BYTES)
            while data := await timer.read(decoder.pending):
                messages = decoder.feed(data)
                if messages:
                    timer.whole()
                    yield await self.prepare(principal, messages)

        async def commit(batch: Batch) -> None:
            await self.commit(principal, batch, refusals_raise=True)

        await one_ahead(batches(), commit)

    async def _serve_relp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          principal: Principal | None) -> None:
        session = RelpSession()
        decoder = RelpDecoder(self.config.max_message_bytes)

        async def reads() -> AsyncGenerator[tuple[RelpRead, Batch | None], None]:
            timer = FrameTimer(self._clock, reader, READ_BYTES)
            while data := await timer.read(decoder.pending):
                read = session.take(decoder.frames(data))
                if read.replies:  # else the read ended inside a frame
                    timer.whole()
                    yield read, (await self.prepare(principal, read.messages)
                                 if read.messages else None)
                if read.closing:
                    return

        async def answer(prepared: tuple[RelpRead, Batch | None]) -> None:
            read, batch = prepared
            errors = [] if batch is None else await self.commit(principal, batch)
            writer.write(session.answer_all(read, errors))
            await writer.drain()

        await one_ahead(reads(), answer)

    async def ingest(self, principal: Principal | None, messages: Sequence[bytes],
                     refusals_raise: bool = False) -> list[str]:
        """Parse, route and durably append ``messages``; per message "" or why it was refused.

        Raises what refuses the whole connection (the log is stopping, say), and with
        ``refusals_raise`` also an unknown log or a denied role (plain syslog cannot answer)."""
        return await self.commit(principal, await self.prepare(principal, messages),
                                 refusals_raise)

    async def prepare(self, principal: Principal | None, messages: Sequence[bytes]) -> Batch:
        """Parse, route and encode ``messages`` (the CPU work of :meth:`ingest`), in a
        conversion worker when the server has them; WorkerLostError when it died meanwhile."""
        who = None if principal is None else principal.name
        year = datetime.fromtimestamp(self._clock.now(), UTC).year
        if self._pool is None:
            batch = convert_messages(self.config, who, year, messages)
        else:
            batch = await self._pool.run(convert_messages, self.config, who, year, messages)
        refused = sum(1 for error in batch[1] if error)
        if refused:  # the messages that did not parse, counted as refused alone
            self._sink.rejected(self.config.name, _UNPARSED, refused)
        return batch

    async def commit(self, principal: Principal | None, batch: Batch,
                     refusals_raise: bool = False) -> list[str]:
        """Append a prepared batch durably (the waiting of :meth:`ingest`)."""
        groups, errors = batch
        for origin, (places, entries) in groups.items():
            try:
                outcomes = await self._append(principal, origin, entries)
            except _REFUSALS as exc:
                if refusals_raise:
                    raise
                for i in places:
                    errors[i] = str(exc)
                continue
            if any(outcomes):  # else every one durable (None)
                for i, outcome in zip(places, outcomes, strict=True):
                    if isinstance(outcome, MalformedError):
                        errors[i] = str(outcome)
        return errors

    async def _append(self, principal: Principal | None, origin: str,
                      entries: list[bytes | MalformedError]) -> list[object]:
        """Append durably; a full queue or quota is waited out on the clock and the sink goes
        on from the batch it refused (server/ingest/sink.py)."""
        return list(await self._sink.append_entries(principal, origin, self.config.name,
                                                    entries, self._wait_out))

    async def _wait_out(self, exc: PushbackError) -> None:
        await self._clock.sleep(max(exc.retry_after, 0.01))

    def datagram(self, data: bytes) -> None:
        """Queue one UDP datagram for :meth:`_drain_udp`, or drop and count it when it is too
        long or the queue is full (by datagrams or by bytes, module docstring)."""
        size = len(data)
        if size > self.config.max_message_bytes:
            self._sink.rejected(self.config.name, MalformedError(
                f"datagram of {size} bytes, want at most {self.config.max_message_bytes}"))
            return
        held = self._udp_held + size
        if held > self._udp_queue_bytes or len(self._udp_queue) >= MAX_UDP_QUEUE:
            self._sink.rejected(self.config.name, PushbackError(
                f"UDP queue holds {len(self._udp_queue)} datagrams and {self._udp_held} bytes "
                f"with the batch being committed, want at most {MAX_UDP_QUEUE} datagrams and "
                f"{self._udp_queue_bytes} bytes: datagram of {size} bytes dropped"))
            return
        self._udp_queue.append(data)
        self._udp_held = held
        self._udp_ready.set()

    async def _drain_udp(self) -> None:
        while True:
            await self._udp_ready.wait()
            self._udp_ready.clear()
            batch = list(self._udp_queue)
            self._udp_queue.clear()
            size = sum(map(len, batch))
            messages = [m for d in batch if (m := d.rstrip(b"\r\n"))]
            try:
                await self.ingest(None, messages)
            except AuditLogError as exc:
                log.warning("syslog-udp: %s; %d datagrams lost", exc, len(messages))
            finally:  # durable or lost: its bytes are no longer held
                self._udp_held -= size


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: SyslogServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self._server.datagram(data)
