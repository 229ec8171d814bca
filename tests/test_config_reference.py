"""docs/configuration.md is generated from the config dataclasses (tools/config_reference.py):
it must be what the code gives, and every key must say what it means."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tools import config_reference
from tools.config_reference import Section, rows


def test_the_committed_reference_is_up_to_date() -> None:
    committed = config_reference.PATH.read_text(encoding="utf-8")
    assert committed == config_reference.render(), (
        "docs/configuration.md is out of date: run '.venv/bin/python -m tools.config_reference'")


def test_every_file_and_table_is_there() -> None:
    text = config_reference.render()
    for table in ("[server]", "[server.tls]", "[[log]]", "[[log.witness]]", "[[log.key]]",
                  "[[principal]]", "[witness]", "[witness.tls]", "[[witness.key]]", "[archive]",
                  "[[ingest.syslog]]", "[ingest.syslog.tls]"):
        assert f"### `{table}`" in text
    for key in ("max_entry_bytes", "dedup", "witness_quorum", "refresh_s", "retention_days",
                "log_keys", "state_dir", "token_file", "poll_interval_s"):
        assert f"| `{key}` |" in text
    assert "| `vkey` | string or list of strings | `required` |" in text  # witness [[log]]


@dataclass(frozen=True, slots=True)
class _Undocumented:
    documented: int = 1
    """Says what it is."""
    forgotten: str = ""


def test_a_key_without_a_docstring_fails_the_generator() -> None:
    with pytest.raises(ValueError, match="forgotten: no docstring"):
        rows(Section("[x]", _Undocumented, ""))
    assert rows(Section("[x]", _Undocumented, "", frozenset({"forgotten"}))) == [
        ("documented", "integer", "1", "Says what it is.")]
