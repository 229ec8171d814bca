"""What a new user trips over in the first hour, each re-tried the way it was reported: errors
that name the right thing and say what to run, summaries instead of floods, usage errors that
exit 2, and help that explains every option with an example."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from auditlog_tlog.client.cli import build_parser, main, subcommands
from auditlog_tlog.client.ranges import check_range, left_siblings
from auditlog_tlog.client.sdk import LogClient
from auditlog_tlog.tree.checkpoint import parse_checkpoint
from auditlog_tlog.tree.compact import CompactRange
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.errors import VerificationError
from auditlog_tlog.tree.hashing import SHA256
from auditlog_tlog.tree.note import parse_note
from auditlog_tlog.tree.proof import inclusion_plan
from tests.client.conftest import ORIGIN
from tests.client.test_cli import one_line
from tests.servers import RunningServer


def test_keygen_to_an_existing_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "log.key"
    assert main(["keygen", "--name", "example.com/log", "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["keygen", "--name", "example.com/log", "--out", str(out)]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"{out} exists already" in line and "None" not in line
    assert out.read_bytes() == before


def test_consistency_from_a_size_without_checkpoint_lists_sizes(cli: Any) -> None:
    cli("append", "sizes: first")
    cli("append", "--lines", stdin="".join(f"sizes: {i}\n" for i in range(5)))  # one batch
    code, out, _ = cli("checkpoints", "--json")
    sizes = [json.loads(line)["size"] for line in out.splitlines()]
    assert code == 0 and sizes == sorted(sizes) and len(sizes) >= 2
    missing = next(s for s in range(1, sizes[-1]) if s not in sizes)
    code, _, err = cli("consistency", "--from", str(missing))
    line = one_line(err)
    assert code == 1 and f"no checkpoint of size {missing}" in line
    assert "nearest sizes it signed are" in line and "trust the right keys" not in line
    code, _, err = cli("consistency", "--from", str(sizes[-1] + 1000))
    line = one_line(err)
    assert code == 1 and f"latest checkpoint has size {sizes[-1]}" in line
    assert "auditlog checkpoints" in line
    code, _, err = cli("consistency", "--from", "1", "--to", str(sizes[-1] + 1000))
    assert code == 1 and "latest checkpoint has size" in one_line(err)


def test_receipt_dir_receipts_verify_as_written_and_verify_says_what_to_run(
        cli: Any, tmp_path: Path) -> None:
    code, out, err = cli("append", "--lines", "--receipt-dir", "rd", "--json",
                         stdin="receipt-dir: one\nreceipt-dir: two\n")
    assert code == 0
    files = [Path(json.loads(line)["receipt_file"]) for line in out.splitlines()]
    for path in files:
        code, out, _ = cli("verify", str(path))
        assert code == 0 and out.startswith("OK: entry") and "receipt-dir: " in out
    # Trusting a witness that has not cosigned it yet: say to run prove, with the leaf hash.
    witness = CosignatureSigner.generate("witness.example/w9").verifier().vkey()
    code, _, err = cli("verify", str(files[0]), "--witness-key", witness)
    line = one_line(err)
    assert code == 1 and "written at append time" in line
    assert "auditlog prove --leaf-hash " in line and f"--receipt {files[0]}" in line


def test_an_entry_over_the_limit_names_the_limit(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(os.urandom(200_000))
    code, _, err = cli("append", "--file", "report.pdf")
    line = one_line(err)
    assert code == 1 and "200000 bytes, over the log's limit of 65536 bytes per entry" in line
    assert "malformed" not in line and "--hash-only" in line


def test_usage_errors_in_append_exit_2(cli: Any) -> None:
    assert cli("append")[0] == 2
    assert cli("append", "x", "--file", "y")[0] == 2
    code, _, err = cli("append", "--actor", "a", "--action", "b")
    assert code == 2 and "--resource" in one_line(err)
    code, _, err = cli("append", "--actor", "a", "--action", "b", "--resource", "c", "--attr", "k")
    assert code == 2 and "KEY=VALUE" in one_line(err)
    with pytest.raises(SystemExit) as info:
        cli("append", "--actor", "a", "--action", "b", "--resource", "c", "--outcome", "maybe")
    assert info.value.code == 2


def test_append_receipt_without_trust_warns(cli: Any, tmp_path: Path) -> None:
    code, _, err = cli("append", "untrusted receipt", "--receipt", "u.tlog-proof", "--log", ORIGIN,
                      trust=False)
    assert code == 0 and (tmp_path / "u.tlog-proof").exists()
    assert "warning: no log key" in err and "was not verified" in err
    code, _, err = cli("append", "trusted receipt", "--receipt", "t.tlog-proof")
    assert code == 0 and "warning" not in err


def test_verify_summarises_a_large_binary_entry(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(os.urandom(30_000))
    assert cli("append", "--file", "blob", "--receipt", "blob.tlog-proof")[0] == 0
    code, out, _ = cli("verify", "blob.tlog-proof")
    assert code == 0 and "[binary, 30000 bytes, sha256 " in out and len(out) < 600
    code, out, _ = cli("verify", "blob.tlog-proof", "--json")
    assert len(json.loads(out)["entry"]) == 40_000  # the whole entry, base64


def test_lines_counts_dedup(cli: Any) -> None:
    code, out, err = cli("append", "--lines", stdin="dedup me\ndedup me\ndedup me\n")
    assert code == 0 and len(out.splitlines()) == 3
    assert "3 lines, 1 new entry, 2 already in the log" in err
    code, _, err = cli("append", "--lines", stdin="dedup me\n")
    assert "1 line, 0 new entries, 1 already in the log" in err


def test_jsonl_appends_the_good_lines_and_rejects_the_bad(cli: Any, tmp_path: Path) -> None:
    good = json.dumps({"actor": "a", "action": "b", "resource": "jsonl/good"})
    code, out, err = cli("append", "--jsonl", stdin=f"{good}\nnot json\n")
    line = one_line(err)
    assert code == 1 and "stdin line 2: not JSON" in line and "1 new entry" in line
    assert len(out.splitlines()) == 1  # the good line before it was appended
    good2 = json.dumps({"actor": "a", "action": "b", "resource": "jsonl/good2"})
    bad = json.dumps({"actor": "a", "action": "b", "resource": "c", "attributes": {"f": 1.5}})
    code, out, err = cli("append", "--jsonl", "--rejects", "rejects.jsonl",
                         stdin=f"{bad}\n{good2}\nnot json\n")
    assert code == 1 and len(out.splitlines()) == 1 and "2 rejected" in err
    rejected = [json.loads(r) for r in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [1, 3] and "float" in rejected[0]["reason"]
    assert rejected[1]["input"] == "not json"
    assert cli("append", "x", "--rejects", "r.jsonl")[0] == 2


def test_entries_are_checked_against_the_verified_checkpoint(
        cli: Any, server: RunningServer) -> None:
    cli("append", "--lines", stdin="".join(f"entries-check {i}\n" for i in range(20)))
    code, out, _ = cli("entries", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["index"] for r in rows] == list(range(len(rows)))
    with LogClient(server.address, ORIGIN) as client:
        head = client.checkpoint()
        root = parse_checkpoint(parse_note(head.note).text).root
        entries = [e for _, e in client.entries(0, head.size)]
        for begin in range(0, head.size, 3):
            for end in range(begin + 1, head.size + 1, 4):
                check_range(client, SHA256, begin, entries[begin:end], head.size, root)
        tampered = list(entries[2:9])
        tampered[3] = b"not what the log holds"
        with pytest.raises(VerificationError, match="entries"):
            check_range(client, SHA256, 2, tampered, head.size, root)
    code, _, err = cli("entries", "--begin", "5", "--end", str(10**6))
    assert code == 2 and "want 0 <= begin <= end <=" in one_line(err)


@pytest.mark.parametrize("size", range(1, 40))
def test_left_siblings_are_the_compact_range_before_the_leaf(size: int) -> None:
    leaves = [SHA256.hash_leaf(b"%d" % i) for i in range(size)]
    for index in range(size):
        plan = inclusion_plan(index, size)
        proof = plan.fold(SHA256, [_node(leaves, n.level, n.index) for n in plan.ids])
        want = CompactRange(SHA256)
        want.extend(leaves[:index])
        assert left_siblings(index, size, proof) == list(want.hashes)


def _node(leaves: list[bytes], level: int, index: int) -> bytes:
    r = CompactRange(SHA256)
    r.extend(leaves[index << level:(index + 1) << level])
    return r.root()


def test_help_explains_every_option_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top and "examples:" in top
    parser = build_parser()
    for command in subcommands():
        with pytest.raises(SystemExit):
            main([command.name, "--help"])
        text = capsys.readouterr().out
        assert f"example:\n  {command.example}" in text, command.name
        assert command.example.startswith(f"auditlog {command.name}")
    undocumented = [
        (name, action.dest) for name, sub in _subparsers(parser).items()
        for action in sub._actions if not action.help and action.dest != "help"
    ]
    assert undocumented == []


def _subparsers(parser: Any) -> dict[str, Any]:
    for action in parser._actions:
        if action.choices and isinstance(action.choices, dict):
            return dict(action.choices)
    raise AssertionError("no subcommands")
