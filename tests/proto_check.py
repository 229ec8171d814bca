"""Fail when the committed generated gRPC code is not what proto/auditlog.proto generates."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
GENERATED = ("auditlog_pb2.py", "auditlog_pb2.pyi", "auditlog_pb2_grpc.py")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp)
        # Generated under the installed name, so the gRPC glue imports auditlog_tlog.proto.
        generated = out / "auditlog_tlog" / "proto"
        generated.mkdir(parents=True)
        shutil.copy(ROOT / "proto" / "auditlog.proto", generated)
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.",
             "--pyi_out=.", "--grpc_python_out=.", "auditlog_tlog/proto/auditlog.proto"],
            cwd=out, check=True,
        )
        stale = [name for name in GENERATED
                 if not (ROOT / "proto" / name).exists()
                 or (ROOT / "proto" / name).read_bytes() != (generated / name).read_bytes()]
    if stale:
        print(f"proto-check: {', '.join(stale)} out of date with proto/auditlog.proto; run 'make proto'")
        return 1
    print("proto-check: generated code matches proto/auditlog.proto")
    return 0


if __name__ == "__main__":
    sys.exit(main())
