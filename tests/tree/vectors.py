"""A tiny loader for tests/vectors/*.json (see tests/vectors/README.md for their schemas)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent.parent / "vectors"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The parsed ``tests/vectors/<name>.json`` (Python's json keeps big integers exact)."""
    data: dict[str, Any] = json.loads((VECTORS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


def case_id(case: dict[str, Any]) -> str:
    """A readable pytest id for a vector case."""
    return str(case.get("name") or case.get("vkey") or case.get("path") or "case")[:80]


def note_bytes(case: dict[str, Any]) -> bytes:
    """The exact note bytes of a notes.json case (``note`` text or ``note_hex``)."""
    if "note_hex" in case:
        return bytes.fromhex(case["note_hex"])
    return str(case["note"]).encode()
