"""The read path over HTTP, as c2sp.org/tlog-tiles: checkpoint, tiles and entry bundles.

Each log is served under its origin as the prefix (``http://host:port/<origin>/...``):

    GET /<origin>/checkpoint                 the latest signed checkpoint (text/plain)
    GET /<origin>/tile/<L>/<N>[.p/<W>]       Merkle tile: row 0 of the stored stratum, as is
    GET /<origin>/tile/entries/<N>[.p/<W>]   entry bundle (uint16 length-prefixed entries)
    GET /<origin>/addenda/<s0>/<s1>/<digest> an addendum (c2sp.org/tlog-addenda; docs/erasure.md),
                                             404 once erased; never cached (Cache-Control:
                                             no-store), so that no cache keeps it past erasure

Tiles are stored ready to serve (storage/strata.py), so nothing is recomputed; full tiles and
bundles are immutable and say so in Cache-Control. A tile wider than what the log holds is 404.
Entry bundles go out gzip-compressed (``Content-Encoding: gzip``) to a client whose
``Accept-Encoding`` allows it; hash tiles do not compress and go out as they are.
Private logs (``public_read = false`` with principals configured) need
``Authorization: Bearer <token>`` of a principal with the ``read`` role (401/403 otherwise).
It runs on the shared HTTP stack (``common.http``: deadlines, connection limits, keep-alive
with TCP_NODELAY) on the server's event loop.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from auditlog_tlog.common.http import accepts_gzip, text_response
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.security import Authorizer
from auditlog_tlog.server.tiledata import entry_bundle, hash_tile
from auditlog_tlog.storage.strata import WIDTH
from auditlog_tlog.tree.addenda import parse_digest
from auditlog_tlog.tree.addenda import path as addenda_path
from auditlog_tlog.tree.errors import (
    AuditLogError,
    InvalidRangeError,
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    PrunedError,
    UnauthenticatedError,
)
from auditlog_tlog.tree.tiles import parse_entries_path, parse_tile_path

log = logging.getLogger("auditlog.tiles")
MAX_PATH = 512
_INLINE_GZIP: Final = 64 * 1024  # larger bundles are compressed in a worker thread
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HTTP_STATUS: dict[type[AuditLogError], int] = {  # the first class that matches: subclasses first
    PrunedError: 410, MalformedError: 400, InvalidRangeError: 404, NotFoundError: 404,
    UnauthenticatedError: 401, PermissionDeniedError: 403,
}


@dataclass(frozen=True, slots=True)
class Resource:
    body: bytes
    content_type: str
    immutable: bool
    compressible: bool = False
    erasable: bool = False  # an addendum: no cache may keep it


class TileReader:
    """Answers tile requests from the logs' stores; pure enough to test without HTTP."""

    def __init__(self, logs: dict[str, LogRuntime], authorizer: Authorizer) -> None:
        self._logs = logs
        self._authorizer = authorizer

    def get(self, path: str, authorization: str | None) -> Resource:
        """What a GET of ``path`` answers; raises an AuditLogError when there is nothing."""
        if len(path) > MAX_PATH:
            raise MalformedError(f"path of {len(path)} characters, want at most {MAX_PATH}")
        runtime, rest = self._route(path)
        self._authorizer.check(self._authorizer.identify_http(authorization),
                               runtime.config.origin, "read")
        store = runtime.store
        if rest == "checkpoint":
            note, _, _ = runtime.latest_checkpoint()  # refused while the log is halted
            return Resource(note, "text/plain; charset=utf-8", False)
        if rest.startswith("tile/entries/"):
            index, width = parse_entries_path(rest)
            return Resource(entry_bundle(store, index, width), "application/octet-stream",
                            width == WIDTH, compressible=True)
        if rest.startswith("tile/"):
            level, index, width = parse_tile_path(rest)
            return Resource(hash_tile(store, level, index, width), "application/octet-stream",
                            width == WIDTH)
        if rest.startswith("addenda/"):
            return Resource(self._addendum(runtime, rest), "application/octet-stream", False,
                            erasable=True)
        raise NotFoundError(f"no such resource {rest!r}, want checkpoint, tile/... or addenda/...")

    @staticmethod
    def _addendum(runtime: LogRuntime, rest: str) -> bytes:
        parts = rest.split("/")
        digest = parse_digest(parts[-1]) if len(parts) == 4 else b""
        if not digest or addenda_path(digest) != rest:
            raise MalformedError(f"addendum path {rest[:120]!r}, want addenda/<s0>/<s1>/<digest> "
                                 "with the digest in 64 lowercase hex digits")
        data, index, erased_by = runtime.addendum(digest)
        if erased_by is not None:
            raise NotFoundError(f"addendum {digest.hex()} of entry {index} was erased, by entry "
                                f"{erased_by}")
        return data

    def _route(self, path: str) -> tuple[LogRuntime, str]:
        path = path.lstrip("/")
        for origin, runtime in self._logs.items():
            if path.startswith(origin + "/"):
                return runtime, path[len(origin) + 1:]
        raise NotFoundError(f"no log serves {path!r}")


def tiles_app(reader: TileReader, search: Handler | None = None,
              routes: Sequence[web.RouteDef] = ()) -> web.Application:
    """The tlog-tiles endpoints of every log in ``reader`` (and ``search`` at /api/v1/search);
    ``routes`` (the console's) go before their catch-all."""

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return text_response(405, f"method {request.method}: want GET", close=True,
                                 headers={"Allow": "GET, HEAD"})
        try:
            # The path as sent (percent escapes kept), without the query and, for a request
            # in absolute form (RFC 9112 §3.2.2), without the scheme and host: what the
            # router matched. ``request.raw_path`` has both.
            found = reader.get(request.rel_url.raw_path, request.headers.get("Authorization"))
        except AuditLogError as exc:
            status = next((code for cls, code in HTTP_STATUS.items() if isinstance(exc, cls)), 503)
            response = text_response(status, str(exc))
            response.headers["Cache-Control"] = "no-store"
            return response
        body = found.body
        response = web.Response()
        if found.compressible:
            response.headers["Vary"] = "Accept-Encoding"
            if accepts_gzip(request.headers.get("Accept-Encoding", "")):
                body = (gzip.compress(body, mtime=0) if len(body) <= _INLINE_GZIP
                        else await asyncio.to_thread(gzip.compress, body, mtime=0))
                response.headers["Content-Encoding"] = "gzip"
        response.body = body
        response.headers["Content-Type"] = found.content_type
        response.headers["Cache-Control"] = (
            "no-store" if found.erasable
            else "public, max-age=31536000, immutable" if found.immutable else "no-cache")
        return response

    app = web.Application()
    if search is not None:
        app.router.add_get("/api/v1/search", search)
    app.router.add_routes(routes)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
