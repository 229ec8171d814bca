"""``auditlog restore``, the command: which log of the config, which keys to trust, the anchor
file before and after, and the report (the restore itself: ``client.restore.Restorer``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from auditlog_tlog.client.progress import progress_for
from auditlog_tlog.client.restore import Restorer
from auditlog_tlog.client.restore_worker import SourceSpec, close_sources
from auditlog_tlog.common.keys import KeyConfig
from auditlog_tlog.server.anchors import AnchorFile, checkpoint_of
from auditlog_tlog.server.config import LogConfig, ServerConfig, load_config
from auditlog_tlog.server.keys import read_key
from auditlog_tlog.storage.db import Database
from auditlog_tlog.tree.checkpoint import open_checkpoint
from auditlog_tlog.tree.errors import ConflictError, MalformedError, VerificationError
from auditlog_tlog.tree.hashing import get_hasher
from auditlog_tlog.tree.keys import Ed25519Verifier
from auditlog_tlog.tree.vkeys import parse_vkey

AnchorHook = Callable[[ServerConfig, LogConfig, bytes], None]


def add_restore(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", required=True, metavar="URL",
                   help="the published log: s3://BUCKET/PREFIX, https://BASE-URL or file:///DIR")
    p.add_argument("--config", required=True, type=Path, help="the log server's TOML config")
    p.add_argument("--log", help="the log's origin (default: the config's only log)")
    p.add_argument("--log-key", dest="log_keys", action="append", default=[], metavar="VKEY",
                   help="trust this verifier key of the log (default: the keys in the config)")
    p.add_argument("--data-dir", type=Path, help="overrides [server] data_dir")
    p.add_argument("--s3-endpoint", help="S3 endpoint URL (default: $AWS_ENDPOINT_URL, else AWS)")
    p.add_argument("--workers", type=int, default=16, help="parallel fetches (default 16)")
    p.add_argument("--processes", type=int, default=2, help="processes that fetch, decode, "
                   "hash and write the rows beside the one that checks the tree (default 2; 0: "
                   "none, threads)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def log_config(config: ServerConfig, origin: str | None) -> LogConfig:
    if origin is None:
        if len(config.logs) != 1:
            raise ValueError(f"the config has {len(config.logs)} logs: give --log ORIGIN")
        return config.logs[0]
    for log in config.logs:
        if log.origin == origin:
            return log
    raise ValueError(f"--log {origin}: not in the config, want one of "
                     f"{', '.join(log.origin for log in config.logs)}")


def trusted_keys(log: LogConfig, flags: Sequence[str]) -> tuple[list[Ed25519Verifier], set[str]]:
    """(verifiers to trust, vkeys of the keys the server will sign with).

    The server must be able to go on signing with a key of the restored checkpoints: every
    active key file of the config must exist (the restore never creates keys).
    """
    keys = log.keys or (KeyConfig(file=log.key_file),)
    vkeys, active = list(flags), set()
    for key in keys:
        if key.state == "active" and key.file is not None:
            if not key.file.exists():
                raise ValueError(f"the log's key file {key.file} does not exist: put the log's "
                                 "signing key back first (the restored log must go on signing "
                                 "with the key of its checkpoints)")
            vkey = read_key(key.file, log.origin).vkey()
            active.add(vkey)
        elif key.vkey is not None:
            vkey = key.vkey
        else:
            continue
        if not flags:
            vkeys.append(vkey)
    verifiers: list[Ed25519Verifier] = []
    for vkey in dict.fromkeys(vkeys):
        try:
            verifier = parse_vkey(vkey)
        except MalformedError as exc:
            raise ValueError(f"--log-key {vkey!r}: {exc}") from None
        if not isinstance(verifier, Ed25519Verifier) or verifier.name != log.origin:
            raise ValueError(f"--log-key {vkey!r}: want an Ed25519 key named {log.origin}")
        verifiers.append(verifier)
    return verifiers, active


def seed_anchors(config: ServerConfig, log: LogConfig, note: bytes) -> None:
    """Record the restored checkpoint in the log's anchor file (``server.anchors``), so that the
    restored log never signs a tree that does not extend it; a newer one there is kept."""
    anchors = AnchorFile(config.data_dir / "anchors", log.origin)
    held = anchors.latest()
    if held is None or checkpoint_of(held).size < checkpoint_of(note).size:
        anchors.append(note)


def _check_anchor_file(config: ServerConfig, log: LogConfig, size: int) -> None:
    """Refuse a bucket behind what the log's anchor file says it signed."""
    anchors = AnchorFile(config.data_dir / "anchors", log.origin)
    held = anchors.latest()
    if held is not None and (held_size := checkpoint_of(held).size) > size:
        raise ConflictError(
            f"{anchors.name} holds a checkpoint of size {held_size} signed by the log, beyond the "
            f"source's latest ({size}): the log signed entries that were never published, and a "
            "log restored from this source would halt; restore from a source that has them (never "
            "delete the anchor file)")


def cmd_restore(args: argparse.Namespace, anchor_hook: AnchorHook = seed_anchors) -> int:
    config = load_config(args.config, {"data_dir": args.data_dir})
    log = log_config(config, args.log)
    verifiers, active = trusted_keys(log, args.log_keys)
    hasher = get_hasher(log.hash)
    spec = SourceSpec(args.source, log.origin, hasher.name, args.s3_endpoint,
                      os.environ.get("AUDITLOG_TOKEN"), max(1, args.workers))
    progress = progress_for(sys.stderr, quiet=args.quiet or args.json, prefix="restore")
    try:
        restorer = Restorer(spec, verifiers, progress, processes=max(0, args.processes))
        if active:
            where = restorer.source.fetcher.where("checkpoint")
            _check_active_key(restorer.latest()[1], active, log.origin, where)
        _check_anchor_file(config, log, restorer.latest()[0].size)
        db = Database(config.data_dir / "db")  # where server/app.py opens it
        try:
            result = restorer.run(db, hasher)
            anchor_hook(config, log, result.note)
        finally:
            db.close()
    finally:
        close_sources()
    rate = result.size / result.seconds if result.seconds else 0.0
    text = (f"restored {log.origin} from {args.source} into {config.data_dir}: {result.size} "
            f"entries ({rate:,.0f}/s), root {result.root.hex()}, {result.checkpoints} signed "
            f"checkpoints and {result.tiles} tiles verified in {result.seconds:.1f} s")
    print(json.dumps(result.to_json(), sort_keys=True) if args.json else text, flush=True)
    return 0


def _check_active_key(note: bytes, active: set[str], origin: str, where: str) -> None:
    """The server will sign with ``active``: the published checkpoint must be signed by it."""
    try:
        open_checkpoint(note, [parse_vkey(v) for v in active], origin=origin)
    except (MalformedError, VerificationError):
        raise VerificationError(
            f"{where} is not signed by the log's active key in the config: the server would go "
            "on signing the restored log with another key; use the log's own key file") from None
