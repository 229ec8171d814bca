"""docs/configuration.md, generated from the code: every key of the log server's, the witness's
and the client's TOML files, with its type, default and meaning.

The keys and defaults come from the config dataclasses (``server.config``, ``server.security``,
``common.keys``, ``witness.config``, ``client.config``); the meaning of each key is the
docstring written under its field (PEP 257 attribute docstrings). A field without one makes
``render`` fail, so a new key cannot go undocumented. ``python -m tools.config_reference``
rewrites the file; tests/test_config_reference.py fails when it is out of date.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from auditlog_tlog.client import config as client_config
from auditlog_tlog.common import keys as common_keys
from auditlog_tlog.server import config as server_config
from auditlog_tlog.server import log_tables, security
from auditlog_tlog.server.ingest import config as ingest_config
from auditlog_tlog.server.ingest import personal as ingest_personal
from auditlog_tlog.server.ingest import syslog_config
from auditlog_tlog.witness import config as witness_config

PATH: Final = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


@dataclass(frozen=True, slots=True)
class Section:
    """One TOML table and the dataclass it is parsed into."""

    table: str
    cls: type
    about: str
    skip: frozenset[str] = frozenset()  # fields that are sub-tables, documented on their own
    rename: dict[str, str] = field(default_factory=dict)  # field name -> TOML key
    defaults: dict[str, str] = field(default_factory=dict)  # defaults the parser supplies
    types: dict[str, str] = field(default_factory=dict)  # types the annotation does not say


SUBTABLES = frozenset({"logs", "logs_by_origin", "principals", "tls", "keys", "witnesses",
                       "archive", "source", "publish", "ingest", "otlp", "kubernetes", "route",
                       "syslog", "personal"})
ROUTE_KEYS: Final = {"attribute": "log_attribute", "by_principal": "log_by_principal"}

FILES: Final[list[tuple[str, str, list[Section]]]] = [
    ("The log server: `auditlog serve --config server.toml`",
     "`--listen`, `--data-dir` and `--metrics-listen` override the `[server]` keys of the same "
     "name.",
     [Section("[server]", server_config.ServerConfig, "The process.", SUBTABLES,
              defaults={"data_dir": '"data"'}),
      Section("[server.tls]", security.TLSConfig, "gRPC over TLS (optional).",
              defaults={"cert_file": "required", "key_file": "required"}),
      Section("[[log]]", server_config.LogConfig, "One per log (at least one).", SUBTABLES,
              defaults={"origin": "required", "key_file": '"keys/<origin>.key"'},
              types={"witness_quorum": "integer"}),
      Section("[[log.witness]]", log_tables.WitnessConfig,
              "One per witness of that log.", defaults={"vkey": "required"}),
      Section("[log.publish]", log_tables.PublishConfig,
              "Publication to S3 Object Lock (optional; docs/publication.md).",
              defaults={"bucket": "required", "retention_days": "required"}),
      Section("[[log.key]]", common_keys.KeyConfig, "Signing keys for rotation (optional; "
              "default: one active key at `key_file`).", types={"vkey": "string"}),
      Section("[[principal]]", security.Principal,
              "Callers, their credentials, roles and quotas (optional; see the README's "
              "Security section).", defaults={"name": "required", "roles": "{}"},
              types={"roles": "table of origin = list of roles", "token_sha256": "string"}),
      Section("[ingest]", ingest_config.IngestConfig,
              "Ingestion sources (optional; docs/ingestion.md).", SUBTABLES,
              defaults={"workers": "1 (0 on one core)"}),
      Section("[ingest.otlp]", ingest_config.Route, "OTLP logs, and which log each record goes "
              "to: the principal's, else the attribute's, else the default; on both listeners, "
              "unless one has a route of its own below.", rename=ROUTE_KEYS,
              types={"by_principal": "table of principal = origin"}),
      Section("[ingest.otlp.grpc]", ingest_config.Route, "The route of OTLP/gRPC "
              "(`LogsService/Export` on the gRPC listener) alone, in place of `[ingest.otlp]`'s "
              "whole route, none of whose keys it inherits (optional; absent: `[ingest.otlp]`'s).",
              rename=ROUTE_KEYS, types={"by_principal": "table of principal = origin"}),
      Section("[ingest.otlp.http]", ingest_config.Route, "The route of OTLP/HTTP (`POST "
              "/v1/logs`) alone, as `[ingest.otlp.grpc]` is for gRPC (optional; needs "
              "`[ingest] http_listen`).",
              rename=ROUTE_KEYS, types={"by_principal": "table of principal = origin"}),
      Section("[ingest.kubernetes]", ingest_config.KubernetesConfig,
              "The Kubernetes audit webhook; also takes `log` and `log_by_principal` as "
              "`[ingest.otlp]` does.", SUBTABLES),
      Section("[[ingest.syslog]]", syslog_config.SyslogListener,
              "One per syslog or RELP listener (optional; docs/ingestion-syslog.md).",
              SUBTABLES, defaults={"listen": "required", "transport": "required",
                                   "log": "required"},
              types={"log_by_principal": "table of principal = origin",
                     "log_by_app": "table of app name = origin"}),
      Section("[ingest.syslog.tls]", security.TLSConfig,
              "TLS for that listener (required for \"tls\", optional for \"relp\").",
              defaults={"cert_file": "required", "key_file": "required"}),
      Section("[ingest.personal]", ingest_personal.PersonalConfig,
              "Record fields kept apart as erasable addenda (optional; docs/erasure.md).",
              types={"otlp_attributes": "list of strings", "syslog_params": "list of strings",
                     "paths": "list of strings"}, defaults={"otlp_attributes": "[]",
                                                           "syslog_params": "[]", "paths": "[]"})]),
    ("The witness: `auditlog witness --config witness.toml`",
     "`--listen` overrides `[witness] listen`.",
     [Section("[witness]", witness_config.WitnessConfig, "The witness.", SUBTABLES,
              defaults={"name": "required", "key_file": '"witness.key"', "state_dir": '"state"'}),
      Section("[witness.tls]", witness_config.TLSConfig, "HTTPS (optional).",
              defaults={"cert_file": "required", "key_file": "required"}),
      Section("[[witness.key]]", common_keys.KeyConfig, "Cosigning keys for rotation "
              "(optional; instead of `key_file`).", types={"vkey": "string"}),
      Section("[archive]", witness_config.ArchiveConfig, "Where cosigned checkpoints go."),
      Section("[[log]]", witness_config.LogEntry, "One per log it witnesses (at least one).",
              rename={"vkeys": "vkey"}, defaults={"origin": "required", "vkeys": "required"},
              types={"vkeys": "string or list of strings"})]),
    ("The client: every other `auditlog` command",
     "Which file: `--config FILE`, else `$AUDITLOG_CONFIG`, else `var/client.toml` if it exists "
     "(`auditlog up` writes it). Every key is optional, and the flag named with it overrides it.",
     [Section("(top level)", client_config.Settings, "", SUBTABLES,
              types={"quorum": "integer"})]),
]

_TYPES: Final = {
    "str": "string", "bool": "boolean", "int": "integer", "float": "number", "Path": "path",
    "Path | None": "path", "str | None": "string", "int | None": "integer",
    "tuple[str, ...]": "list of strings",
}


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass: the string literal right under each field."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for stmt, after in itertools.pairwise(body):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[stmt.target.id] = " ".join(after.value.value.split())
    return docs


def _default(f: dataclasses.Field[Any], section: Section) -> str:
    if f.name in section.defaults:
        return section.defaults[f.name]
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[]" if not value else repr(list(value))
    if isinstance(value, dict):
        return "{}"
    return str(value)


def rows(section: Section) -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) for every key of ``section``; ``ValueError`` if a field
    has no docstring."""
    docs = field_docs(section.cls)
    out = []
    for f in dataclasses.fields(section.cls):
        if f.name in section.skip:
            continue
        if f.name not in docs:
            raise ValueError(f"{section.cls.__module__}.{section.cls.__qualname__}.{f.name}: no "
                             "docstring under the field, want one saying what the key means")
        kind = section.types.get(f.name) or _TYPES.get(str(f.type), str(f.type))
        out.append((section.rename.get(f.name, f.name), kind, _default(f, section), docs[f.name]))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m tools.config_reference` from the config dataclasses; do not "
        "edit. -->",
        "",
        "Every key of the three TOML files, with its type, default and meaning. Relative paths "
        "are taken relative to the file's folder. An unknown key is an error that names it.",
    ]
    for title, about, sections in FILES:
        lines += ["", f"## {title}", "", about]
        for section in sections:
            lines += ["", f"### `{section.table}`" if section.table[0] == "[" else
                      f"### {section.table}", ""]
            if section.about:
                lines += [section.about, ""]
            lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
            for key, kind, default, meaning in rows(section):
                lines.append(f"| `{key}` | {kind} | `{_cell(default)}` | {_cell(meaning)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PATH}\n")
