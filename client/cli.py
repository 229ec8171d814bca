"""The ``auditlog`` console script: one entry point, one subcommand per job.

Errors go to stderr as one line that says what to do, with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_USAGE = 2
EXIT_FAILED = 1

Handler = Callable[[argparse.Namespace], int]


def _serve(args: argparse.Namespace) -> int:
    from server.app import serve
    from server.config import load_config

    overrides = {"listen": args.listen, "data_dir": args.data_dir,
                 "metrics_listen": args.metrics_listen}
    config = load_config(Path(args.config), overrides)
    asyncio.run(serve(config))
    return 0


def _witness(args: argparse.Namespace) -> int:
    from tree.errors import AuditLogError
    from witness.app import run
    from witness.config import load_config

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
    import os

    from tree.cosignature import CosignatureSigner
    from tree.note import Ed25519Signer

    signer: Ed25519Signer | CosignatureSigner
    signer = CosignatureSigner.generate(args.name) if args.witness else Ed25519Signer.generate(args.name)
    path = Path(args.out)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(signer.skey() + "\n")
    print(signer.vkey())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditlog", description=__doc__)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format='{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":%(message)r}',
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as exc:
        print(f"auditlog {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
