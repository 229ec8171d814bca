"""gRPC metadata of the auditlog API beyond its messages (``auditlog.proto``, "Status codes").

A failed call ends with a status code, a message, and the trailing metadata ``ERROR_CLASS``: the
name of the class of ``tree.errors`` that the server's ``server.status.GRPC_STATUS`` looked up for
the failure (``VerificationError``, ``CorruptionError``, ...). Several classes share one code
(FAILED_PRECONDITION stands for a failed verification and for a log that refuses writes); the
name lets ``client.rpc`` raise the same class the server did. A client ignores a name it does not
know or that contradicts the code.
"""

from __future__ import annotations

from typing import Final

ERROR_CLASS: Final = "auditlog-error-class"  # gRPC metadata keys are lowercase ASCII
