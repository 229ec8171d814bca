"""Assemble and run the log server: open the database and every log, serve gRPC and metrics.

Each log keeps the checkpoints it signs in an anchor file beside the database
(``<data_dir>/anchors/``, see ``server.anchors``). A log whose tree does not equal or extend an
anchor is halted: it serves reads but refuses appends and signatures (DATA_LOSS), says
so in ``GetLogInfo`` and the ``auditlog_log_halted`` gauge, and logs both checkpoints.

A log whose stored state fails its open check (``CorruptionError``) does not stop the server:
it is listed with the reason, refuses writes and reads with DATA_LOSS, and the other logs go
on. A database that RocksDB cannot open stops the server with one line naming its files.
SIGTERM and SIGINT stop the server gracefully: no new appends are taken, queued ones are
written and answered, then the process exits (with 0, even after a failed write).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from auditlog_tlog.common.clock import Clock, SystemClock
from auditlog_tlog.common.http import HTTPService, Limits
from auditlog_tlog.common.metrics_http import metrics_app
from auditlog_tlog.common.net import check_listener, format_address, split_host_port
from auditlog_tlog.common.stopping import stop_on_signals
from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.anchors import Anchor, AnchorFile, LogHaltedError
from auditlog_tlog.server.budget import ByteBudget, pin_mmap_threshold, request_limits
from auditlog_tlog.server.config import LogConfig, ServerConfig
from auditlog_tlog.server.handlers import Gate, generic_handler
from auditlog_tlog.server.ingest.listeners import Ingestion, check_ingest_listeners
from auditlog_tlog.server.keys import load_log_keys
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.metrics_http import LogsCollector, log_problems
from auditlog_tlog.server.pushing import WitnessPusher
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.search import open_index
from auditlog_tlog.server.security import Authorizer
from auditlog_tlog.server.sequencer import Sequencer
from auditlog_tlog.server.service import LogService
from auditlog_tlog.server.tls import add_port
from auditlog_tlog.server.writer import LogWriter
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.errors import CorruptionError
from auditlog_tlog.tree.hashing import get_hasher

if TYPE_CHECKING:
    from auditlog_tlog.server.bucket_anchor import BucketAnchor

log = logging.getLogger("auditlog.server")


def open_log(
    db: Database, config: LogConfig, metrics: Metrics, anchor_dir: Path,
    anchors: Sequence[Anchor] = (), clock: Clock | None = None,
) -> LogRuntime:
    """Open one log: check it against its anchors, sign its tree if the latest checkpoint is
    older. ``anchors`` adds to the log's anchor file (a publisher's bucket, say)."""
    signers, keys = load_log_keys(config)
    vkey = keys[0].verifier_key
    origin = config.origin
    metrics.halted.labels(origin).set(0)

    def halted(exc: LogHaltedError) -> None:
        metrics.halted.labels(origin).set(1)
        anchor_note, local_note = (*exc.evidence, b"", b"")[:2]
        log.error(
            "log %s is HALTED: it refuses to append and sign. %s\n"
            "--- %s says ---\n%s--- the database's latest checkpoint ---\n%s"
            "To recover, restore this log's database from a backup or from its bucket "
            "(auditlog restore) so that it extends the checkpoint above, then restart. "
            "Never delete the anchor file to make this go away: that is how a log signs a fork.",
            origin, exc, exc.anchor, anchor_note.decode(errors="replace"),
            local_note.decode(errors="replace") or "(none)\n",
        )

    try:
        store = LogStore(db, origin, get_hasher(config.hash))
        index = open_index(db, store, config, clock)
        writer = LogWriter(store, signers, AnchorFile(anchor_dir, origin), anchors, halted)
        writer.open()
    except CorruptionError as exc:
        log.error("log %s refuses service: %s", origin, exc)
        return LogRuntime(config, vkey, failure=str(exc), keys=keys)
    metrics.opened(origin, store.size)
    sequencer = Sequencer(writer, config, metrics, clock)
    return LogRuntime(config, vkey, store, sequencer, keys=keys, index=index)


@dataclass
class LogServer:
    config: ServerConfig
    metrics: Metrics = field(default_factory=Metrics)
    port: int = 0
    metrics_port: int = 0
    http_port: int = 0
    # Anchors beside each log's anchor file, by origin (a publisher's bucket, say).
    anchors: Mapping[str, Sequence[Anchor]] = field(default_factory=dict)
    clock: Clock | None = None
    address: str = ""  # each listener's address as bound ("" when off)
    metrics_address: str = ""
    http_address: str = ""

    async def start(self) -> None:
        config = self.config
        # Every listener follows one rule (common/net.py), checked before anything opens.
        check_listener("gRPC", config.listen, tls=config.tls is not None,
                       insecure=config.insecure, section="[server]", tls_section="[server.tls]")
        for what, listen in (("metrics HTTP", config.metrics_listen),
                             ("tiles HTTP", config.http_listen)):
            if listen:
                check_listener(what, listen, tls=False, insecure=config.insecure,
                               section="[server]")
        check_ingest_listeners(config)
        buckets = await self._open_buckets()
        self._db = Database(self.config.data_dir / "db")
        anchor_dir = self.config.data_dir / "anchors"
        self.logs = {
            c.origin: open_log(self._db, c, self.metrics, anchor_dir,
                               (*self.anchors.get(c.origin, ()), *buckets.get(c.origin, ())),
                               self.clock)
            for c in self.config.logs
        }
        self._pusher = WitnessPusher(
            {o: r for o, r in self.logs.items() if r.failure is None}, clock=self.clock
        )  # before serving: unreadable witness TLS files stop the server here
        pin_mmap_threshold()
        limits = request_limits(self.config)
        public = frozenset(c.origin for c in self.config.logs if c.public_read)
        authorizer = Authorizer(self.config.principals, public)
        budget = ByteBudget(self.config.max_inflight_bytes)
        self.ingestion = Ingestion(self.config, self.logs, authorizer, self.metrics, budget,
                                   self.clock)
        self._server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", max(limits.receive, self.ingestion.receive)),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
        ], maximum_concurrent_rpcs=self.config.max_concurrent_rpcs)  # idle streams cost memory
        gate = Gate(authorizer, self.metrics, limits, budget)
        collector = LogsCollector(self.logs, self.config.data_dir / "db")
        self._tiles: HTTPService | None = None
        if self.config.http_listen:
            # Imported only when the tiles listener is on: the start of every other server
            # does not pay for them (docs/startup.md).
            from auditlog_tlog.server.console.api import ConsoleReader
            from auditlog_tlog.server.console.routes import console_routes
            from auditlog_tlog.server.search_http import search_handler
            from auditlog_tlog.server.tiles_http import TileReader, tiles_app

            console = console_routes(ConsoleReader(self.logs, authorizer, collector))
            self._tiles = HTTPService(tiles_app(TileReader(self.logs, authorizer),
                                                search_handler(self.logs, authorizer), console),
                                      self.config.http_listen, Limits())
        self._metrics_http: HTTPService | None = None
        if self.config.metrics_listen:
            self.metrics.registry.register(collector)
            logs = self.logs
            self._metrics_http = HTTPService(
                metrics_app(self.metrics.registry, lambda: log_problems(logs)),
                self.config.metrics_listen, Limits(),
            )
        service = LogService(self.logs, self.metrics, gate.readable, gate.who)
        self._server.add_generic_rpc_handlers((generic_handler(service, gate),
                                               *self.ingestion.grpc_handlers()))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = (pb.DESCRIPTOR.services_by_name["Log"].full_name, reflection.SERVICE_NAME,
                 health.SERVICE_NAME, *self.ingestion.service_names())
        reflection.enable_server_reflection(names, self._server)
        try:
            self.port = add_port(self._server, self.config.listen, self.config.tls)
        except RuntimeError as exc:  # grpc's way of saying the address could not be bound
            self.port = 0
            log.debug("binding %s: %s", self.config.listen, exc)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.listen}: the port is in use or the "
                          "address is not on this machine")
        self.address = format_address(split_host_port(self.config.listen)[0], self.port)
        await self._open_publishers(buckets)
        for runtime in self.logs.values():
            if runtime.failure is None:
                runtime.sequencer().start()
                if runtime.publisher is not None:
                    from auditlog_tlog.server.retention import Retention  # boto3: see _open_buckets

                    runtime.publisher.start()
                    runtime.retention = Retention(
                        runtime.store, runtime.sequencer().prune, runtime.publisher,
                        runtime.config.publish.prune_after_days if runtime.config.publish else 0,
                        self.metrics, self.clock or SystemClock())
                    runtime.retention.start()
        await self._server.start()
        try:
            await self._start_listeners()
        except BaseException:
            # The process is about to exit with the error: stop gRPC's server while the event
            # loop runs, or its finalizer reports a closed event loop after the error.
            await self._server.stop(0)
            raise
        self._pusher.start()

    async def _start_listeners(self) -> None:
        """Health says serving; then the HTTP listeners and the ingestion sources start."""
        serving = health_pb2.HealthCheckResponse.SERVING
        await self._health.set("", serving)
        await self._health.set("auditlog.v1.Log", serving)
        if self._metrics_http is not None:
            self.metrics_address = await self._metrics_http.start()
            self.metrics_port = self._metrics_http.port
        if self._tiles is not None:
            self.http_address = await self._tiles.start()
            self.http_port = self._tiles.port
        await self.ingestion.start()

    async def _open_buckets(self) -> dict[str, tuple[BucketAnchor]]:
        """Connect to, check and probe each publishing log's bucket (an unfit one stops the
        server: StorageError); the bucket's checkpoint is then one of the log's anchors."""
        buckets: dict[str, tuple[BucketAnchor]] = {}
        for c in self.config.logs:
            if c.publish is not None:
                # Imported only for a log that publishes: boto3 is ~0.4 s of CPU (docs/startup.md)
                # that the start of every other server does not pay.
                from auditlog_tlog.server.bucket_anchor import BucketAnchor, open_bucket

                bucket = await asyncio.to_thread(
                    open_bucket, c.publish, c.origin, self.clock or SystemClock()
                )
                buckets[c.origin] = (BucketAnchor(bucket),)
        return buckets

    async def _open_publishers(self, buckets: dict[str, tuple[BucketAnchor]]) -> None:
        """A publisher beside each log that publishes and is not failed or halted."""
        for origin, (anchor,) in buckets.items():
            from auditlog_tlog.server.publisher import Publisher  # only with a bucket: boto3

            runtime = self.logs[origin]
            publish = runtime.config.publish
            if publish is None or runtime.failure is not None or runtime.halted is not None:
                anchor.bucket.client.close()
                continue
            publisher = Publisher(runtime.store, publish, anchor.bucket, self.metrics,
                                  self.clock, anchor=anchor)
            try:
                await asyncio.to_thread(publisher.open)
            except CorruptionError as exc:
                log.error("log %s refuses service: %s", origin, exc)
                runtime.failure = str(exc)
                anchor.bucket.client.close()
                continue
            runtime.publisher = publisher

    async def stop(self) -> None:
        """Drain: refuse new appends, write and answer the queued ones, then stop."""
        await self._health.enter_graceful_shutdown()
        await self._pusher.stop()
        await self.ingestion.stop()  # before the sequencers: what a source has read is written
        for runtime in self.logs.values():
            if runtime.retention is not None:
                await runtime.retention.stop()
            if runtime.failure is None:
                await runtime.sequencer().close()
            if runtime.publisher is not None:
                await runtime.publisher.stop()
        await self._server.stop(self.config.shutdown_grace_s)
        if self._tiles is not None:
            await self._tiles.stop()
        if self._metrics_http is not None:
            await self._metrics_http.stop()
        self._db.close()


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    server = LogServer(config)
    await server.start()
    log.info("auditlog: serving gRPC on %s", server.address)
    if server.metrics_address:
        log.info("auditlog: metrics on http://%s/metrics", server.metrics_address)
    if server.http_address:
        log.info("auditlog: tiles on http://%s/<origin>/ (the console at /console/)",
                 server.http_address)
    if server.ingestion.http_address:
        log.info("auditlog: ingest on %s://%s/", server.ingestion.scheme,
                 server.ingestion.http_address)
    for name, address in server.ingestion.syslog_addresses:
        log.info("auditlog: %s on %s", name, address)
    for runtime in server.logs.values():
        status = f"size {runtime.store.size}" if runtime.failure is None else runtime.failure
        if runtime.halted is not None:
            status = f"size {runtime.store.size}, HALTED: {runtime.halted}"
        log.info("auditlog: log %s (%s) key %s", runtime.config.origin, status,
                 runtime.verifier_key)
    stop = stop_on_signals()
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("auditlog: shutting down, draining appends")
    await server.stop()
