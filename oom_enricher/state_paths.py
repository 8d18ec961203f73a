"""Where oom-enricher keeps its files when no directory is given: a per-user state directory."""

from __future__ import annotations

import os
from pathlib import Path


def user_state_dir() -> Path:
    """$XDG_STATE_HOME/oom-enricher, else ~/.local/state/oom-enricher (XDG base directories)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "oom-enricher"
