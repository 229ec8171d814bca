"""The log's push side of witnessing: a client of c2sp.org/tlog-witness@v1.0.0 (step 4 of an
entry's flow). Cosignatures it gets are verified and attached by
``server.cosigning`` in the log's writer thread.

* :class:`WitnessPusher`: one task per (log, witness with a ``url``). It wakes when the log
  signs a checkpoint (the sequencer's ``signed`` signal), and every ``TICK_S`` besides, and
  looks at the log's latest checkpoint size; when there is a checkpoint the witness has not
  cosigned, or ``witness_interval_s`` has passed, it POSTs ``<url>/add-checkpoint`` with the
  consistency proof from the witness's last size. That size starts at 0 and is learnt from 409 answers
  (``text/x.tlog.size``), as the spec suggests, and is reported to the log as an anchor: a
  witness that has cosigned a size beyond the log's tree halts the log (``server.anchors``).
  Every call has a timeout; failures back off exponentially with jitter, up to a minute (or the
  interval, if shorter). Time comes from the injected ``Clock``.
* Transport: an ``https://`` witness URL is dialled with TLS, trusting ``ca_file`` (else the
  system's roots) and checking the host name; with ``client_cert_file``/``client_key_file`` the
  log presents a client certificate to a witness that requires mutual TLS. The contexts are
  built when the pusher is made, before the server serves, so an unreadable file or a key file
  others can read (it must be mode 0600) stops the server. Plain ``http://`` is for loopback
  witnesses, or with ``insecure = true`` (warned at every start). Connections are kept open
  between pushes (:class:`KeepAlivePost`), so a push after a signature costs one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import random
import ssl
import threading
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, Protocol

from auditlog_tlog.common.clock import Clock, SystemClock, wait_event
from auditlog_tlog.common.files import check_private_mode
from auditlog_tlog.server.config import LogConfig
from auditlog_tlog.server.cosigning import LogWitnesses
from auditlog_tlog.server.log_tables import WitnessConfig
from auditlog_tlog.server.signal import Signal
from auditlog_tlog.tree.errors import AuditLogError, MalformedError, NotFoundError
from auditlog_tlog.tree.note import parse_signature_lines
from auditlog_tlog.tree.witness_protocol import AddCheckpointRequest, format_add_checkpoint, parse_size_body

log = logging.getLogger("auditlog.server.pushing")
MAX_RESPONSE_BYTES: Final = 64 * 1024
TICK_S: Final = 0.1
MAX_BACKOFF_S: Final = 60.0
MAX_409: Final = 3  # 409 answers followed in one push before giving up until the next one


class CheckpointReader(Protocol):
    """What the pusher reads of a log's store (LogStore is one)."""

    origin: str
    checkpoint_size: int

    def checkpoint(self, size: int | None = None) -> bytes | None: ...

    def consistency_proof(self, size1: int, size2: int) -> tuple[bytes, ...]: ...


class PushedLog(Protocol):
    """One log as the pusher sees it (``server.runtime.LogRuntime`` is one)."""

    @property
    def config(self) -> LogConfig: ...

    @property
    def witnesses(self) -> LogWitnesses: ...

    @property
    def store(self) -> CheckpointReader: ...

    @property
    def signed(self) -> Signal: ...

    async def add_cosignatures(self, size: int, lines: bytes) -> list[str]: ...

    async def report_witness_size(self, witness: str, size: int) -> None: ...


def client_context(witness: WitnessConfig) -> ssl.SSLContext | None:
    """The TLS context for an https witness (None for http): its CA, or the system's roots,
    and the log's client certificate if it has one (key file mode 0600)."""
    if not witness.url.startswith("https://"):
        return None
    try:
        context = ssl.create_default_context(cafile=witness.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if witness.client_cert_file is not None and witness.client_key_file is not None:
            check_private_mode(witness.client_key_file)
            context.load_cert_chain(witness.client_cert_file, witness.client_key_file)
    except (OSError, ssl.SSLError) as exc:
        if isinstance(exc, PermissionError):
            raise
        raise ValueError(f"[[log.witness]] {witness.url}: cannot load its TLS files: {exc}") from exc
    return context


class Post(Protocol):
    """The one call the pusher makes: POST an add-checkpoint body to a witness."""

    def __call__(self, url: str, body: bytes, timeout_s: float, context: ssl.SSLContext | None,
                 /) -> tuple[int, str, bytes]: ...


def _connect(url: str, timeout_s: float,
             context: ssl.SSLContext | None) -> tuple[http.client.HTTPConnection, str]:
    """An unopened connection to the witness at ``url`` and the path of its add-checkpoint."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"witness url {url!r}: want http(s)://host[:port][/prefix]")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout_s,
                                           context=context or ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    return conn, parts.path.rstrip("/") + "/add-checkpoint"


def _exchange(conn: http.client.HTTPConnection, url: str, path: str,
              body: bytes) -> tuple[int, str, bytes]:
    conn.request("POST", path, body, {"Content-Type": "text/plain; charset=utf-8"})
    resp = conn.getresponse()
    data = resp.read(MAX_RESPONSE_BYTES + 1)
    if len(data) > MAX_RESPONSE_BYTES:
        raise MalformedError(f"witness {url} answered more than {MAX_RESPONSE_BYTES} bytes")
    return resp.status, resp.getheader("Content-Type", ""), data


def http_post(url: str, body: bytes, timeout_s: float,
              context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
    """POST ``body`` to ``<url>/add-checkpoint`` on a new connection; (status, content type,
    bounded body)."""
    conn, path = _connect(url, timeout_s, context)
    try:
        return _exchange(conn, url, path, body)
    finally:
        conn.close()


class KeepAlivePost:
    """A :class:`Post` that keeps idle HTTP/1.1 connections to each witness between pushes, so
    a push costs no TCP (or TLS) handshake. A connection is used by one push at a time; one
    that fails on reuse before an answer (the witness closed it while idle) is dropped and the
    request is sent once more on a new one (a repeat is harmless: the witness answers 409 or
    the same cosignature). Any other failure closes the connection."""

    def __init__(self) -> None:
        # Idle connections with the add-checkpoint path they were opened for.
        self._idle: dict[tuple[str, int], list[tuple[http.client.HTTPConnection, str]]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, url: str, body: bytes, timeout_s: float,
                 context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
        key = (url, id(context))
        with self._lock:
            idle = self._idle.get(key)
            reused = idle.pop() if idle else None
        if reused is not None:
            conn, path = reused
            if conn.sock is not None:
                conn.sock.settimeout(timeout_s)
            try:
                return self._keep(key, conn, path, _exchange(conn, url, path, body))
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()  # closed by the witness while idle: once more, on a new one
            except BaseException:
                conn.close()
                raise
        conn, path = _connect(url, timeout_s, context)
        try:
            return self._keep(key, conn, path, _exchange(conn, url, path, body))
        except BaseException:
            conn.close()
            raise

    def _keep(self, key: tuple[str, int], conn: http.client.HTTPConnection, path: str,
              result: tuple[int, str, bytes]) -> tuple[int, str, bytes]:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(key, []).append((conn, path))
                return result
        conn.close()
        return result

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._closed = self._idle, {}, True
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()


class PushError(AuditLogError):
    """A witness did not cosign (it refused, or could not be reached)."""


@dataclass
class _Progress:
    """What the log knows about one witness."""

    known_size: int = 0  # the size the witness last cosigned, as far as the log knows
    cosigned_size: int = -1  # the checkpoint size whose cosignature the log holds
    pushed_at: float = float("-inf")
    retry_at: float = float("-inf")
    failures: int = 0


class WitnessPusher:
    def __init__(
        self,
        logs: Mapping[str, PushedLog],
        post: Post | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._logs = logs
        keepalive = KeepAlivePost()
        self._keepalive = keepalive if post is None else None
        self._post: Post = keepalive if post is None else post
        self._clock = clock or SystemClock()
        self._contexts: dict[tuple[str, str], ssl.SSLContext | None] = {}
        for origin, runtime in logs.items():
            for w in runtime.config.witnesses:
                if not w.url:
                    continue
                self._contexts[(origin, w.vkey)] = client_context(w)
                if w.url.startswith("http://") and w.insecure:
                    log.warning("insecure = true: log %s pushes to witness %s over plain http; "
                                "anyone on the path can read and alter traffic", origin, w.url)
        self._tasks: list[asyncio.Task[None]] = []
        self.progress: dict[tuple[str, str], _Progress] = {}
        self._net = ThreadPoolExecutor(4, thread_name_prefix="witness-push")
        self._reads = ThreadPoolExecutor(1, thread_name_prefix="witness-read")

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for runtime in self._logs.values():
            for witness in runtime.config.witnesses:
                if witness.url:
                    progress = self.progress[(runtime.config.origin, witness.vkey)] = _Progress()
                    self._tasks.append(loop.create_task(self._run(runtime, witness, progress)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._net.shutdown(wait=False, cancel_futures=True)
        self._reads.shutdown(wait=True)  # no read may still run once the database closes
        if self._keepalive is not None:
            self._keepalive.close()

    async def _run(self, runtime: PushedLog, witness: WitnessConfig, p: _Progress) -> None:
        interval = runtime.config.witness_interval_s
        while True:
            signed = runtime.signed.edge()  # taken first: a signature from now on wakes us
            size = runtime.store.checkpoint_size
            now = self._clock.monotonic()
            due = size != p.cosigned_size or now >= p.pushed_at + interval
            if due and now >= p.retry_at:
                try:
                    await self._push(runtime, witness, p, size)
                    p.failures, p.pushed_at, p.cosigned_size = 0, now, size
                except Exception as exc:  # the loop must outlive any one failure
                    p.failures += 1
                    backoff = min(interval, MAX_BACKOFF_S, 0.25 * 2 ** min(p.failures, 16))
                    p.retry_at = self._clock.monotonic() + backoff * random.uniform(0.5, 1.0)
                    expected = isinstance(exc, AuditLogError | OSError | ValueError)
                    log.log(logging.WARNING if expected else logging.ERROR,
                            "witness %s for %s: %s (attempt %d)", witness.url,
                            runtime.config.origin, exc, p.failures, exc_info=not expected)
            # Until the log signs a checkpoint, or TICK_S has passed on the clock.
            await wait_event(self._clock, signed, TICK_S)

    async def _push(self, runtime: PushedLog, witness: WitnessConfig, p: _Progress,
                    size: int) -> None:
        loop = asyncio.get_running_loop()
        store = runtime.store
        for _ in range(MAX_409):
            if p.known_size > size:
                await runtime.report_witness_size(
                    f"{witness.vkey.partition('+')[0]} at {witness.url}", p.known_size)
                raise PushError(
                    f"the witness has cosigned size {p.known_size}, beyond this log's {size}: "
                    "this log was rolled back or forked"
                )
            body = await loop.run_in_executor(self._reads, self._body, store, p.known_size, size)
            context = self._contexts.get((runtime.config.origin, witness.vkey))
            status, content_type, data = await loop.run_in_executor(
                self._net, self._post, witness.url, body, witness.timeout_s, context
            )
            if status == 409 and content_type.startswith("text/x.tlog.size"):
                p.known_size = parse_size_body(data)
                continue
            if status != 200:
                text = data[:300].decode(errors="replace").strip()
                raise PushError(f"answered {status}: {text}")
            mine = self._lines_of(runtime.witnesses, witness.vkey, data)
            names = await runtime.add_cosignatures(size, mine)
            p.known_size = size
            log.info("log %s at size %d is cosigned by %s", runtime.config.origin, size,
                     ", ".join(names))
            return
        raise PushError(f"kept answering 409 (last size {p.known_size})")

    @staticmethod
    def _body(store: CheckpointReader, old: int, size: int) -> bytes:
        note = store.checkpoint(size)
        if note is None:
            raise NotFoundError(f"log {store.origin} has no checkpoint at size {size}")
        proof = store.consistency_proof(old, size)
        return format_add_checkpoint(AddCheckpointRequest(old, proof, note))

    @staticmethod
    def _lines_of(witnesses: LogWitnesses, vkey: str, data: bytes) -> bytes:
        """The response's lines by this witness's key (a witness may answer with several)."""
        v = witnesses.verifier(vkey)
        lines = [s for s in parse_signature_lines(data, MAX_RESPONSE_BYTES)
                 if (s.name, s.key_id) == (v.name, bytes(v.key_id))]
        if not lines:
            raise PushError("answered 200 without a cosignature by its configured key")
        return "".join(s.line() for s in lines).encode()
