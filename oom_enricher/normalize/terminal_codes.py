"""Terminal colour codes in a copied line: `dmesg --color=always`, `journalctl` on a pager."""

from __future__ import annotations

import re

# ECMA-48 control sequences (`ESC [ params final`), charset choices (`ESC ( B`, which
# `tput sgr0` writes) and the two-byte escapes.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-_])")


def without_terminal_codes(text: str) -> str:
    """The text as the terminal showed it: colour and cursor codes removed."""
    return _ESCAPE.sub("", text) if "\x1b" in text else text
