"""How a server process is told to stop: SIGTERM or SIGINT (POSIX signals, handled on the
running asyncio event loop with ``loop.add_signal_handler``)."""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets, from now on; call it on the running event loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
