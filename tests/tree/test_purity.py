"""tree/ is pure: it imports only the standard library, ``cryptography``, ``blake3`` and itself.

Beyond the allowed packages, the standard library modules that do I/O, read the clock, draw
randomness or log are refused too, and so are the builtins that do I/O or import by name.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = "auditlog_tlog"
TREE = Path(__file__).resolve().parent.parent.parent / "tree"
ALLOWED_PACKAGES = frozenset({"cryptography", "blake3", "tree"})
FORBIDDEN_STDLIB = frozenset(
    {
        "asyncio", "datetime", "http", "importlib", "io", "logging", "multiprocessing", "os",
        "pathlib", "random", "secrets", "select", "selectors", "shutil", "signal", "socket",
        "sqlite3", "subprocess", "sys", "tempfile", "threading", "time", "urllib", "uuid",
        "warnings",
    }
)  # fmt: skip
FORBIDDEN_BUILTINS = frozenset({"open", "print", "input", "breakpoint", "__import__", "exec", "eval"})
MODULES = sorted(TREE.glob("**/*.py"))


def imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """Every absolute module name an ``import`` or ``from ... import`` names, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            # Relative imports (level > 0) stay inside tree/ and are left out.
            found.append((node.lineno, node.module))
    return found


def problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for line, module in imported_modules(tree):
        top = module.removeprefix(PACKAGE + ".").partition(".")[0]
        if top in FORBIDDEN_STDLIB:
            found.append(f"{path.name}:{line}: imports {module} (I/O, clock, randomness or logging)")
        elif top not in sys.stdlib_module_names and top not in ALLOWED_PACKAGES:
            found.append(f"{path.name}:{line}: imports {module}, want stdlib, cryptography, blake3")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_BUILTINS:
            found.append(f"{path.name}:{node.lineno}: uses the builtin {node.id}")
    return found


def test_the_core_modules_are_checked() -> None:
    names = {path.name for path in MODULES}
    assert {"hashing.py", "nodes.py", "compact.py", "proof.py", "verify.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(TREE)))
def test_module_is_pure(path: Path) -> None:
    assert problems(path) == []


def test_the_check_catches_impurity(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import os.path\nimport time\nimport grpc\nfrom rocksdict import Rdict\n"
        "from . import nodes\nimport hashlib\nfrom cryptography.hazmat import x\nprint(1)\n",
        encoding="utf-8",
    )
    assert problems(bad) == [
        "bad.py:1: imports os.path (I/O, clock, randomness or logging)",
        "bad.py:2: imports time (I/O, clock, randomness or logging)",
        "bad.py:3: imports grpc, want stdlib, cryptography, blake3",
        "bad.py:4: imports rocksdict, want stdlib, cryptography, blake3",
        "bad.py:8: uses the builtin print",
    ]
