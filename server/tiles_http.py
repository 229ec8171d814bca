"""The read path over HTTP, as c2sp.org/tlog-tiles: checkpoint, tiles and entry bundles.

Each log is served under its origin as the prefix (``http://host:port/<origin>/...``):

    GET /<origin>/checkpoint                 the latest signed checkpoint (text/plain)
    GET /<origin>/tile/<L>/<N>[.p/<W>]       Merkle tile: row 0 of the stored stratum, as is
    GET /<origin>/tile/entries/<N>[.p/<W>]   entry bundle (uint16 length-prefixed entries)

Tiles are stored ready to serve (storage/strata.py), so nothing is recomputed; full tiles and
bundles are immutable and say so in Cache-Control. A tile wider than what the log holds is 404.
Private logs (``public_read = false`` with principals configured) need
``Authorization: Bearer <token>`` of a principal with the ``read`` role (401/403 otherwise).
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.security import Authorizer
from auditlog_tlog.server.tiledata import entry_bundle, hash_tile
from auditlog_tlog.storage.strata import WIDTH
from auditlog_tlog.tree.errors import (
    AuditLogError,
    InvalidRangeError,
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from auditlog_tlog.tree.tiles import parse_entries_path, parse_tile_path

log = logging.getLogger("auditlog.tiles")
MAX_PATH = 512
HTTP_STATUS: dict[type[AuditLogError], int] = {
    MalformedError: 400, InvalidRangeError: 404, NotFoundError: 404,
    UnauthenticatedError: 401, PermissionDeniedError: 403,
}


class TileReader:
    """Answers tile requests from the logs' stores; pure enough to test without HTTP."""

    def __init__(self, logs: dict[str, LogRuntime], authorizer: Authorizer) -> None:
        self._logs = logs
        self._authorizer = authorizer

    def get(self, path: str, authorization: str | None) -> tuple[bytes, str, bool]:
        """(body, content type, immutable) for a GET of ``path``."""
        if len(path) > MAX_PATH:
            raise MalformedError(f"path of {len(path)} characters, want at most {MAX_PATH}")
        runtime, rest = self._route(path)
        metadata = [("authorization", authorization)] if authorization else []
        principal = self._authorizer.identify(metadata, {})
        self._authorizer.check(principal, runtime.config.origin, "read")
        store = runtime.store
        if rest == "checkpoint":
            note = store.checkpoint()
            if note is None:
                raise NotFoundError("no checkpoint yet")
            return note, "text/plain; charset=utf-8", False
        if rest.startswith("tile/entries/"):
            index, width = parse_entries_path(rest)
            return entry_bundle(store, index, width), "application/octet-stream", width == WIDTH
        if rest.startswith("tile/"):
            level, index, width = parse_tile_path(rest)
            return hash_tile(store, level, index, width), "application/octet-stream", width == WIDTH
        raise NotFoundError(f"no such resource {rest!r}, want checkpoint or tile/...")

    def _route(self, path: str) -> tuple[LogRuntime, str]:
        path = path.lstrip("/")
        for origin, runtime in self._logs.items():
            if path.startswith(origin + "/"):
                return runtime, path[len(origin) + 1:]
        raise NotFoundError(f"no log serves {path!r}")


def _handler(reader: TileReader) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "auditlog"

        def do_GET(self) -> None:
            try:
                body, kind, immutable = reader.get(self.path, self.headers.get("Authorization"))
                status, cache = 200, "public, max-age=31536000, immutable" if immutable else "no-cache"
            except AuditLogError as exc:
                status = next((code for cls, code in HTTP_STATUS.items() if isinstance(exc, cls)), 503)
                body, kind, cache = f"{exc}\n".encode(), "text/plain; charset=utf-8", "no-store"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return Handler


class TileServer:
    """A threaded HTTP server for the tiles of every log; ``serve`` returns the bound port."""

    def __init__(self, address: str, reader: TileReader) -> None:
        host, _, port = address.rpartition(":")
        try:
            self._http = ThreadingHTTPServer((host, int(port)), _handler(reader))
        except OSError as exc:
            raise OSError(f"cannot listen on {address} for tiles: {exc.strerror}") from exc
        self._http.daemon_threads = True
        self.port = int(self._http.server_address[1])
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
