"""The witness's configuration: a TOML file (DESIGN.md, "Witness and archive").

Example (``name`` and at least one ``[[log]]`` are required)::

    [witness]
    name = "witness.example/w1"      # the cosigner key name
    key_file = "witness.key"         # created (mode 0600) on first start if missing
    listen = "127.0.0.1:7700"        # tlog-witness HTTP; "" turns HTTP off (pull mode only)
    prefix = ""                      # submission prefix: POST <prefix>/add-checkpoint
    state_dir = "state"
    refresh_s = 60                   # re-answer the same checkpoint this long without re-signing

    [archive]
    type = "local"                   # the default; or "s3"
    dir = "archive"                  # local only
    # s3: bucket = "...", retention_days = 3650, endpoint_url = "http://...", region = "...",
    #     prefix = "witness/", max_attempts = 5; credentials from boto3's usual chain

    [[log]]
    origin = "auditlog.example/payments"
    vkey = "auditlog.example/payments+1a2b3c4d+AQ..."   # or a list of vkeys
    grpc = "log.example:7600"        # optional: pull mode, poll this gRPC address
    poll_interval_s = 10

Relative paths are taken relative to the config file's folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tree.errors import MalformedError
from tree.hashing import get_hasher
from tree.note import SIG_TYPE_ED25519, key_name_problem, split_vkey

DEFAULT_LISTEN = "127.0.0.1:7700"


@dataclass(frozen=True, slots=True)
class LogEntry:
    origin: str
    vkeys: tuple[str, ...]
    hash: str = "sha256"
    grpc: str = ""
    poll_interval_s: float = 10.0


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    type: str = "local"
    dir: Path = Path("archive")
    bucket: str = ""
    retention_days: int = 3650
    endpoint_url: str = ""
    region: str = ""
    prefix: str = ""
    max_attempts: int = 5


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    name: str
    key_file: Path
    state_dir: Path
    archive: ArchiveConfig
    logs: tuple[LogEntry, ...]
    listen: str = DEFAULT_LISTEN
    prefix: str = ""
    refresh_s: float = 60.0
    max_connections: int = 64


def _take(table: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    value = table.pop(key, default)
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ValueError(f"{where}.{key}: got {value!r}, want {kind.__name__}")
    return value


def _path(base: Path, value: str) -> Path:
    return Path(value) if Path(value).is_absolute() else base / value


def _done(table: dict[str, Any], where: str) -> None:
    if table:
        raise ValueError(f"{where}: unknown keys {sorted(table)}")


def _log_entry(table: dict[str, Any], where: str) -> LogEntry:
    origin = _take(table, "origin", str, where, "")
    if not origin or any(c < " " for c in origin):
        raise ValueError(f"{where}.origin: got {origin!r}, want a non-empty line")
    raw = table.pop("vkey", None)
    vkeys = (raw,) if isinstance(raw, str) else raw
    if not isinstance(vkeys, list | tuple) or not vkeys or not all(isinstance(v, str) for v in vkeys):
        raise ValueError(f"{where}.vkey: want the log's verifier key (a string or a list)")
    for vkey in vkeys:
        try:
            _, sig_type, _ = split_vkey(vkey)
        except MalformedError as exc:
            raise ValueError(f"{where}.vkey: {exc}") from exc
        if sig_type != SIG_TYPE_ED25519:
            raise ValueError(f"{where}.vkey: got type {sig_type:#04x}, want an Ed25519 (0x01) log key")
    entry = LogEntry(
        origin, tuple(vkeys), _take(table, "hash", str, where, "sha256"),
        _take(table, "grpc", str, where, ""), _take(table, "poll_interval_s", float, where, 10.0),
    )
    get_hasher(entry.hash)
    if not 0.05 <= entry.poll_interval_s <= 86400:
        raise ValueError(f"{where}.poll_interval_s: got {entry.poll_interval_s}, want 0.05..86400")
    _done(table, where)
    return entry


def _archive(table: dict[str, Any], base: Path) -> ArchiveConfig:
    where = "[archive]"
    kind = _take(table, "type", str, where, "local")
    if kind == "local":
        config = ArchiveConfig(dir=_path(base, _take(table, "dir", str, where, "archive")))
    elif kind == "s3":
        config = ArchiveConfig(
            type="s3", bucket=_take(table, "bucket", str, where, ""),
            retention_days=_take(table, "retention_days", int, where, 3650),
            endpoint_url=_take(table, "endpoint_url", str, where, ""),
            region=_take(table, "region", str, where, ""),
            prefix=_take(table, "prefix", str, where, ""),
            max_attempts=_take(table, "max_attempts", int, where, 5),
        )
        if not config.bucket:
            raise ValueError("[archive]: type 's3' needs a bucket")
    else:
        raise ValueError(f"[archive].type: got {kind!r}, want 'local' or 's3'")
    _done(table, where)
    return config


def parse_config(text: str, base: Path) -> WitnessConfig:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config is not valid TOML: {exc}") from exc
    witness = dict(doc.pop("witness", {}))
    archive = _archive(dict(doc.pop("archive", {})), base)
    logs = tuple(_log_entry(dict(t), f"[[log]] #{i + 1}") for i, t in enumerate(doc.pop("log", [])))
    _done(doc, "config")
    where = "[witness]"
    name = _take(witness, "name", str, where, "")
    if (problem := key_name_problem(name)) is not None:
        raise ValueError(f"{where}.name: {problem}")
    if not logs:
        raise ValueError("no [[log]] configured, want at least one")
    origins = [entry.origin for entry in logs]
    if len(set(origins)) != len(origins):
        raise ValueError(f"log origins configured twice: {sorted(origins)}")
    config = WitnessConfig(
        name=name,
        key_file=_path(base, _take(witness, "key_file", str, where, "witness.key")),
        state_dir=_path(base, _take(witness, "state_dir", str, where, "state")),
        archive=archive,
        logs=logs,
        listen=_take(witness, "listen", str, where, DEFAULT_LISTEN),
        prefix=_take(witness, "prefix", str, where, ""),
        refresh_s=_take(witness, "refresh_s", float, where, 60.0),
        max_connections=_take(witness, "max_connections", int, where, 64),
    )
    _done(witness, where)
    if not 0 <= config.refresh_s <= 86400:
        raise ValueError(f"{where}.refresh_s: got {config.refresh_s}, want 0..86400")
    if not 1 <= config.max_connections <= 10000:
        raise ValueError(f"{where}.max_connections: got {config.max_connections}, want 1..10000")
    if not config.listen and not any(entry.grpc for entry in logs):
        raise ValueError("listen is off and no [[log]] has grpc: this witness would do nothing")
    return config


def load_config(path: Path) -> WitnessConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read config {path}: {exc.strerror}") from exc
    return parse_config(text, path.resolve().parent)
