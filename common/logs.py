"""Logging set-up for the three processes (log server, witness, client), with structlog.

Code logs with the standard library (``logging.getLogger("auditlog.server").info("... %s", x)``);
this module only decides how records are written, to stderr, in one of two formats:

* ``json``: one JSON object per line, every line, with ``timestamp`` (UTC, ISO 8601 with
  microseconds and ``Z``), ``level``, ``logger``, ``event`` (the message), and for an exception
  ``exception`` (its traceback as text)::

      {"event": "auditlog: serving gRPC on 127.0.0.1:7600", "level": "info", "logger":
       "auditlog.server", "timestamp": "2026-01-02T03:04:05.678901Z"}

* ``console``: one readable line per record::

      2026-01-02T03:04:05.678901Z info     auditlog: serving gRPC on 127.0.0.1:7600

The format is ``--log-format``, else ``$AUDITLOG_LOG_FORMAT``, else ``console``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Final, TextIO

import structlog
from structlog.dev import Column, ConsoleRenderer, KeyValueColumnFormatter
from structlog.typing import EventDict, WrappedLogger

FORMATS: Final = ("console", "json")
ENV_FORMAT: Final = "AUDITLOG_LOG_FORMAT"


def resolve_format(given: str | None) -> str:
    """``given``, else ``$AUDITLOG_LOG_FORMAT``, else "console"; ``ValueError`` if unknown."""
    chosen = given or os.environ.get(ENV_FORMAT) or "console"
    if chosen not in FORMATS:
        raise ValueError(f"log format {chosen!r}: want one of {', '.join(FORMATS)}")
    return chosen


def _drop_meta(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    event.pop("_record", None)
    event.pop("_from_structlog", None)
    return event


def _console() -> ConsoleRenderer:
    """Time, level, message, then any other key=value pairs; no logger name (one process)."""
    plain = KeyValueColumnFormatter(key_style=None, value_style="", reset_style="",
                                    value_repr=str)
    rest = KeyValueColumnFormatter(key_style="", value_style="", reset_style="", value_repr=str)
    return ConsoleRenderer(
        columns=[
            Column("timestamp", plain),
            Column("level", KeyValueColumnFormatter(key_style=None, value_style="",
                                                    reset_style="", value_repr=str, width=8)),
            Column("event", plain),
            Column("", rest),
        ],
    )


def formatter(fmt: str, stream: TextIO) -> logging.Formatter:
    """A ``logging.Formatter`` that renders standard-library records in ``fmt``."""
    renderer = (structlog.processors.JSONRenderer(sort_keys=True) if fmt == "json"
                else _console())
    exceptions = [structlog.processors.format_exc_info] if fmt == "json" else []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[_drop_meta, *exceptions, *([] if fmt == "json" else [_no_logger]), renderer],
    )


def _no_logger(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    event.pop("logger", None)
    return event


def setup(level: int = logging.WARNING, fmt: str | None = None,
          stream: TextIO | None = None) -> str:
    """Send every record at ``level`` or above to ``stream`` (stderr) in ``fmt``; returns the
    format chosen. Replaces any handler set before, so it can be called again."""
    chosen = resolve_format(fmt)
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(chosen, out))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return chosen
