"""The ``auditlog`` console script: one entry point, one subcommand per job.

Processes: ``serve`` (a log server), ``witness`` (a witness), ``up`` (both, on one machine),
``keygen``, ``bucket init`` (a compliant S3 bucket). Services: ``append``. Auditors:
``checkpoint``, ``checkpoints``, ``prove``, ``consistency``, ``entries``, ``verify`` (offline),
``audit``, ``monitor``. Admins: ``hold``. Every read command takes ``--json``.

Errors go to stderr as one line that says what to do, with a non-zero exit code: 1 for a
failure or a discrepancy, 2 for a usage error, 3 when a log was caught forking or rolling back.
Subcommands are registered in one table (``subcommands``): a new one is a row there.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INCONSISTENT = 3

Handler = Callable[[argparse.Namespace], int]


def _serve(args: argparse.Namespace) -> int:
    from auditlog_tlog.server.app import serve
    from auditlog_tlog.server.config import load_config

    overrides = {"listen": args.listen, "data_dir": args.data_dir,
                 "metrics_listen": args.metrics_listen}
    config = load_config(Path(args.config), overrides)
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        busy = ", ".join(a for a in (config.metrics_listen, config.http_listen) if a)
        raise OSError(f"cannot listen on one of {busy}: in use by another program ({exc.strerror}); "
                      "stop it or change metrics_listen/http_listen") from None
    return 0


def _witness(args: argparse.Namespace) -> int:
    from auditlog_tlog.tree.errors import AuditLogError
    from auditlog_tlog.witness.app import run
    from auditlog_tlog.witness.config import load_config

    config = load_config(Path(args.config))
    if args.listen is not None:
        from dataclasses import replace

        config = replace(config, listen=args.listen)
    try:
        run(config)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise OSError(f"cannot listen on {config.listen}: in use by another program; stop it "
                      "or give another address with --listen") from None
    except AuditLogError as exc:
        print(f"auditlog witness: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _restore(args: argparse.Namespace) -> int:
    from auditlog_tlog.client.restore_cmd import cmd_restore

    return cmd_restore(args)


def _add_restore(p: argparse.ArgumentParser) -> None:
    from auditlog_tlog.client.restore_cmd import add_restore

    add_restore(p)


def _keygen(args: argparse.Namespace) -> int:
    from auditlog_tlog.common.files import create_secret
    from auditlog_tlog.tree.cosignature import CosignatureSigner
    from auditlog_tlog.tree.keys import Ed25519Signer

    signer: Ed25519Signer | CosignatureSigner
    signer = CosignatureSigner.generate(args.name) if args.witness else Ed25519Signer.generate(args.name)
    path = Path(args.out)
    if not create_secret(path, signer.skey() + "\n"):
        raise FileExistsError(errno.EEXIST, "keygen never overwrites a key", str(path))
    print(signer.vkey())
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line too (subcommand parsers are of the same class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}; see '{self.prog} --help'\n")


DESCRIPTION = """\
A tamper-evident audit log: append entries, get receipts, and check them against the log's key
and its witnesses' cosignatures.

Exit codes: 0 ok, 1 a failure or a discrepancy, 2 a usage error, 3 the log was caught forking or
rolling back. Errors are one line on stderr saying what to do.
"""

EPILOG = """\
examples:
  auditlog up                                   # a log and a witness on this machine (var/)
  auditlog append --actor alice --action login --resource sso --receipt r.tlog-proof
  auditlog verify r.tlog-proof                  # offline
  auditlog audit                                # re-verify the whole log

'auditlog COMMAND --help' shows each command's options and an example.
"""


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One row of the command table: ``add`` declares its options, ``run`` does the work.

    ``kind`` is "process" (``run`` takes the parsed arguments) or "client"/"offline" (``run``
    takes a :class:`~client.context.Context`; the common client options are added, without
    the network ones for "offline"). ``tiles``: the command can read the log's published tiles
    instead of the server (``--source``, ``client.context.add_source``)."""

    name: str
    help: str
    example: str
    add: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Any], int]
    kind: str = "client"
    tiles: bool = False


@dataclass(frozen=True, slots=True)
class _LazyModule:
    """A client module of the command table, imported on first use: a command imports its own
    module only (``auditlog verify`` loads neither boto3 nor the server, ``auditlog serve`` none
    of the client's modules)."""

    module: str

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            from importlib import import_module

            return getattr(import_module(f"auditlog_tlog.client.{self.module}"), name)(*args)

        return call


def subcommands() -> list[Subcommand]:
    """Every subcommand, in the order ``--help`` lists them."""
    append, audit, bucket, commands, erasure, hold, monitor, search, up = (
        _LazyModule(name) for name in ("append", "audit_cmd", "bucket", "commands", "erasure", "hold",
                                       "monitor", "search", "up"))

    return [
        Subcommand("up", "run a log and a witness on this machine (what 'make run' does)",
                   "auditlog up --port 7610 --witness-port 7710 --dir var2", up.add_up, up.cmd_up,
                   "process"),
        Subcommand("serve", "run a log server from a TOML config",
                   "auditlog serve --config /etc/auditlog/server.toml", _add_serve, _serve,
                   "process"),
        Subcommand("witness", "run a witness (C2SP tlog-witness) from a TOML config",
                   "auditlog witness --config /etc/auditlog-witness/witness.toml", _add_witness,
                   _witness, "process"),
        Subcommand("keygen", "create a log or witness key (private key file mode 0600)",
                   "auditlog keygen --witness --name witness.example/w1 --out witness.key",
                   _add_keygen, _keygen, "process"),
        Subcommand("bucket", "prepare an S3 bucket for publication or a witness archive",
                   "auditlog bucket init --endpoint https://s3.example:8333 --bucket audit "
                   "--retention-days 2555", bucket.add_bucket, bucket.cmd_bucket_init, "process"),
        Subcommand("restore", "rebuild a log's database from its published tiles (a bucket), "
                   "verifying every tile and checkpoint",
                   "auditlog restore --from s3://bucket/audit.example.com/payments --config "
                   "/etc/auditlog/server.toml", _add_restore, _restore, "process"),
        Subcommand("append", "append an entry (text, file, audit event, or many from stdin); "
                   "get receipts",
                   "auditlog append --actor alice --action repo.delete --resource acme/web "
                   "--receipt r.tlog-proof", append.add_append, append.cmd_append),
        Subcommand("erase", "erase an entry's personal fields (addenda); the erasure is logged "
                   "(admin role)", "auditlog erase --index 17 --why 'GDPR art. 17 request 4411'",
                   erasure.add_erase, erasure.cmd_erase),
        Subcommand("addenda", "show an entry's personal fields (addenda), or where they were "
                   "erased", "auditlog addenda --index 17", erasure.add_addenda,
                   erasure.cmd_addenda),
        Subcommand("checkpoint", "fetch and verify the latest checkpoint",
                   "auditlog checkpoint --note", commands.add_checkpoint, commands.cmd_checkpoint,
                   tiles=True),
        Subcommand("checkpoints", "list the sizes at which the log signed checkpoints",
                   "auditlog checkpoints --begin 100", commands.add_checkpoints,
                   commands.cmd_checkpoints, tiles=True),
        Subcommand("prove", "fetch and verify an inclusion proof (by index or entry)",
                   "auditlog prove --leaf-hash HEX --receipt r.tlog-proof", commands.add_prove,
                   commands.cmd_prove, tiles=True),
        Subcommand("consistency", "fetch and verify a consistency proof between two tree sizes",
                   "auditlog consistency --from 10 --to 20", commands.add_consistency,
                   commands.cmd_consistency, tiles=True),
        Subcommand("search", "find entries by actor, action, resource, outcome and time, each "
                   "proven in one checkpoint", "auditlog search --actor alice --action 'repo.*' "
                   "--since 2026-11-01 --until 2026-11-30 --json", search.add_search,
                   search.cmd_search),
        Subcommand("entries", "print entries of the log, checked against a verified checkpoint",
                   "auditlog entries --begin 0 --end 10", commands.add_entries,
                   commands.cmd_entries, tiles=True),
        Subcommand("verify", "verify a receipt (or a checkpoint) offline, against keys and a policy",
                   "auditlog verify r.tlog-proof", commands.add_verify, commands.cmd_verify,
                   "offline", tiles=True),
        Subcommand("audit", "re-verify the whole log from its entries, checkpoints and witness "
                   "archive", "auditlog audit --archive var/witness/archive", audit.add_audit,
                   audit.cmd_audit, tiles=True),
        Subcommand("hold", "place or release an S3 legal hold on the published objects of a "
                   "range of entries (admin role); recorded in the log",
                   "auditlog hold --from-index 0 --to-index 1000 --reason 'case 17'",
                   hold.add_hold, hold.cmd_hold),
        Subcommand("monitor", "follow the log; alert on a fork, rollback, missing quorum or stall",
                   "auditlog monitor --interval 10 --webhook https://alerts.example/hook",
                   monitor.add_monitor, monitor.cmd_monitor),
    ]


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="path of the server's TOML config")
    p.add_argument("--listen", help="gRPC address host:port (overrides [server] listen)")
    p.add_argument("--data-dir", dest="data_dir", type=Path, help="overrides [server] data_dir")
    p.add_argument("--metrics-listen", dest="metrics_listen", help="host:port for /metrics")


def _add_keygen(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, help="key name (a log's origin or a witness name)")
    p.add_argument("--out", required=True, help="private key file to create (must not exist)")
    p.add_argument("--witness", action="store_true", help="a witness (cosignature/v1) key")


def _add_witness(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="path of the witness's TOML config")
    p.add_argument("--listen", help="HTTP address host:port (overrides [witness] listen)")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given ``argv``, only the options of the command it names are added
    (the others keep their name and help), so that a start-up imports one command's modules."""
    names = {command.name for command in subcommands()}
    chosen = None if argv is None else next((a for a in argv if a in names), "")
    parser = _Parser(prog="auditlog", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--log-format", choices=("console", "json"),
                        help="how to write logs: readable lines, or one JSON object a line (default: "
                        "$AUDITLOG_LOG_FORMAT, else console)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in subcommands():
        p = sub.add_parser(command.name, help=command.help, description=command.help,
                           epilog=f"example:\n  {command.example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if chosen not in (None, command.name):
            continue
        command.add(p)
        if command.kind == "process":
            p.set_defaults(handler=command.run)
        else:
            from auditlog_tlog.client.context import add_common, add_source

            add_common(p, online=command.kind == "client")
            if command.tiles:
                add_source(p)
            p.set_defaults(handler=_client(command.run))
    return parser


def _client(run: Callable[[Any], int]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        from auditlog_tlog.client.context import Context

        return run(Context(args))

    return handler


def _one_line(text: str) -> str:
    return " ".join(text.split())


def explain(exc: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    """The one line to print for an error, saying what to do, and the exit code."""
    from auditlog_tlog.client.context import AdvisedError, UsageError
    from auditlog_tlog.client.rpc import RpcError
    from auditlog_tlog.tree import errors

    message = _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, UsageError):
        return f"{message}; see 'auditlog {args.command} --help'", EXIT_USAGE
    if isinstance(exc, AdvisedError):
        return message, EXIT_FAILED
    if isinstance(exc, errors.InconsistencyError):
        return (f"{message}. Do not trust this log: keep the evidence and tell its operator and "
                "its witnesses", EXIT_INCONSISTENT)
    if isinstance(exc, errors.VerificationError):
        return (f"verification failed: {message}. Check that you trust the right keys and quorum "
                "(--log-key, --witness-key, --quorum, or the client config)", EXIT_FAILED)
    if isinstance(exc, RpcError) and exc.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return (f"cannot reach the log server ({message}). Start it ('make run' or 'auditlog up'), "
                "or point --server (or the client config) at it", EXIT_FAILED)
    if isinstance(exc, errors.UnauthenticatedError | errors.PermissionDeniedError):
        return (f"{message}. Give a token the server knows (--token-file or $AUDITLOG_TOKEN) "
                f"or a client certificate (--cert-file, --key-file) with the role needed",
                EXIT_FAILED)
    if isinstance(exc, errors.PushbackError):
        return f"{message}. The log is busy: retry later", EXIT_FAILED
    if isinstance(exc, errors.MalformedError):
        return f"malformed input: {message}", EXIT_FAILED
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return f"no such file: {exc.filename}", EXIT_FAILED
    if isinstance(exc, FileExistsError) and exc.filename is not None:
        return (f"{exc.filename} exists already: choose another path or remove it "
                f"({exc.strerror})", EXIT_FAILED)
    return message, EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    from auditlog_tlog.common.logs import resolve_format, setup

    parser = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        args.log_format = resolve_format(args.log_format)
    except ValueError as exc:
        parser.error(str(exc))
    process = args.command in ("serve", "witness", "up")
    setup(logging.INFO if args.verbose or process else logging.WARNING, args.log_format)
    handler: Handler = args.handler
    from auditlog_tlog.tree.errors import AuditLogError

    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # '| head' stopped reading: not an error. Point stdout at /dev/null so that Python's
        # final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (AuditLogError, ValueError, OSError) as exc:
        line, code = explain(exc, args)
        if process and args.log_format == "json":  # a process's stderr is its log: JSON only
            logging.getLogger("auditlog").error("auditlog %s: %s", args.command, line)
        else:
            print(f"auditlog {args.command}: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
