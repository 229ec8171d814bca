"""The commands of docs/erasure.md on a real server: ``append --personal``, ``addenda``,
``erase`` and what ``entries`` says about an entry's addenda before and after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.client.event import parse_event
from auditlog_tlog.tree.addenda import committed
from auditlog_tlog.tree.tlogproof import parse_tlog_proof

PHONE = "+44 20 7946 0451"


def test_append_personal_then_erase(cli: Any, tmp_path: Path) -> None:
    code, _, err = cli("append", "--actor", "u-77", "--action", "account.update", "--resource",
                       "crm/77", "--personal", f"phone={PHONE}", "--personal", "name=Dora Q",
                       "--receipt", "r.tlog-proof")
    assert code == 0, err
    index = int(err.split("appended entry ")[1].split()[0])
    entry = parse_tlog_proof((tmp_path / "r.tlog-proof").read_bytes()).extra
    assert PHONE.encode() not in entry and set(committed(entry)) == {"name", "phone"}
    assert parse_event(entry).actor == "u-77"

    code, out, err = cli("addenda", "--index", str(index))
    assert code == 0 and f"phone: '{PHONE}'" in out and "name: 'Dora Q'" in out, err
    code, out, _ = cli("entries", "--begin", str(index), "--end", str(index + 1))
    assert "[addenda: name kept, phone kept]" in out

    code, out, err = cli("erase", "--index", str(index), "--why", "subject asked", "--json")
    assert code == 0, err
    erasure = json.loads(out)["erasure_index"]
    code, out, _ = cli("entries", "--begin", str(index), "--end", str(index + 1), "--json")
    assert json.loads(out)["addenda"]["phone"]["erased_by"] == erasure
    code, out, _ = cli("entries", "--begin", str(index), "--end", str(erasure + 1))
    assert f"[addenda: name erased by entry {erasure}, phone erased by entry {erasure}]" in out
    assert '\\"actor\\":\\"anonymous' in out.splitlines()[-1]  # an open server
    code, out, _ = cli("addenda", "--index", str(index))
    assert f"phone: erased (the erasure is entry {erasure})" in out
    code, _, err = cli("verify", "r.tlog-proof")
    assert code == 0, err

    code, _, err = cli("erase", "--index", str(index), "--why", "again")
    assert code == 1 and "no addenda left to erase" in err


def test_usage_errors(cli: Any) -> None:
    code, _, err = cli("append", "some text", "--personal", "a=b")
    assert code == 2 and "--personal goes with --actor" in err
    code, _, err = cli("append", "--actor", "a", "--action", "b", "--resource", "c",
                       "--personal", "nokey")
    assert code == 2 and "want KEY=VALUE" in err
    code, _, err = cli("erase", "--digest", "XYZ", "--why", "w")
    assert code == 2 and "want 64 lowercase hex digits" in err
    with pytest.raises(SystemExit) as usage:
        cli("erase", "--index", "0")
    assert usage.value.code == 2
