"""The repository stands on its own: no file points outside it to design notes that a clone
does not have (``../shared``, ``DESIGN.md``, ``STYLE.md``)."""

from __future__ import annotations

import subprocess

from tests.client.up import ROOT

OUTSIDE = ("../shared", "DESIGN.md", "STYLE.md")


def test_no_file_points_outside_the_repository() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                            timeout=60).stdout.decode().split("\0")
    # .ci/ is the CI runner's own set-up (it checks out the repository), not part of the project.
    files = [ROOT / name for name in listed if name and not name.startswith(".ci/")]
    offenders = []
    for path in files:
        if not path.is_file() or path.name == "test_standalone.py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {word}" for word in OUTSIDE if word in text]
    assert offenders == []
