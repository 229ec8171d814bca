"""The key list of a log or a witness, for rotation (``[[log.key]]`` / ``[[witness.key]]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class KeyConfig:
    """One key: ``active`` keys sign, ``retired`` ones are only listed (give ``vkey`` when the
    private key file is gone)."""

    file: Path | None = None
    vkey: str | None = None
    state: str = "active"
    since: str = ""
    until: str = ""

    def __post_init__(self) -> None:
        if self.state not in ("active", "retired"):
            raise ValueError(f"key state = {self.state!r}, want 'active' or 'retired'")
        if self.file is None and (self.state == "active" or self.vkey is None):
            raise ValueError("a key needs file (an active key) or vkey (a retired one)")
