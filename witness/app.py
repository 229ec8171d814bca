"""Assemble and run a witness (``auditlog witness --config witness.toml``): keys, state store,
archive, the c2sp.org/tlog-witness@v1.0.0 HTTP(S) server, the metrics listener (``/metrics``,
``/healthz``) and one pull thread per ``[[log]]`` with a ``grpc`` address. Start-up fails
loudly, before anything is served, when plain text is configured off loopback without
``insecure = true`` (``common.net.check_listener``), when a private key or
token file is readable by others, or when the archive is not write-once (an S3 bucket without
versioning and Object Lock). SIGTERM and SIGINT stop it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from auditlog_tlog.common.clock import Clock
from auditlog_tlog.common.http import Limits, ThreadedHTTPService
from auditlog_tlog.common.metrics_http import metrics_app
from auditlog_tlog.common.net import split_host_port
from auditlog_tlog.tree.errors import AuditLogError
from auditlog_tlog.tree.hashing import get_hasher
from auditlog_tlog.tree.keys import Ed25519Verifier
from auditlog_tlog.witness.archive import Archive, LocalArchive
from auditlog_tlog.witness.config import ArchiveConfig, WitnessConfig
from auditlog_tlog.witness.core import Witness, WitnessedLog
from auditlog_tlog.witness.httpd import WitnessHTTPServer
from auditlog_tlog.witness.journal import Journal
from auditlog_tlog.witness.keys import WitnessKeys, load_keys
from auditlog_tlog.witness.metrics import MeteredArchive, WitnessMetrics
from auditlog_tlog.witness.pull import Puller
from auditlog_tlog.witness.tls import channel_credentials, check_transport, read_token, server_context

log = logging.getLogger("auditlog.witness")


def open_archive(config: ArchiveConfig) -> tuple[Archive, Callable[[], None]]:
    """The configured archive and a function that releases it."""
    if config.type == "s3":
        from auditlog_tlog.witness.s3archive import S3Archive  # boto3 is only imported when S3 is used

        s3 = S3Archive.connect(
            config.bucket, config.retention_days, endpoint_url=config.endpoint_url,
            region=config.region, prefix=config.prefix, max_attempts=config.max_attempts,
        )
        return s3, s3.close
    return LocalArchive(config.dir), lambda: None


class WitnessApp:
    def __init__(self, config: WitnessConfig, clock: Clock | None = None) -> None:
        self.config = config
        self._clock = clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pullers: list[Puller] = []
        self.http: WitnessHTTPServer | None = None
        self.metrics = WitnessMetrics()
        self.metrics_http: ThreadedHTTPService | None = None
        self.keys: WitnessKeys | None = None
        self.key_created = False

    def start(self) -> None:
        config = self.config
        check_transport(config)
        # Every file-mode and TLS check comes before the state, the archive or a socket opens.
        ssl_context = server_context(config.tls) if config.tls and config.listen else None
        dial = {e.origin: (channel_credentials(e), read_token(e)) for e in config.logs if e.grpc}
        self.keys = load_keys(config.name, config.key_file, config.keys)
        self.key_created = bool(self.keys.created)
        logs = [
            WitnessedLog(e.origin, tuple(Ed25519Verifier.from_vkey(v) for v in e.vkeys),
                         get_hasher(e.hash))
            for e in config.logs
        ]
        archive, self._close_archive = open_archive(config.archive)
        local = archive if isinstance(archive, LocalArchive) else None
        try:
            # With a local archive the journal is its durable queue (one sync per request).
            self._state = Journal(config.state_dir, local)
        except BaseException:
            self._close_archive()
            raise
        self.witness = Witness(self.keys.active, logs, self._state,
                               MeteredArchive(self._state if local else archive, self.metrics),
                               self._clock, config.refresh_s)
        self.witness.reconcile()
        self.metrics.watch(self.witness)
        if config.listen:
            self.http = WitnessHTTPServer(
                split_host_port(config.listen), self.witness, config.prefix, config.max_connections,
                config.request_timeout_s, ssl_context, config.max_connections_per_peer,
                self.metrics, inline=local is not None,
                max_inflight_bytes=config.max_inflight_bytes,
            )
            self.http.start()
        if config.metrics_listen:
            registry = self.metrics.registry
            self.metrics_http = ThreadedHTTPService(
                lambda: metrics_app(registry, self._problems), config.metrics_listen, Limits(),
                name="witness-metrics",
            )
            self.metrics_http.start()
        for entry in config.logs:
            if entry.grpc:
                credentials, token = dial[entry.origin]
                puller = Puller(self.witness, entry.origin, entry.grpc, entry.poll_interval_s,
                                credentials=credentials, token=token)
                self._pullers.append(puller)
                thread = threading.Thread(target=puller.run, args=(self._stop,),
                                          name=f"pull-{entry.origin}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _problems(self) -> list[str]:
        """What /healthz reports: each log whose state cannot be read."""
        problems = []
        for origin in self.witness.origins:
            try:
                self.witness.state_of(origin)
            except AuditLogError as exc:
                problems.append(f"log {origin}: {exc}")
        return problems

    def stop(self) -> None:
        self._stop.set()
        if self.http is not None:
            self.http.stop()
        if self.metrics_http is not None:
            self.metrics_http.stop()
        for thread in self._threads:
            thread.join(15)
        for puller in self._pullers:
            puller.close()
        self._state.close()
        self._close_archive()


def run(config: WitnessConfig) -> None:
    """Run until SIGTERM or SIGINT, printing where it listens and its verifier key."""
    app = WitnessApp(config)
    app.start()
    assert app.keys is not None
    for path in app.keys.created:
        log.info("created a witness key in %s", path)
    for vkey, key in app.keys.listed:
        dates = " ".join(f"{k} {v}" for k, v in (("since", key.since), ("until", key.until)) if v)
        state = "key" if key.state == "active" else "retired key (signs nothing)"
        log.info("auditlog witness: %s %s%s", state, vkey, " " + dates if dates else "")
    if app.http is not None:
        scheme = "https" if config.tls else "http"
        mutual = " (mutual TLS)" if config.tls and config.tls.client_ca_file else ""
        log.info("auditlog witness: serving tlog-witness on %s://%s%s%s", scheme,
                 app.http.address, config.prefix, mutual)
    if app.metrics_http is not None:
        log.info("auditlog witness: metrics on http://%s/metrics", app.metrics_http.address)
    for entry in config.logs:
        mode = "push"
        if entry.grpc:
            mode = f"pulling from {entry.grpc} over {'TLS' if entry.ca_file else 'plain text'}"
        log.info("auditlog witness: log %s (%s)", entry.origin, mode)
    stopped = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopped.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    log.info("auditlog witness: ready")
    while not stopped.wait(1.0):
        pass
    log.info("auditlog witness: shutting down")
    app.stop()
