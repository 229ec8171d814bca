"""``GET /api/v1/search`` on the tiles HTTP listener: Search as JSON, for the web console and
scripts (docs/search.md has the contract)::

    GET /api/v1/search?log=<origin>&actor=&action=&resource=&outcome=&source=&principal=
        &request_id=&attr.<key>=&since=<RFC 3339>&until=<RFC 3339>&order=newest|oldest
        &limit=<1..100>&cursor=<opaque>

answers 200 with ``{"log", "checkpoint", "size", "results": [{"index", "entry", "leaf_hash",
"proof", "fields"}], "next_cursor"}``: ``checkpoint`` is the signed note (with cosignatures)
every ``proof`` leads to, entries and proof hashes are standard base64, ``leaf_hash`` hex.
Bad input is 400, an unknown log 404, a missing or refused credential 401/403, each with
``{"error": "..."}`` saying what was wrong. Reads need what the tiles need: ``public_read``
or a Bearer token of a principal with the ``read`` role.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Final

from aiohttp import web

from auditlog_tlog.common.http import query_once
from auditlog_tlog.common.searchfields import NAMES, rfc3339_ns
from auditlog_tlog.server.runtime import LogRuntime
from auditlog_tlog.server.search import Hit, Page, query_from_params, searcher_of
from auditlog_tlog.server.security import Authorizer
from auditlog_tlog.server.tiles_http import Handler
from auditlog_tlog.tree.errors import (
    AuditLogError,
    InvalidRangeError,
    MalformedError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)

_STATUS: Final[dict[type[AuditLogError], int]] = {
    MalformedError: 400, InvalidRangeError: 400, NotFoundError: 404,
    UnauthenticatedError: 401, PermissionDeniedError: 403,
}
_PARAMS: Final = frozenset(("log", "since", "until", "order", "limit", "cursor", *NAMES))
_RESULT_FIELDS: Final = ("actor", "action", "resource", "outcome", "time", "source", "principal")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def result_json(hit: Hit) -> dict[str, Any]:
    fields: dict[str, Any] = {name: None if hit.fields is None else hit.fields.get(name)
                              for name in _RESULT_FIELDS}
    fields["logged_at"] = None if hit.logged_at_ns is None else rfc3339_ns(hit.logged_at_ns)
    return {"index": hit.index, "entry": _b64(hit.entry), "leaf_hash": hit.leaf_hash.hex(),
            "proof": [_b64(h) for h in hit.proof], "fields": fields}


def page_json(origin: str, page: Page) -> dict[str, Any]:
    return {"log": origin, "checkpoint": page.checkpoint.decode(), "size": page.size,
            "results": [result_json(h) for h in page.hits], "next_cursor": page.next_cursor}


def _search(logs: dict[str, LogRuntime], authorizer: Authorizer, params: dict[str, str],
            authorization: str | None) -> dict[str, Any]:
    for name in params:
        if name not in _PARAMS and not (name.startswith("attr.") and len(name) > 5):
            raise MalformedError(f"unknown parameter {name[:64]!r}, want some of "
                                 f"{', '.join(sorted(_PARAMS))} or attr.<key>")
    origin = params.get("log", "")
    if not origin:
        raise MalformedError("log: missing, want the origin of the log to search")
    runtime = logs.get(origin)
    if runtime is None:
        raise NotFoundError(f"log: no log {origin[:128]!r} here")
    authorizer.check(authorizer.identify_http(authorization), origin, "read")
    filters = tuple(n for n in params if n in NAMES or n.startswith("attr."))
    query = query_from_params(params, filters)
    return page_json(origin, searcher_of(runtime).search(query))


def search_handler(logs: dict[str, LogRuntime], authorizer: Authorizer) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            params = query_once(request.query.items())
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            body = await asyncio.to_thread(
                _search, logs, authorizer, params, request.headers.get("Authorization"))
        except AuditLogError as exc:
            status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 503)
            return _error(status, str(exc))
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    return handle


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status,
                             headers={"Cache-Control": "no-store"})
