"""Slow clients for the HTTP listeners' tests: connections that dribble header bytes.

They come from loopback addresses other than 127.0.0.1 (Linux routes all of 127/8 to lo), so a
test can tell them apart from the normal client and stay under the per-peer connection limit.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class SlowClients:
    """``count`` connections to 127.0.0.1:port, spread over ``sources`` source addresses, each
    sending one header byte every ``interval_s`` from one background thread."""

    def __init__(self, port: int, count: int, sources: int = 4, interval_s: float = 0.2) -> None:
        self.sockets: list[socket.socket] = []
        for i in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((f"127.0.0.{2 + i % sources}", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /")
            self.sockets.append(s)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dribble, daemon=True)
        self._thread.start()

    def _dribble(self) -> None:
        while not self._stop.wait(self._interval_s):
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.send(b"a")

    def answered(self) -> int:
        """How many connections have been answered or closed by the server so far."""
        count = 0
        for s in self.sockets:
            s.setblocking(False)
            try:
                s.recv(1, socket.MSG_PEEK)
                count += 1  # data (an answer) or b"" (closed)
            except BlockingIOError:
                pass
            except OSError:
                count += 1
            finally:
                s.setblocking(True)
        return count

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.sockets:
            s.close()


@contextlib.contextmanager
def slow_clients(port: int, count: int, sources: int = 4,
                 interval_s: float = 0.2) -> Iterator[SlowClients]:
    clients = SlowClients(port, count, sources, interval_s)
    try:
        yield clients
    finally:
        clients.close()
