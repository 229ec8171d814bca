"""The witness's same-run baseline: a bare aiohttp POST handler (RFC 9112 HTTP/1.1).

Run as ``python -m bench.bare_post``; it listens on an ephemeral port of 127.0.0.1, prints
``bare: serving HTTP on 127.0.0.1:PORT`` and serves until SIGTERM. Every POST is read whole
and answered ``200`` with a fixed ``text/plain`` body of one cosignature line's size (the
answer of a witness with one key, c2sp.org/tlog-witness ``add-checkpoint``). It is aiohttp on
the process's main event loop with nothing of ours: no request deadline, no connection
admission, no metrics, no worker thread, no parsing, signing or disk. A witness request sent
to it and to ``auditlog witness`` by the same client differs by the witness's own work and by
what this project's HTTP stack (``common.http``) adds to aiohttp.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final

from aiohttp import web

from auditlog_tlog.common.stopping import stop_on_signals

# "— <witness name> base64(key ID || timestamp || signature)\n", a name as long as the bench's.
ANSWER: Final = "— bench.example/witness ".encode() + b"A" * 104 + b"\n"


async def _post(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=ANSWER, content_type="text/plain", charset="utf-8")


async def serve() -> None:
    app = web.Application()
    app.router.add_post("/add-checkpoint", _post)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    port = sock.getsockname()[1]
    print(f"bare: serving HTTP on 127.0.0.1:{port}", flush=True)
    stop = stop_on_signals()
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
