"""Pull mode, for a witness that can only dial out (the README, "For witness operators"):
poll the log's gRPC API (``auditlog.v1.Log``), run what the log returns through exactly the
checks of a c2sp.org/tlog-witness@v1.0.0 add-checkpoint request, and hand the cosignature back
with ``AddCosignature``.

One poll: ``GetCheckpoint``; if it is newer than the state, ``GetConsistencyProof(state size,
checkpoint size)`` (no call from size 0: that proof is empty); ``Witness.process(old = state
size, proof, checkpoint)``; ``AddCosignature(size, cosignature line)``. If the log already
serves our cosignature on the state's checkpoint there is nothing to do. Errors back off
exponentially up to ``max_backoff_s``; a fork is logged and archived by ``Witness.process``.

Over TLS (``credentials``, from ``witness.tls.channel_credentials``: the log's CA and, for a
log that requires mutual TLS, the witness's client certificate) and with an optional bearer
token, sent on every call as ``authorization: Bearer <token>`` metadata. On a log with
principals the token (or certificate) needs ``read`` on the log for the reads;
``AddCosignature`` needs no role, since the cosignature itself is checked against the log's
configured witness keys.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Final

import grpc

from auditlog_tlog.proto import auditlog_pb2 as pb
from auditlog_tlog.proto import auditlog_pb2_grpc as pb_grpc
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.errors import AuditLogError, MalformedError
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.witness_protocol import MAX_PROOF_LINES, AddCheckpointRequest
from auditlog_tlog.witness.core import Witness

log = logging.getLogger("auditlog.witness.pull")
MAX_MESSAGE: Final = 2 << 20  # a checkpoint note is at most 1 MiB


class Puller:
    def __init__(
        self,
        witness: Witness,
        origin: str,
        address: str,
        interval_s: float = 10.0,
        timeout_s: float = 10.0,
        max_backoff_s: float = 60.0,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
    ) -> None:
        self._witness = witness
        self.origin = origin
        self._interval = interval_s
        self._timeout = timeout_s
        self._max_backoff = max(max_backoff_s, interval_s)
        options = [("grpc.max_receive_message_length", MAX_MESSAGE)]
        if credentials is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            self._channel = grpc.secure_channel(address, credentials, options=options)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._stub = pb_grpc.LogStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def poll_once(self) -> str:
        """One round; returns "cosigned", "current" or "behind" (the log is below our state)."""
        resp = self._stub.GetCheckpoint(pb.GetCheckpointRequest(log=self.origin),
                                        timeout=self._timeout, metadata=self._metadata)
        note = resp.checkpoint
        checkpoint = parse_checkpoint(parse_note(note).text)
        if checkpoint.origin != self.origin:
            raise MalformedError(f"asked for {self.origin!r}, got a checkpoint of "
                                 f"{checkpoint.origin[:200]!r}")
        state = self._witness.state_of(self.origin)
        size0 = state.size if state is not None else 0
        if checkpoint.size < size0:
            log.warning("log %s serves size %d, below the size %d this witness cosigned",
                        self.origin, checkpoint.size, size0)
            return "behind"
        if (state is not None and checkpoint.size == size0 and checkpoint.root == state.root
                and self._witness.is_cosigned_by_me(note)):
            return "current"
        proof: tuple[bytes, ...] = ()
        if 0 < size0 < checkpoint.size:
            got = self._stub.GetConsistencyProof(
                pb.GetConsistencyProofRequest(log=self.origin, size1=size0, size2=checkpoint.size),
                timeout=self._timeout, metadata=self._metadata,
            )
            if (got.size1, got.size2) != (size0, checkpoint.size) or len(got.proof) > MAX_PROOF_LINES:
                raise MalformedError(
                    f"consistency proof: got sizes {got.size1}->{got.size2} with "
                    f"{len(got.proof)} hashes, want {size0}->{checkpoint.size}, at most "
                    f"{MAX_PROOF_LINES}"
                )
            proof = tuple(got.proof)
        try:
            request = AddCheckpointRequest(size0, proof, note)
        except ValueError as exc:
            raise MalformedError(f"log {self.origin}: {exc}") from exc
        lines = self._witness.process(request)
        self._stub.AddCosignature(
            pb.AddCosignatureRequest(log=self.origin, size=checkpoint.size, signatures=lines),
            timeout=self._timeout, metadata=self._metadata,
        )
        log.info("pulled and cosigned %s at size %d", self.origin, checkpoint.size)
        return "cosigned"

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set: at once, then every ``interval_s``, backing off on errors."""
        failures = 0
        delay = 0.0
        while not stop.wait(delay):
            try:
                self.poll_once()
                failures = 0
            except grpc.RpcError as exc:
                failures += 1
                log.warning("polling %s: %s %s", self.origin, exc.code(), exc.details())
            except AuditLogError as exc:
                failures += 1
                log.warning("polling %s: %s", self.origin, exc)
            except Exception:
                failures += 1
                log.exception("polling %s failed", self.origin)
            delay = self._interval
            if failures:
                backoff = min(self._max_backoff, self._interval * 2 ** min(failures, 16))
                delay = backoff * random.uniform(0.5, 1.0)
