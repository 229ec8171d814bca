"""What every client subcommand shares: its options, the settings they resolve to, the client
and verifier built from them, and how results are printed (text, or ``--json``)."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from auditlog_tlog.client.config import Settings, load_settings
from auditlog_tlog.client.reader import LogReader
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.client.tiles_source import TileSource, open_fetcher
from auditlog_tlog.client.verifier import TrustPolicy, VerifiedCheckpoint, Verifier
from auditlog_tlog.tree.errors import AuditLogError, InvalidRangeError, NotFoundError, VerificationError
from auditlog_tlog.tree.tlogproof import MAX_EXTRA_SIZE, TlogProof, format_tlog_proof, parse_tlog_proof


class UsageError(ValueError):
    """The command line asks for something impossible (exit code 2)."""


class AdvisedError(AuditLogError):
    """A failure whose message already says what happened and what to do: printed as is."""


class EntryTooLargeError(AdvisedError, InvalidRangeError):
    """An entry over the log's ``max_entry_bytes``, refused before it is sent."""


class ReceiptMismatchError(AdvisedError, VerificationError):
    """The receipt's proof does not lead from its entry to its (validly signed) checkpoint."""


class ReceiptNotCosignedError(AdvisedError, VerificationError):
    """The receipt's checkpoint is the log's, validly signed, but lacks the witness quorum."""


class NoSuchCheckpointError(AdvisedError, NotFoundError):
    """The log signed no checkpoint at the size asked for."""


def add_common(parser: argparse.ArgumentParser, *, online: bool = True) -> None:
    """The options of every client subcommand (flags override the config file)."""
    g = parser.add_argument_group("where and what to trust")
    g.add_argument("--config", type=Path, help="client config (default: $AUDITLOG_CONFIG, "
                   "else var/client.toml if present)")
    if online:
        g.add_argument("--server", help="log server host:port (default 127.0.0.1:7600)")
    g.add_argument("--log", help="the log's origin (default: the server's only log)")
    g.add_argument("--log-key", dest="log_keys", action="append", default=[], metavar="VKEY",
                   help="the log's verifier key (repeat during a key rotation)")
    g.add_argument("--witness-key", dest="witness_keys", action="append", default=[],
                   metavar="VKEY", help="a trusted witness's verifier key (repeatable)")
    g.add_argument("--quorum", type=int, help="cosignatures required (default: all witnesses)")
    if online:
        g.add_argument("--witness-url", dest="witness_urls", action="append", default=[],
                       metavar="URL", help="a witness to ask what it last cosigned (repeatable)")
    g.add_argument("--hash", choices=("sha256", "blake3"), help="the log's hash function")
    g.add_argument("--state-dir", type=Path, help="where the last verified checkpoint is kept")
    if online:
        g.add_argument("--timeout", type=float, default=30.0, help="seconds per call (default 30)")
        g.add_argument("--ca-file", dest="tls_ca_file", type=Path, help="TLS: the server's CA")
        g.add_argument("--cert-file", dest="tls_cert_file", type=Path, help="mutual TLS: cert")
        g.add_argument("--key-file", dest="tls_key_file", type=Path, help="mutual TLS: key")
        g.add_argument("--token-file", type=Path, help="bearer token file ($AUDITLOG_TOKEN, when set, wins)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_source(parser: argparse.ArgumentParser) -> None:
    """``--source``: the read commands can read the log's published tiles instead of the server."""
    g = parser.add_argument_group("reading the published tiles instead of the server")
    g.add_argument("--source", dest="tiles_source", metavar="URL",
                   help="s3://BUCKET/PREFIX, https://BASE-URL (e.g. the server's "
                   "http://HOST:PORT/ORIGIN) or file:///DIR")
    g.add_argument("--s3-endpoint", help="S3 endpoint URL for s3:// (default: $AWS_ENDPOINT_URL, "
                   "else AWS)")


class Context:
    """Built once per command from its parsed arguments."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        names = ("server", "log", "hash", "quorum", "state_dir", "tls_ca_file", "tls_cert_file",
                 "tls_key_file", "token_file")
        overrides: dict[str, Any] = {n: getattr(args, n, None) for n in names}
        overrides["log_keys"] = tuple(getattr(args, "log_keys", ()))
        overrides["witness_keys"] = tuple(getattr(args, "witness_keys", ()))
        overrides["witness_urls"] = tuple(getattr(args, "witness_urls", ()))
        self.settings: Settings = load_settings(args.config, overrides)
        self.json: bool = bool(getattr(args, "json", False))

    @cached_property
    def client(self) -> LogClient:
        s = self.settings
        origin = s.log or (self.policy.origin if s.log_keys else None)
        return LogClient(s.server, origin, timeout=getattr(self.args, "timeout", 30.0),
                         tls=s.credentials(), token=s.token())

    @cached_property
    def reader(self) -> LogReader:
        """Where reads come from: the log's tiles with ``--source``, else the server."""
        source = getattr(self.args, "tiles_source", None)
        if source is None:
            return self.client
        fetcher = open_fetcher(source, s3_endpoint=self.args.s3_endpoint, token=self.settings.token())
        return TileSource(fetcher, self.settings.log or self.policy.origin, self.policy.hasher)

    @cached_property
    def policy(self) -> TrustPolicy:
        policy = self.settings.policy()
        if self.settings.log and self.settings.log != policy.origin:
            raise ValueError(f"--log {self.settings.log} but the log key is for {policy.origin}")
        return policy

    def verifier(self, online: bool = True) -> Verifier:
        online = online or getattr(self.args, "tiles_source", None) is not None
        return Verifier(self.policy, state_dir=self.settings.state_path(),
                        client=self.reader if online else None)

    # -- output --------------------------------------------------------------------------------
    def emit(self, obj: dict[str, Any], text: str) -> None:
        """Print ``obj`` as one JSON line with --json, else ``text``."""
        print(json.dumps(obj, sort_keys=True) if self.json else text, flush=True)

    def note(self, text: str) -> None:
        """A human remark on stderr (kept off stdout, which may be a receipt or JSON)."""
        if not self.json:
            print(text, file=sys.stderr, flush=True)


def checkpoint_json(c: VerifiedCheckpoint, policy: TrustPolicy) -> dict[str, Any]:
    return {
        "origin": c.checkpoint.origin, "size": c.size, "root": c.root.hex(),
        "witnesses": list(c.witnesses), "quorum": policy.quorum, "quorum_met": c.quorum_met,
        "consistency": c.consistency, "note": c.note.decode(),
    }


def describe(c: VerifiedCheckpoint, policy: TrustPolicy) -> str:
    names = ", ".join(c.witnesses) or "no witness"
    state = {
        "first": "first checkpoint this client has seen of this log",
        "same": "the same as the one seen before",
        "proved": "proven consistent with the one seen before",
        "older": "older than, and proven consistent with, the one seen before",
        "unchecked": "consistency with the one seen before not checked (offline)",
    }[c.consistency]
    return (f"{c.checkpoint.origin} at size {c.size}, root {c.root.hex()}\n"
            f"  cosigned by {names} ({len(c.witnesses)} of {policy.quorum} required)\n"
            f"  {state}")


def with_entry(receipt: bytes, entry: bytes | None) -> bytes:
    """The receipt with the entry in its extra line (so it verifies on its own), if it fits."""
    if entry is None or len(entry) > MAX_EXTRA_SIZE:
        return receipt
    p = parse_tlog_proof(receipt)
    return format_tlog_proof(TlogProof(p.index, p.proof, p.checkpoint, entry))


SHOWN_BYTES = 200


def show_entry(entry: bytes) -> str:
    """An entry as one line: its text if it is printable UTF-8, else base64; an entry longer
    than ``SHOWN_BYTES`` (or binary and longer than a third of that) is summarised by its size,
    SHA-256 and its first bytes (``--json`` carries the whole entry)."""
    try:
        text = entry.decode()
    except UnicodeDecodeError:
        if len(entry) <= SHOWN_BYTES // 3:
            return "base64:" + base64.b64encode(entry).decode()
        return _summary(entry, "binary")
    if len(entry) > SHOWN_BYTES:
        return _summary(entry, "text")
    if text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


def _summary(entry: bytes, kind: str) -> str:
    head = entry[:48].decode(errors="replace") if kind == "text" else entry[:24].hex()
    shown = json.dumps(head, ensure_ascii=False) if kind == "text" else head
    return (f"[{kind}, {len(entry)} bytes, sha256 {hashlib.sha256(entry).hexdigest()}, "
            f"starts {shown}...]")
