"""A table written with the wrong brackets (``[log]`` for ``[[log]]``, ``[[server]]`` for
``[server]``) is refused with a message naming the table and the brackets it wants, in both the
server's and the witness's config (docs/configuration.md: an unknown key is an error that names
it; before, ``[log]`` was reported as the unknown keys ['g', 'i', 'n', 'o', 'r'])."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditlog_tlog.server.config import parse_config as parse_server
from auditlog_tlog.tree.cosignature import CosignatureSigner
from auditlog_tlog.tree.keys import Ed25519Signer
from auditlog_tlog.witness.config import parse_config as parse_witness

LOG = '[[log]]\norigin = "a.example/log"\n'


@pytest.mark.parametrize(("text", "message"), [
    ('[log]\norigin = "a.example/log"\n',
     "log: got a single [table], want an array of tables: [[log]]"),
    ('[principal]\nname = "x"\n' + LOG,
     "principal: got a single [table], want an array of tables: [[principal]]"),
    ('[[server]]\nlisten = "127.0.0.1:1"\n' + LOG,
     "server: got an array of tables, want one table: [server]"),
    (LOG + '[log.key]\nfile = "k"\n',
     "log.key: got a single [table], want an array of tables: [[log.key]]"),
    (LOG + '[log.witness]\nvkey = "x"\n',
     "log.witness: got a single [table], want an array of tables: [[log.witness]]"),
    ("log = 3\n", "log: got 3, want an array of tables: [[log]]"),
])
def test_the_server_names_a_table_with_the_wrong_brackets(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_server(text, Path("/tmp"))
    assert str(info.value) == message


WITNESS = '[witness]\nname = "w.example/w1"\n'
WLOG = '[[log]]\norigin = "a.example/log"\nvkey = "x"\n'


@pytest.mark.parametrize(("text", "message"), [
    (WITNESS + '[log]\norigin = "a.example/log"\n',
     "log: got a single [table], want an array of tables: [[log]]"),
    (WITNESS + '[[archive]]\ntype = "local"\n' + WLOG,
     "archive: got an array of tables, want one table: [archive]"),
    ('[[witness]]\nname = "w.example/w1"\n' + WLOG,
     "witness: got an array of tables, want one table: [witness]"),
])
def test_the_witness_names_a_table_with_the_wrong_brackets(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_witness(text, Path("/tmp"))
    assert str(info.value) == message


def test_a_push_timeout_must_be_above_0_as_the_reference_says() -> None:
    # docs/configuration.md said (0..300) and the error "want 0..300" for 0, which it refused.
    witness = f'[[log.witness]]\nvkey = "{CosignatureSigner.generate("w.example/w").vkey()}"\n'
    for value in (0, 301):
        with pytest.raises(ValueError, match="want above 0 and at most 300"):
            parse_server(LOG + witness + f"timeout_s = {value}\n", Path("/tmp"))
    reference = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert "one push (above 0, at most 300)" in reference.read_text(encoding="utf-8")


def _bounds(table: str) -> list[tuple[str, str, str]]:
    """(key, low, high) of every ``(low..high)`` the reference gives in ``table``'s section."""
    reference = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    section = reference.read_text(encoding="utf-8").split(f"### `{table}`")[1].split("###")[0]
    return re.findall(r"^\| `(\w+)` \| (?:integer|number) \| `[^`]*` \| [^|]*?"
                      r"\((\d[\d.]*)\.\.(\d+)", section, re.MULTILINE)


def test_every_bound_the_reference_gives_for_log_is_the_one_enforced() -> None:
    bounds = _bounds("[[log]]")
    assert {name for name, _, _ in bounds} >= {"max_entry_bytes", "max_pending_entries",
                                               "checkpoint_interval_ms", "witness_interval_s"}
    for name, low_text, high_text in bounds:
        low, high = float(low_text), float(high_text)
        step = 0.001 if "." in low_text else 1
        for value, ok in ((low - step, False), (low, True), (high, True), (high + step, False)):
            shown = repr(value) if step < 1 else str(int(value))
            text = LOG + f"{name} = {shown}\n"
            if ok:
                parse_server(text, Path("/tmp"))
            else:
                with pytest.raises(ValueError, match=name):
                    parse_server(text, Path("/tmp"))


def test_every_bound_the_reference_gives_for_log_publish_is_the_one_enforced() -> None:
    # The reference gave no bounds for five of these keys; each (low..high) it gives now is
    # probed just inside and just outside.
    bounds = _bounds("[log.publish]")
    assert {name for name, _, _ in bounds} >= {"retention_days", "interval_s", "max_attempts",
                                               "timeout_s", "concurrency", "prune_after_days",
                                               "processes"}
    base = LOG + '[log.publish]\nbucket = "bucket-x"\n'
    for name, low_text, high_text in bounds:
        low, high = float(low_text), float(high_text)
        step = 0.001 if "." in low_text else 1
        fill = "" if name == "retention_days" else "retention_days = 1\n"
        for value, ok in ((low - step, False), (low, True), (high, True), (high + step, False)):
            shown = repr(value) if step < 1 else str(int(value))
            text = base + fill + f"{name} = {shown}\n"
            if ok:
                parse_server(text, Path("/tmp"))
            else:
                with pytest.raises(ValueError, match=name):
                    parse_server(text, Path("/tmp"))


def test_every_bound_the_reference_gives_for_witness_is_the_one_enforced() -> None:
    bounds = _bounds("[witness]")
    assert {name for name, _, _ in bounds} >= {"refresh_s", "max_connections"}
    log = f'[[log]]\norigin = "a.example/log"\nvkey = "{Ed25519Signer.generate("a.example/log").vkey()}"\n'
    for name, low_text, high_text in bounds:
        low, high = float(low_text), float(high_text)
        step = 0.001 if "." in low_text or name.endswith("_s") else 1
        extra = "max_connections_per_peer = 1\n" if name == "max_connections" else ""
        for value, ok in ((low - step, False), (low, True), (high, True), (high + step, False)):
            shown = repr(value) if step < 1 else str(int(value))
            text = WITNESS + extra + f"{name} = {shown}\n" + log
            if ok:
                parse_witness(text, Path("/tmp"))
            else:
                with pytest.raises(ValueError, match=name):
                    parse_witness(text, Path("/tmp"))
