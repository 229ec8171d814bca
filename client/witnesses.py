"""Asking a witness what it last cosigned: ``GET <url>/<hex sha256(origin)>/checkpoint``, the
monitoring endpoint of c2sp.org/tlog-witness (HEAD). An auditor compares that checkpoint with the
log's entries and with the witness's archive; a monitor checks it is consistent with what the
log showed it (a log that shows witnesses one history and clients another is caught here)."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from typing import Final

from auditlog_tlog.tree.errors import NotFoundError
from auditlog_tlog.tree.note import MAX_NOTE_SIZE

TIMEOUT: Final = 10.0


def latest_cosigned(url: str, origin: str, timeout: float = TIMEOUT) -> bytes:
    """The witness's latest cosigned checkpoint of ``origin``; ``NotFoundError`` if it has none,
    ``OSError`` if it cannot be asked."""
    target = f"{url.rstrip('/')}/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint"
    request = urllib.request.Request(target, headers={"User-Agent": "auditlog-client"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_NOTE_SIZE + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFoundError(f"the witness at {url} has cosigned nothing of {origin}") from None
        raise OSError(f"the witness at {url} answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"cannot reach the witness at {url}: {exc.reason}") from None
    if len(data) > MAX_NOTE_SIZE:
        raise OSError(f"the witness at {url} sent more than {MAX_NOTE_SIZE} bytes")
    return data
