"""The console on the tiles HTTP listener: its static assets under ``/console/`` and its JSON
read API under ``/api/v1/`` (``server.console.api``), routed before the tlog-tiles catch-all.

Every answer carries a strict Content-Security-Policy (scripts, styles and connections to this
origin only, no framing, no forms), ``X-Content-Type-Options: nosniff`` and ``no-referrer``. The
assets are plain ES modules shipped in the package (``static/``), with no build step; only files
of that folder are served, by exact name. Errors are JSON ``{"error": "..."}`` with the status
of ``server.tiles_http.HTTP_STATUS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Final

from aiohttp import web

from auditlog_tlog.common.http import query_once
from auditlog_tlog.server.console.api import ConsoleReader
from auditlog_tlog.server.tiles_http import HTTP_STATUS
from auditlog_tlog.tree.errors import AuditLogError

CSP: Final = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_TYPES: Final = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml"}
MAX_QUERY: Final = 4096


def _assets() -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, content type) of every shipped asset, read once."""
    folder = resources.files("auditlog_tlog.server.console") / "static"
    found = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in _TYPES:
            found[item.name] = (item.read_bytes(), _TYPES[suffix] + "; charset=utf-8")
    return found


def _secured(response: web.Response) -> web.Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _json(status: int, body: Mapping[str, Any]) -> web.Response:
    response = web.Response(status=status, text=json.dumps(body, separators=(",", ":")),
                            content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return _secured(response)


def console_routes(reader: ConsoleReader) -> list[web.RouteDef]:
    """The console's routes, to go before the tiles' catch-all (``tiles_app(..., routes)``)."""
    assets = _assets()

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        found = assets.get(name)
        if found is None:
            return _secured(web.Response(status=404, text=f"no console asset {name[:100]!r}\n"))
        body, content_type = found
        response = web.Response(body=body, headers={"Content-Type": content_type,
                                                    "Cache-Control": "no-cache"})
        return _secured(response)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/console/", headers=SECURITY_HEADERS)

    def api(answer: Callable[[Mapping[str, str], str | None], Mapping[str, Any]]) -> Any:
        async def handle(request: web.Request) -> web.Response:
            if len(request.query_string) > MAX_QUERY:
                return _json(414, {"error": f"query of {len(request.query_string)} characters, "
                                            f"want at most {MAX_QUERY}"})
            try:
                query = query_once(request.query.items())
            except ValueError as exc:
                return _json(400, {"error": str(exc)})
            try:
                return _json(200, answer(query, request.headers.get("Authorization")))
            except AuditLogError as exc:
                status = next((c for cls, c in HTTP_STATUS.items() if isinstance(exc, cls)), 503)
                return _json(status, {"error": str(exc)[:1000]})
        return handle

    return [
        web.get("/console", redirect),
        web.get("/console/", asset),
        web.get("/console/{name:[A-Za-z0-9_.-]+}", asset),
        web.get("/api/v1/logs", api(lambda query, auth: reader.logs(auth))),
        web.get("/api/v1/entry", api(reader.entry)),
        web.get("/api/v1/checkpoints", api(reader.checkpoints)),
        web.get("/api/v1/consistency", api(reader.consistency)),
    ]
