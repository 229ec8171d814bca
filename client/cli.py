"""The ``auditlog`` console script: one entry point, one subcommand per job.

Processes: ``serve`` (a log server), ``witness`` (a witness), ``up`` (both, on one machine),
``keygen``. Services: ``append``. Auditors: ``checkpoint``, ``prove``, ``consistency``,
``entries``, ``verify`` (offline), ``audit``, ``monitor``. Every read command takes ``--json``.

Errors go to stderr as one line that says what to do, with a non-zero exit code: 1 for a
failure or a discrepancy, 2 for a usage error, 3 when a log was caught forking or rolling back.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
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
    asyncio.run(serve(config))
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
    except AuditLogError as exc:
        print(f"auditlog witness: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from auditlog_tlog.common.files import create_secret
    from auditlog_tlog.tree.cosignature import CosignatureSigner
    from auditlog_tlog.tree.keys import Ed25519Signer

    signer: Ed25519Signer | CosignatureSigner
    signer = CosignatureSigner.generate(args.name) if args.witness else Ed25519Signer.generate(args.name)
    path = Path(args.out)
    if not create_secret(path, signer.skey() + "\n"):
        raise FileExistsError(f"{path} exists; keygen never overwrites a key: choose another --out")
    print(signer.vkey())
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line too (subcommand parsers are of the same class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="auditlog", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run a log server from a TOML config")
    p.add_argument("--config", required=True, help="path of the server's TOML config")
    p.add_argument("--listen", help="gRPC address host:port (overrides [server] listen)")
    p.add_argument("--data-dir", dest="data_dir", type=Path, help="overrides [server] data_dir")
    p.add_argument("--metrics-listen", dest="metrics_listen", help="host:port for /metrics")
    p.set_defaults(handler=_serve)

    p = sub.add_parser("keygen", help="create a log or witness key (private key file mode 0600)")
    p.add_argument("--name", required=True, help="key name (a log's origin or a witness name)")
    p.add_argument("--out", required=True, help="private key file to create (must not exist)")
    p.add_argument("--witness", action="store_true", help="a witness (cosignature/v1) key")
    p.set_defaults(handler=_keygen)

    p = sub.add_parser("witness", help="run a witness (C2SP tlog-witness) from a TOML config")
    p.add_argument("--config", required=True, help="path of the witness's TOML config")
    p.add_argument("--listen", help="HTTP address host:port (overrides [witness] listen)")
    p.set_defaults(handler=_witness)

    from auditlog_tlog.client import audit, commands, monitor, up
    from auditlog_tlog.client.context import add_common

    p = sub.add_parser("up", help="run a log and a witness on this machine (what 'make run' does)")
    up.add_up(p)
    p.set_defaults(handler=up.cmd_up)
    client_commands = [
        ("append", "append an entry (text, file, audit event, or many from stdin); get receipts",
         commands.add_append, commands.cmd_append, True),
        ("checkpoint", "fetch and verify the latest checkpoint", commands.add_checkpoint,
         commands.cmd_checkpoint, True),
        ("prove", "fetch and verify an inclusion proof (by index or entry)", commands.add_prove,
         commands.cmd_prove, True),
        ("consistency", "fetch and verify a consistency proof between two tree sizes",
         commands.add_consistency, commands.cmd_consistency, True),
        ("entries", "print entries of the log", commands.add_entries, commands.cmd_entries, True),
        ("verify", "verify a receipt (or a checkpoint) offline, against keys and a policy",
         commands.add_verify, commands.cmd_verify, False),
        ("audit", "re-verify the whole log from its entries, checkpoints and witness archive",
         audit.add_audit, audit.cmd_audit, True),
        ("monitor", "follow the log; alert on a fork, rollback, missing quorum or stall",
         monitor.add_monitor, monitor.cmd_monitor, True),
    ]
    for name, help_text, add, run, online in client_commands:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        add_common(p, online=online)
        p.set_defaults(handler=_client(run))
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
    from auditlog_tlog.client.rpc import RpcError
    from auditlog_tlog.tree import errors

    message = _one_line(str(exc)) or type(exc).__name__
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
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}", EXIT_FAILED
    if isinstance(exc, FileExistsError):
        return f"{exc.filename} exists already: choose another path or remove it", EXIT_FAILED
    return message, EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format='{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":%(message)r}',
    )
    handler: Handler = args.handler
    from auditlog_tlog.tree.errors import AuditLogError

    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_FAILED  # e.g. '| head': nothing more to say
    except (AuditLogError, ValueError, OSError) as exc:
        line, code = explain(exc, args)
        print(f"auditlog {args.command}: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
