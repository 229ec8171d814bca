"""The shape of a TOML config's tables: ``[name]`` (one table) or ``[[name]]`` (an array of
tables), for the log server's and the witness's config readers (TOML 1.0, "Table" and "Array of
Tables").

The usual slip, ``[log]`` for ``[[log]]``, parses as valid TOML of the other shape; read as the
wanted one it would be reported as unknown one-letter keys or a Python error, so it is named here.
"""

from __future__ import annotations

from typing import Any


def array_of_tables(value: Any, name: str) -> list[dict[str, Any]]:
    """``value`` as the array of tables ``[[name]]``; ValueError naming what it is instead."""
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        got = "a single [table]" if isinstance(value, dict) else repr(value)
        raise ValueError(f"{name}: got {got}, want an array of tables: [[{name}]]")
    return value


def one_table(value: Any, name: str) -> dict[str, Any]:
    """``value`` as the one table ``[name]``; ValueError naming what it is instead."""
    if not isinstance(value, dict):
        got = "an array of tables" if isinstance(value, list) else repr(value)
        raise ValueError(f"{name}: got {got}, want one table: [{name}]")
    return value
