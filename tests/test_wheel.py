"""The installed project is one package of ours: a built wheel adds no other top-level name."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "auditlog_tlog"
CARD_FOLDERS = ("tree", "storage", "server", "witness", "client", "proto", "common")


def test_the_wheel_installs_only_our_package_name(tmp_path: Path) -> None:
    # Built from a copy: setuptools builds in <source>/build, whose leftovers (a module since
    # deleted) would otherwise end up in the wheel, and the checkout stays clean.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "var",
        "data", "bench-results"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(source)],
        check=True, cwd=tmp_path, timeout=110,
    )
    (wheel,) = tmp_path.glob("auditlog_tlog-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {PACKAGE}, sorted(top)
    # Every card folder is in it, with its files (the links were followed, not stored as links).
    for folder in CARD_FOLDERS:
        assert f"{PACKAGE}/{folder}/__init__.py" in names, folder
    assert f"{PACKAGE}/proto/auditlog.proto" in names
    assert f"{PACKAGE}/tree/py.typed" in names
    # The console's assets (server/console/static) are package data: the server serves them.
    for asset in ("index.html", "app.js", "merkle.js", "note.js", "style.css"):
        assert f"{PACKAGE}/server/console/static/{asset}" in names, asset
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "auditlog = auditlog_tlog.client.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
