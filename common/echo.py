"""Quote client input in error messages, cut short so that a message always stays small.

A gRPC status message travels in the ``grpc-message`` trailer, and a peer refuses trailers
larger than its metadata limit (8 KiB by default, ``grpc.max_metadata_size``): a status that
echoes a 100,000-character log name never arrives, and the client sees a transport error
instead of the precise status. HTTP servers and terminals have the same problem. So every
message that quotes what a client sent (a log name, a key, an origin, a path) quotes it with
:func:`echo`, which keeps the start of a long value and says how long it was::

    >>> echo("payments")
    "'payments'"
    >>> echo("a" * 100_000, limit=4)
    "'aaaa…' (100000 characters)"

:func:`clip` is the last guard where a whole message leaves the process.
"""

from __future__ import annotations

ECHO_CHARS = 64
MAX_MESSAGE_CHARS = 1024


def echo(value: str | bytes, limit: int = ECHO_CHARS) -> str:
    """``repr(value)``, or for a value longer than ``limit``: its first ``limit`` characters
    (bytes), an ellipsis and its length."""
    if len(value) <= limit:
        return repr(value)
    head = repr(value[:limit])
    unit = "bytes" if isinstance(value, bytes) else "characters"
    return f"{head[:-1]}…{head[-1]} ({len(value)} {unit})"


def clip(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message``, cut to at most ``limit`` characters with a note of how much was cut."""
    if len(message) <= limit:
        return message
    keep = limit - 40  # the note below is shorter than 40 characters
    return f"{message[:keep]}… ({len(message) - keep} more characters)"
