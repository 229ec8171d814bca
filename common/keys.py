"""The key list of a log or a witness, for rotation (``[[log.key]]`` / ``[[witness.key]]``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class KeyConfig:
    """One key: ``active`` keys sign, ``retired`` ones are only listed (give ``vkey`` when the
    private key file is gone)."""

    file: Path | None = None
    """The private key file (mode 0600); an active key's file is created if missing."""
    vkey: str | None = None
    """The verifier key, for a retired key whose file is gone."""
    state: str = "active"
    """"active" keys sign; "retired" ones sign nothing and are only listed."""
    since: str = ""
    """When the key started to be used (a date, informational)."""
    until: str = ""
    """When it stopped (a date, informational)."""

    def __post_init__(self) -> None:
        if self.state not in ("active", "retired"):
            raise ValueError(f"key state = {self.state!r}, want 'active' or 'retired'")
        if self.file is None and (self.state == "active" or self.vkey is None):
            raise ValueError("a key needs file (an active key) or vkey (a retired one)")
