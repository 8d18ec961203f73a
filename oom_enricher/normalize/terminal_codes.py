"""Terminal colour codes in a copied line (`dmesg --color=always`, `journalctl` on a pager),
also in the caret notation `cat -v` shows them in, the status lines a pager printed
between the pages someone copied, and tmux's copy-mode position on the pane's top line."""

from __future__ import annotations

import re

# ECMA-48 control sequences (`ESC [ params final`), charset choices (`ESC ( B`, which
# `tput sgr0` writes) and the two-byte escapes.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[@-_])")


def without_terminal_codes(text: str) -> str:
    """The text as the terminal showed it: colour and cursor codes removed."""
    return _ESCAPE.sub("", text) if "\x1b" in text else text


# `cat -v` (and vim, a serial console's capture) show an escape as `^[` and the carriage
# return of a CRLF line end (Windows tools, a console's `\r\n`) as `^M`.
_CARET_ESCAPE = re.compile(r"\^\[(?=[\[()])")
_CARET_RETURN = re.compile(r"(?:\^M)+$")
CARETS_TO_SEE = 2


def shows_caret_notation(lines: list[str]) -> bool:
    """Whether CARETS_TO_SEE lines of the head end in `^M` or hold a `^[[` code."""
    shown = sum(1 for line in lines if line.endswith("^M") or "^[[" in line)
    return shown >= CARETS_TO_SEE


def from_caret_notation(text: str) -> str:
    """The line as written: `^[` an escape again (removed with the codes it begins), a
    trailing `^M` no text."""
    if "^" not in text:
        return text
    return _CARET_ESCAPE.sub("\x1b", _CARET_RETURN.sub("", text))


# What `more` (`--More--(25%)`) and `less` (`-M`/journalctl's `lines 1-45/210 50%`, `byte
# 2048/9000 22%`, `(END)`) print below a page: no line of the log, and nothing of it lost.
_PAGER_STATUS = re.compile(
    r"\s*(?:--More--(?:\(\d{1,3}%\))?|\(END\)"
    r"|(?:lines \d+-\d+|byte \d+)(?:/\d+)?(?: \d{1,3}%| \(END\))?)\s*"
)
_PAGER_FIRST = frozenset(" \t-(lb")


def is_pager_status(text: str) -> bool:
    return text[:1] in _PAGER_FIRST and _PAGER_STATUS.fullmatch(text) is not None


# tmux in copy mode shows the position (`[7/972]`) at the right edge of the pane's top line:
# a copy from there takes it, after the blanks up to the edge.
_COPY_MODE_POSITION = re.compile(r"\s{2,}\[\d+/\d+\]\s*$")


def shows_copy_mode_position(lines: list[str]) -> bool:
    return any(line.endswith("]") and _COPY_MODE_POSITION.search(line) for line in lines)


def without_copy_mode_position(text: str) -> str:
    if not text.endswith(("]", " ")):
        return text
    found = _COPY_MODE_POSITION.search(text)
    return text if found is None else text[: found.start()]
