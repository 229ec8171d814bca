"""The entries the server writes about its own acts — a legal hold placed or released
(server/holds.py), an erasure (server/erasure.py) — as audit events in the one canonical
encoding of ``client.event`` (docs/audit-event.md: version 1, keys sorted, no whitespace, time
in UTC with six fractional digits), which server/ does not import; the tests parse these
entries with the client's ``parse_event``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Final

SOURCE: Final = "auditlog-server"


def server_event(actor: str, action: str, resource: str, attributes: dict[str, int | str],
                 when: float) -> bytes:
    """An AuditEvent (v1, outcome ``success``, source ``auditlog-server``) at Unix time
    ``when``, encoded canonically."""
    event = {
        "v": 1, "actor": actor, "action": action, "resource": resource, "outcome": "success",
        "time": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "source": SOURCE, "request_id": "", "attributes": attributes,
    }
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
