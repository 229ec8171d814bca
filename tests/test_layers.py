"""The dependency rules between packages (STYLE.md, DESIGN.md), read from the imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    """Top-level module names a file imports (absolute imports only; we use no relative ones)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "_pb2" not in p.name)


PACKAGE = "auditlog_tlog"


def _top(name: str) -> str:
    """The first name under our package (``auditlog_tlog.tree.note`` -> ``tree``), else the first."""
    return name.removeprefix(PACKAGE + ".").split(".")[0]


FORBIDDEN = {
    # A witness is run by someone else and trusts only signatures and proofs.
    "witness": {"server", "storage", "client", "rocksdict"},
    "storage": {"server", "witness", "client", "grpc", "proto"},
    "common": {"tree", "storage", "server", "witness", "client", "proto", "grpc", "rocksdict"},
    "server": {"witness", "client"},
    "client": {"rocksdict"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_layers(package: str) -> None:
    bad = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) in FORBIDDEN[package]
    }
    assert not bad, sorted(bad)


@pytest.mark.parametrize(("module", "allowed"), [
    ("rocksdict", {"storage"}),
    ("boto3", {"common/s3.py"}),
    ("botocore", {"common/s3.py"}),
])
def test_backend_libraries_stay_in_their_adapter(module: str, allowed: set[str]) -> None:
    users = {
        str(path.relative_to(ROOT))
        for package in ("tree", "storage", "server", "witness", "client", "common", "proto")
        for path in _modules(package)
        if any(_top(name) == module for name in _imports(path))
    }
    assert users, f"nothing imports {module}: the rule checks nothing"
    assert all(any(u == a or u.startswith(a + "/") for a in allowed) for u in users), users
