"""The metrics listener of the log server and of the witness: Prometheus text exposition
(https://prometheus.io/docs/instrumenting/exposition_formats/) on ``GET /metrics``, a health
check on ``GET /healthz`` (200 "ok", or 503 with what is wrong, one problem a line), and 404
on every other path. It runs on the shared HTTP stack (``common.http``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from auditlog_tlog.common.http import text_response

Health = Callable[[], list[str]]
"""Returns what is wrong (empty: healthy). Called in a worker thread: it may block briefly."""


def metrics_app(registry: CollectorRegistry, health: Health) -> web.Application:
    async def metrics(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return text_response(405, f"method {request.method}: want GET",
                                 headers={"Allow": "GET"})
        body = await asyncio.to_thread(generate_latest, registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.StreamResponse:
        problems = await asyncio.to_thread(health)
        if problems:
            return text_response(503, "\n".join(problems))
        return text_response(200, "ok")

    async def other(request: web.Request) -> web.StreamResponse:
        return text_response(404, f"no such path {request.path[:200]!r}: want /metrics or "
                             "/healthz")

    app = web.Application()
    app.router.add_route("*", "/metrics", metrics)
    app.router.add_route("*", "/healthz", healthz)
    app.router.add_route("*", "/{tail:.*}", other)
    return app
