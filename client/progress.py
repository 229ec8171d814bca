"""Progress of a long run: a rich bar with rate and ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def start(self, total: int, what: str) -> None: ...

    def advance(self, count: int) -> None: ...

    def close(self) -> None: ...


class Silent:
    def start(self, total: int, what: str) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """One line every ``every`` seconds (and a last one): done/total, percent, rate, ETA."""

    def __init__(self, out: TextIO, every: float = 2.0, prefix: str = "audit") -> None:
        self._out, self._every, self._prefix = out, every, prefix
        self._total = self._done = 0
        self._what = ""
        self._started = self._last = 0.0

    def start(self, total: int, what: str) -> None:
        self._total, self._done, self._what = total, 0, what
        self._started = self._last = time.monotonic()
        print(f"{self._prefix}: {total} {what} to check", file=self._out, flush=True)

    def advance(self, count: int) -> None:
        self._done += count
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self._done / elapsed
        percent = 100 * self._done / self._total if self._total else 100.0
        eta = (self._total - self._done) / rate if rate else 0.0
        print(f"{self._prefix}: {self._done}/{self._total} {self._what} ({percent:.0f}%), "
              f"{rate:,.0f}/s, ETA {eta:.0f} s", file=self._out, flush=True)

    def close(self) -> None:
        if self._total:
            self._line(time.monotonic())


class RichProgress:
    """A rich progress bar on stderr, with rate and time remaining."""

    def __init__(self, prefix: str = "audit") -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self._task: object = None
        self._prefix = prefix
        self._started = 0.0
        self._done = 0

    def start(self, total: int, what: str) -> None:
        self._bar.start()
        self._task = self._bar.add_task(f"{self._prefix} {what}", total=total, rate="")
        self._started = time.monotonic()
        self._done = 0

    def advance(self, count: int) -> None:
        self._done += count
        rate = self._done / max(time.monotonic() - self._started, 1e-9)
        self._bar.update(self._task, advance=count, rate=f"{rate:,.0f}/s")  # type: ignore[arg-type]

    def close(self) -> None:
        self._bar.stop()


def progress_for(stream: TextIO = sys.stderr, quiet: bool = False, prefix: str = "audit") -> Progress:
    if quiet:
        return Silent()
    if stream.isatty():
        return RichProgress(prefix)
    return PlainProgress(stream, prefix=prefix)
