"""The systemd units in deploy/systemd: hardened as documented, and accepted by
``systemd-analyze verify`` (Debian's ``systemd`` package; ``make test-deps`` installs it)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.client.up import ROOT

UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
             "PrivateTmp": "yes"}


def _service(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return parser["Service"]


def test_there_is_a_unit_for_the_server_and_the_witness() -> None:
    assert [u.name for u in UNITS] == ["auditlog-server.service", "auditlog-witness.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_is_hardened_with_a_dedicated_user_and_state_under_var_lib(unit: Path) -> None:
    service = _service(unit)
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{unit.name}: {key}"
    user = service["User"]
    assert user.startswith("auditlog") and user != "root"
    assert service["StateDirectory"] == user
    assert service["WorkingDirectory"] == f"/var/lib/{user}"
    assert "--config /etc/" in service["ExecStart"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_systemd_analyze_verify_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: run 'make test-deps' (Debian package systemd)"
    # verify checks that ExecStart's program exists; point it at one that does.
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace("/opt/auditlog/bin/auditlog", shutil.which("true") or
                                             "/bin/true"))
    done = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # unknown keys are warnings, on stderr
