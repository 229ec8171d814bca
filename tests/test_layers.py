"""The dependency rules between packages (the README's Layout section), read from the imports."""

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
    ("boto3", {"common/s3.py", "client/s3tiles.py"}),
    ("botocore", {"common/s3.py", "common/s3holds.py", "common/s3bucket.py", "client/s3tiles.py"}),
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


# Import cycles and re-exports (the README's Layout section): the graph of runtime imports among our modules.
PRODUCT = ("tree", "storage", "server", "witness", "client", "common", "proto")


def _module_name(path: Path) -> str:
    """``tree/note.py`` -> ``auditlog_tlog.tree.note``; ``tree/__init__.py`` -> ``auditlog_tlog.tree``."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join((PACKAGE, *parts[: -1 if parts[-1] == "__init__" else None]))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` that can run, at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module name -> the modules among ``sources`` it imports at run time (function-level too).

    ``from a.b import c`` is an edge to ``a.b``, and to ``a.b.c`` when that is a module.
    """
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, text in sources.items():
        for node in _runtime_nodes(ast.parse(text, name)):
            if isinstance(node, ast.Import):
                targets = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                continue
            graph[name] |= targets & graph.keys()
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` that hold a cycle (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the number of our modules
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def _product_sources() -> dict[str, str]:
    return {
        _module_name(path): path.read_text(encoding="utf-8")
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_our_modules_import_by_absolute_name() -> None:
    """A relative import would hide an edge from the graph below (and the rule asks for none)."""
    relative = [
        f"{name}:{node.lineno}"
        for name, text in _product_sources().items()
        for node in ast.walk(ast.parse(text, name))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert relative == []


def test_no_import_cycle_among_our_modules() -> None:
    graph = import_graph(_product_sources())
    assert "auditlog_tlog.tree.note" in graph["auditlog_tlog.tree.checkpoint"], "the graph is empty"
    assert import_cycles(graph) == []


def test_the_cycle_finder_catches_a_cycle() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}) == [
        ["a", "b", "c"]
    ]
    assert import_cycles({"a": {"a"}, "b": {"a"}}) == [["a"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_function_level_imports_count_and_type_checking_ones_do_not() -> None:
    sources = {
        "p.keys": "def parse():\n    from p.cosignature import Verifier\n",
        "p.cosignature": "from p import note\n",
        "p.note": "import p.keys\n",
        "p.types": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.note import Note\n",
        "p.hints": "import typing\nif typing.TYPE_CHECKING:\n    import p.types\nelse:\n    import p.note\n",
    }
    graph = import_graph(sources)
    assert graph == {
        "p.keys": {"p.cosignature"},
        "p.cosignature": {"p.note"},
        "p.note": {"p.keys"},
        "p.types": set(),
        "p.hints": {"p.note"},
    }
    assert import_cycles(graph) == [["p.cosignature", "p.keys", "p.note"]]


def _defined_names(text: str) -> set[str]:
    """Names a module's own top-level code binds (def, class, assignment), not the ones it imports."""
    names: set[str] = set()
    stack: list[ast.stmt] = list(ast.parse(text).body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If | ast.Try | ast.With):
            stack.extend(ast.iter_child_nodes(node))  # type: ignore[arg-type]
    return names


def reexported_imports(callers: dict[str, str], modules: dict[str, str]) -> list[str]:
    """``caller: name from module`` for each import of a name that ``module`` does not define.

    Generated protobuf modules (``*_pb2``) bind their message classes at run time: not checked.
    """
    defined = {name: _defined_names(text) for name, text in modules.items()}
    found = []
    for caller, text in callers.items():
        for node in ast.walk(ast.parse(text, caller)):
            if not (isinstance(node, ast.ImportFrom) and node.module in defined):
                continue
            if node.module.endswith("_pb2"):
                continue
            for alias in node.names:
                if alias.name not in defined[node.module] and f"{node.module}.{alias.name}" not in modules:
                    found.append(f"{caller}:{node.lineno}: {alias.name} from {node.module}")
    return found


def test_every_name_is_imported_from_where_it_is_defined() -> None:
    modules = _product_sources()
    callers = {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for package in (*PRODUCT, "tests", "bench")
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert "tree/checkpoint.py" in callers
    assert reexported_imports(callers, modules) == []


def test_the_reexport_check_catches_one() -> None:
    modules = {
        "p.keys": "KEY_ID_SIZE = 4\ndef parse(): pass\n",
        "p.note": "from p.keys import KEY_ID_SIZE\nif True:\n    MAX = 1\nclass Note: pass\n",
        "p": "",
        "p.x_pb2": "",
    }
    callers = {
        "c.py": "from p.note import KEY_ID_SIZE, MAX, Note\nfrom p import keys\n"
        "from p.x_pb2 import Request\ndef f():\n    from p.keys import parse, nothing\n"
    }
    assert reexported_imports(callers, modules) == [
        "c.py:1: KEY_ID_SIZE from p.note", "c.py:5: nothing from p.keys"
    ]
