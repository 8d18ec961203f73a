"""Terminal colour codes in a copied line (`dmesg --color=always`, `journalctl` on a pager),
and the status lines a pager printed between the pages someone copied."""

from __future__ import annotations

import re

# ECMA-48 control sequences (`ESC [ params final`), charset choices (`ESC ( B`, which
# `tput sgr0` writes) and the two-byte escapes.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-_])")


def without_terminal_codes(text: str) -> str:
    """The text as the terminal showed it: colour and cursor codes removed."""
    return _ESCAPE.sub("", text) if "\x1b" in text else text


# What `more` (`--More--(25%)`) and `less` (`-M`/journalctl's `lines 1-45/210 50%`, `byte
# 2048/9000 22%`, `(END)`) print below a page: no line of the log, and nothing of it lost.
_PAGER_STATUS = re.compile(
    r"\s*(?:--More--(?:\(\d{1,3}%\))?|\(END\)"
    r"|(?:lines \d+-\d+|byte \d+)(?:/\d+)?(?: \d{1,3}%| \(END\))?)\s*"
)
_PAGER_FIRST = frozenset(" \t-(lb")


def is_pager_status(text: str) -> bool:
    return text[:1] in _PAGER_FIRST and _PAGER_STATUS.fullmatch(text) is not None
