"""Assemble and run the log server: open the database and every log, serve gRPC and metrics.

A log whose stored state fails its open check (``CorruptionError``) does not stop the server:
it is listed with the reason, refuses writes and reads with DATA_LOSS, and the other logs go
on. A database that RocksDB cannot open stops the server with one line naming its files.
SIGTERM and SIGINT stop the server gracefully: no new appends are taken, queued ones are
written and answered, then the process exits (with 0, even after a failed write).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.server.budget import ByteBudget, pin_mmap_threshold, request_limits
from auditlog_tlog.server.config import LogConfig, ServerConfig
from auditlog_tlog.server.handlers import Gate, generic_handler
from auditlog_tlog.server.keys import load_log_keys
from auditlog_tlog.server.metrics import Metrics
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.security import Authorizer
from auditlog_tlog.server.sequencer import Sequencer
from auditlog_tlog.server.service import LogService
from auditlog_tlog.server.signer import CheckpointSigner
from auditlog_tlog.server.tiles_http import TileReader, TileServer
from auditlog_tlog.server.tls import add_port
from auditlog_tlog.server.witnessing import WitnessPusher
from auditlog_tlog.storage.db import Database
from auditlog_tlog.storage.logstore import LogStore
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.errors import CorruptionError
from auditlog_tlog.tree.hashing import get_hasher
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.tree.note import parse_note

log = logging.getLogger("auditlog.server")


def open_log(db: Database, config: LogConfig, metrics: Metrics) -> LogRuntime:
    """Open one log; sign a checkpoint for its current tree if the latest one is older."""
    signers, keys = load_log_keys(config)
    vkey = keys[0].verifier_key
    try:
        store = LogStore(db, config.origin, get_hasher(config.hash))
        signer = _signer_for(store, signers, config)
        if store.checkpoint(store.size) is None or store.checkpoint_size != store.size:
            batch = store.prepare([], config.dedup)
            proof = store.consistency_proof(signer.last[0], store.size)
            note = signer.sign(store.size, store.root, proof)
            store.commit(batch, note)
    except CorruptionError as exc:
        log.error("log %s refuses service: %s", config.origin, exc)
        return LogRuntime(config, vkey, failure=str(exc), keys=keys)
    metrics.tree_size.labels(config.origin).set(store.size)
    sequencer = Sequencer(store, signer, config, metrics)
    return LogRuntime(config, vkey, store, signer, sequencer, keys=keys)


def _signer_for(
    store: LogStore, signers: list[Ed25519Signer], config: LogConfig
) -> CheckpointSigner:
    """A signer that continues from the latest stored checkpoint (or the empty tree)."""
    note = store.checkpoint()
    size, root = 0, store.hasher.empty_root()
    if note is not None:
        checkpoint = parse_checkpoint(parse_note(note).text)
        size, root = checkpoint.size, checkpoint.root
        if size == store.size and root != store.root:
            raise CorruptionError(
                f"the latest checkpoint (size {size}) has root {root.hex()}, the stored tree "
                f"has {store.root.hex()}"
            )
    return CheckpointSigner(config.origin, store.hasher, signers, size, root)


@dataclass
class LogServer:
    config: ServerConfig
    metrics: Metrics = field(default_factory=Metrics)
    port: int = 0
    metrics_port: int = 0
    http_port: int = 0

    async def start(self) -> None:
        self._db = Database(self.config.data_dir / "db")
        self.logs = {c.origin: open_log(self._db, c, self.metrics) for c in self.config.logs}
        pin_mmap_threshold()
        limits = request_limits(self.config)
        self._server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", limits.receive),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
        ])
        public = frozenset(c.origin for c in self.config.logs if c.public_read)
        authorizer = Authorizer(self.config.principals, public)
        gate = Gate(authorizer, self.metrics, limits, ByteBudget(self.config.max_inflight_bytes))
        self._tiles: TileServer | None = None
        if self.config.http_listen:
            self._tiles = TileServer(self.config.http_listen, TileReader(self.logs, authorizer))
        service = LogService(self.logs, self.metrics, gate.readable)
        self._server.add_generic_rpc_handlers((generic_handler(service, gate),))
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = (pb.DESCRIPTOR.services_by_name["Log"].full_name, reflection.SERVICE_NAME,
                 health.SERVICE_NAME)
        reflection.enable_server_reflection(names, self._server)
        try:
            self.port = add_port(
                self._server, self.config.listen, self.config.tls, self.config.insecure
            )
        except RuntimeError as exc:  # grpc's way of saying the address could not be bound
            self.port = 0
            log.debug("binding %s: %s", self.config.listen, exc)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.listen}: the port is in use or the "
                          "address is not on this machine")
        for runtime in self.logs.values():
            if runtime.failure is None:
                runtime.sequencer().start()
        await self._server.start()
        serving = health_pb2.HealthCheckResponse.SERVING
        await self._health.set("", serving)
        await self._health.set("auditlog.v1.Log", serving)
        if self.config.metrics_listen:
            _, self.metrics_port = self.metrics.serve(self.config.metrics_listen)
        if self._tiles is not None:
            self._tiles.start()
            self.http_port = self._tiles.port
        self._pusher = WitnessPusher(self.logs)
        self._pusher.start()

    async def stop(self) -> None:
        """Drain: refuse new appends, write and answer the queued ones, then stop."""
        await self._health.enter_graceful_shutdown()
        for runtime in self.logs.values():
            if runtime.failure is None:
                await runtime.sequencer().close()
        await self._server.stop(self.config.shutdown_grace_s)
        if self._tiles is not None:
            self._tiles.stop()
        await self._pusher.stop()
        self._db.close()


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    server = LogServer(config)
    await server.start()
    host = config.listen.rpartition(":")[0]
    print(f"auditlog: serving gRPC on {host}:{server.port}", flush=True)
    if server.metrics_port:
        print(f"auditlog: metrics on http://{host}:{server.metrics_port}/metrics", flush=True)
    if server.http_port:
        print(f"auditlog: tiles on http://{host}:{server.http_port}/<origin>/", flush=True)
    for runtime in server.logs.values():
        status = f"size {runtime.store.size}" if runtime.failure is None else runtime.failure
        print(f"auditlog: log {runtime.config.origin} ({status}) key {runtime.verifier_key}",
              flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    print("auditlog: shutting down, draining appends", flush=True)
    await server.stop()
