"""The README quickstart, run exactly as written against a running ``auditlog up``.

The commands are read out of README.md (the fenced block marked ``sh quickstart``), so the README
and this test cannot drift apart. ``make run`` is ``auditlog up`` (checked in the Makefile); the
test starts it with ephemeral ports in a scratch directory and runs the block there with bash.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

from tests.client.up import ROOT, env, start_up

BLOCK = re.compile(r"^```sh quickstart\n(.*?)^```", re.MULTILINE | re.DOTALL)


def quickstart() -> str:
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) == 1, "README.md must have exactly one ```sh quickstart block"
    return str(blocks[0])


def test_make_run_is_auditlog_up() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "auditlog up" in recipe


def test_readme_quickstart(tmp_path: Path) -> None:
    commands = quickstart()
    assert "auditlog append" in commands and "auditlog verify" in commands
    assert "auditlog audit" in commands
    up = start_up(tmp_path)
    try:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path,
                              text=True, capture_output=True, timeout=180, env=env())
        assert done.returncode == 0, f"quickstart failed:\n{done.stdout}\n{done.stderr}"
        assert "OK: entry 0 is in localhost/audit" in done.stdout
        assert "OK: every checkpoint agrees with the entries" in done.stdout
        assert (tmp_path / "first.tlog-proof").read_bytes().startswith(b"c2sp.org/tlog-proof@v1\n")
        # The welcome names the console, and the console is served there.
        console = next(line.split()[1] for line in up.output
                       if line.strip().startswith("console "))
        with urllib.request.urlopen(console, timeout=10) as page:
            assert page.status == 200
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    finally:
        code = up.stop()
    assert code == 0, "".join(up.output)
    # The receipt still verifies with every server stopped: it is checked offline.
    offline = subprocess.run(["bash", "-c", ". .venv/bin/activate && auditlog verify "
                              "first.tlog-proof"], cwd=tmp_path, text=True, capture_output=True,
                             env=env(), timeout=60)
    assert offline.returncode == 0, offline.stderr
