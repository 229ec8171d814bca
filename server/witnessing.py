"""The log's side of witnessing (the README, "For witness operators"): a client of
c2sp.org/tlog-witness@v1.0.0 for push-mode witnesses, and the keeper of the cosignatures
(c2sp.org/tlog-cosignature@v1.0.1) that push- and pull-mode witnesses give the log.

* :class:`LogWitnesses` (one per log): the witness keys and the k-of-n quorum of the config.
  :meth:`~LogWitnesses.attach` verifies cosignature lines against the checkpoint stored at a
  size (only configured witness keys, only valid signatures; anything else is refused, so an
  attached line is always a verified one), keeps one line per witness (the newest timestamp)
  and stores the note again. ``GetCheckpoint`` then serves the cosigned checkpoint.
* :class:`WitnessPusher`: one task per (log, witness with a ``url``). Every ``TICK_S`` it looks
  at the log's latest checkpoint size; when there is a checkpoint the witness has not cosigned,
  or ``witness_interval_s`` has passed, it POSTs ``<url>/add-checkpoint`` with the consistency
  proof from the witness's last size. That size starts at 0 and is learnt from 409 answers
  (``text/x.tlog.size``), as the spec suggests. Every call has a timeout; failures back off
  exponentially with jitter, up to a minute (or the interval, if shorter). A witness that has
  cosigned a size beyond the log's is reported as an error: this log was rolled back or forked.
  :meth:`LogWitnesses.wait_for_quorum` lets a caller wait for a checkpoint that meets the quorum.
* Transport: an ``https://`` witness URL is dialled with TLS, trusting ``ca_file`` (else the
  system's roots) and checking the host name; with ``client_cert_file``/``client_key_file`` the
  log presents a client certificate to a witness that requires mutual TLS. The contexts are
  built when the log opens, so an unreadable file or a key file others can read (it must be
  mode 0600) stops the server before it serves. Plain ``http://`` is for loopback witnesses,
  or with ``insecure = true`` (warned at every start).
* Key rotation: a witness rotating its key answers with one line per active key. The log keeps
  the lines by the keys it is configured with and ignores the others, so a log configured with
  either the old or the new key keeps working during the overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import random
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from auditlog_tlog.common.files import check_private_mode
from auditlog_tlog.server.config import LogConfig, WitnessConfig
from auditlog_tlog.tree.cosignature import CosignatureVerifier
from auditlog_tlog.tree.errors import (
    AuditLogError,
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    VerificationError,
)
from auditlog_tlog.tree.note import Note, Signature, format_note, parse_note, parse_signature_lines
from auditlog_tlog.tree.witness_protocol import AddCheckpointRequest, format_add_checkpoint, parse_size_body

if TYPE_CHECKING:
    from auditlog_tlog.server.runtime import LogRuntime
    from auditlog_tlog.storage.logstore import LogStore

log = logging.getLogger("auditlog.server.witnessing")
MAX_COSIGNATURE_BYTES: Final = 16 * 1024  # signature lines in one AddCosignature or response
MAX_RESPONSE_BYTES: Final = 64 * 1024
TICK_S: Final = 0.1
MAX_BACKOFF_S: Final = 60.0
MAX_409: Final = 3  # 409 answers followed in one push before giving up until the next one


def _timestamp(sig: Signature) -> int:
    return int.from_bytes(sig.signature[:8], "big")


class LogWitnesses:
    """One log's witnesses: verify and attach their cosignatures; the k-of-n policy."""

    def __init__(self, config: LogConfig) -> None:
        self.origin = config.origin
        self.keys = tuple(w.vkey for w in config.witnesses)
        self.quorum = config.quorum
        verifiers = [CosignatureVerifier.from_vkey(vkey) for vkey in self.keys]
        self._verifiers = {(v.name, bytes(v.key_id)): v for v in verifiers}
        self.contexts = {w.vkey: client_context(w) for w in config.witnesses if w.url}
        for w in config.witnesses:
            if w.url.startswith("http://") and w.insecure:
                log.warning("insecure = true: log %s pushes to witness %s over plain http; "
                            "anyone on the path can read and alter traffic", self.origin, w.url)
        self._lock = threading.Condition()
        self._quorum_note: tuple[int, bytes] | None = None  # the latest that met the quorum

    def verifier(self, vkey: str) -> CosignatureVerifier:
        v = CosignatureVerifier.from_vkey(vkey)
        return self._verifiers[(v.name, bytes(v.key_id))]

    def attached(self, note: bytes) -> list[str]:
        """Names of the configured witnesses with a line on ``note`` (attach verified them)."""
        return [s.name for s in parse_note(note).signatures if (s.name, s.key_id) in self._verifiers]

    def attach(self, store: LogStore, size: int, lines: bytes) -> list[str]:
        """Verify cosignature lines of the checkpoint at ``size`` and store them with it.

        Lines by keys this log does not know are skipped, as long as one line is by a key it
        knows (a witness rotating its key signs with the old and the new one); a line by a known
        key that does not verify fails the whole call. Returns the names of every witness whose
        cosignature is now attached to it.
        """
        if len(lines) > MAX_COSIGNATURE_BYTES:
            raise MalformedError(
                f"signatures: got {len(lines)} bytes, want at most {MAX_COSIGNATURE_BYTES}"
            )
        if not self._verifiers:
            raise PermissionDeniedError(f"log {self.origin} has no witnesses configured")
        given = parse_signature_lines(lines, MAX_COSIGNATURE_BYTES)
        if given and not any((sig.name, sig.key_id) in self._verifiers for sig in given):
            sig = given[0]
            raise PermissionDeniedError(
                f"cosignature by {sig.name}+{sig.key_id.hex()}: not a witness of log "
                f"{self.origin} (want one of {', '.join(self.keys)})"
            )
        with self._lock:  # one read-modify-write of the stored note at a time
            note = store.checkpoint(size) if size <= store.checkpoint_size else None
            if note is None:
                raise NotFoundError(f"log {self.origin} has no checkpoint at size {size}")
            parsed = parse_note(note)
            message = parsed.text.encode()
            fresh: dict[tuple[str, bytes], Signature] = {}
            for sig in given:
                ident = (sig.name, sig.key_id)
                verifier = self._verifiers.get(ident)
                if verifier is None:
                    continue  # another key of a rotating witness, or of a stranger: not ours
                if not verifier.verify(message, sig.signature):
                    raise VerificationError(
                        f"cosignature by {sig.name} does not verify for the checkpoint at size {size}"
                    )
                fresh[ident] = sig
            kept: list[Signature] = []
            for sig in parsed.signatures:
                new = fresh.get((sig.name, sig.key_id))
                if new is not None and _timestamp(new) <= _timestamp(sig):
                    del fresh[(sig.name, sig.key_id)]  # the stored one is as new: keep it
                    kept.append(sig)
                elif new is None:
                    kept.append(sig)
            updated = format_note(Note(parsed.text, (*kept, *fresh.values())))
            if updated != note:
                store.store_checkpoint(size, updated)
            names = self.attached(updated)
            if len(names) >= self.quorum and size >= (self._quorum_note or (-1, b""))[0]:
                self._quorum_note = (size, updated)
                self._lock.notify_all()
            return names

    def wait_for_quorum(
        self, store: LogStore, min_size: int, timeout_s: float
    ) -> tuple[int, bytes] | None:
        """(size, note) of the latest checkpoint of at least ``min_size`` entries that carries
        cosignatures of ``quorum`` witnesses, waiting up to ``timeout_s`` for one (blocking: call
        it in a thread); None on timeout. For receipts that should say which witnesses signed.
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if self._quorum_note is None or self._quorum_note[0] < min_size:
                    latest = store.checkpoint()
                    if latest is not None and len(self.attached(latest)) >= self.quorum:
                        self._quorum_note = (store.checkpoint_size, latest)
                found = self._quorum_note
                if found is not None and found[0] >= min_size:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(remaining)


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


def http_post(url: str, body: bytes, timeout_s: float,
              context: ssl.SSLContext | None = None) -> tuple[int, str, bytes]:
    """POST ``body`` to ``<url>/add-checkpoint``; (status, content type, bounded body)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"witness url {url!r}: want http(s)://host[:port][/prefix]")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout_s,
                                           context=context or ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        conn.request("POST", parts.path.rstrip("/") + "/add-checkpoint", body,
                     {"Content-Type": "text/plain; charset=utf-8"})
        resp = conn.getresponse()
        data = resp.read(MAX_RESPONSE_BYTES + 1)
        if len(data) > MAX_RESPONSE_BYTES:
            raise MalformedError(f"witness {url} answered more than {MAX_RESPONSE_BYTES} bytes")
        return resp.status, resp.getheader("Content-Type", ""), data
    finally:
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
        logs: Mapping[str, LogRuntime],
        post: Post = http_post,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logs = logs
        self._post = post
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self.progress: dict[tuple[str, str], _Progress] = {}
        self._net = ThreadPoolExecutor(4, thread_name_prefix="witness-push")
        self._db = ThreadPoolExecutor(1, thread_name_prefix="witness-attach")

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for runtime in self._logs.values():
            if runtime.failure is not None:
                continue
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
        self._db.shutdown(wait=True)  # no attach may still write once the database closes

    async def _run(self, runtime: LogRuntime, witness: WitnessConfig, p: _Progress) -> None:
        interval = runtime.config.witness_interval_s
        while True:
            size = runtime.store.checkpoint_size
            now = self._clock()
            due = size != p.cosigned_size or now >= p.pushed_at + interval
            if due and now >= p.retry_at:
                try:
                    await self._push(runtime, witness, p, size)
                    p.failures, p.pushed_at, p.cosigned_size = 0, now, size
                except Exception as exc:  # the loop must outlive any one failure
                    p.failures += 1
                    backoff = min(interval, MAX_BACKOFF_S, 0.25 * 2 ** min(p.failures, 16))
                    p.retry_at = self._clock() + backoff * random.uniform(0.5, 1.0)
                    expected = isinstance(exc, AuditLogError | OSError | ValueError)
                    log.log(logging.WARNING if expected else logging.ERROR,
                            "witness %s for %s: %s (attempt %d)", witness.url,
                            runtime.config.origin, exc, p.failures, exc_info=not expected)
            await asyncio.sleep(TICK_S)

    async def _push(self, runtime: LogRuntime, witness: WitnessConfig, p: _Progress,
                    size: int) -> None:
        loop = asyncio.get_running_loop()
        store = runtime.store
        for _ in range(MAX_409):
            if p.known_size > size:
                raise PushError(
                    f"the witness has cosigned size {p.known_size}, beyond this log's {size}: "
                    "this log was rolled back or forked"
                )
            body = await loop.run_in_executor(self._db, self._body, store, p.known_size, size)
            context = runtime.witnesses.contexts.get(witness.vkey)
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
            names = await loop.run_in_executor(
                self._db, runtime.witnesses.attach, store, size, mine
            )
            p.known_size = size
            log.info("log %s at size %d is cosigned by %s", runtime.config.origin, size,
                     ", ".join(names))
            return
        raise PushError(f"kept answering 409 (last size {p.known_size})")

    @staticmethod
    def _body(store: LogStore, old: int, size: int) -> bytes:
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
