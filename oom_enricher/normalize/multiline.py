"""Undo the ways shippers fold a multi-line kernel record into one line."""

from __future__ import annotations

import re

# rsyslog escapes control characters as `#ooo` octal: a newline becomes `#012`.
RSYSLOG_NEWLINE = "#012"
# /dev/kmsg escapes non-printables and backslash as `\xNN`.
KMSG_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def split_folded(message: str, from_kmsg: bool = False) -> list[str]:
    """One message -> its physical lines."""
    if from_kmsg and "\\x" in message:
        pieces = message.split("\\x0a")
        return [KMSG_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), piece) for piece in pieces]
    if RSYSLOG_NEWLINE in message:
        message = message.replace(RSYSLOG_NEWLINE, "\n")
    if "\n" in message:
        return message.split("\n")
    return [message]


# Two records glued onto one line when a newline was lost: the second begins at a printk
# stamp (`...file-rss:0kB[  123.456789] oom_reaper: ...`; every kernel prints six digits),
# or right after the last field of a line the kernel always ends the same way.
GLUED_STAMP = re.compile(r"\[\s*(?P<mono>\d{1,10}\.\d{6})\] ?")
# The next record's own syslog prefix before its stamp (`...uid=0Nov 25 10:00:05 web1 kernel: `)
# belongs to neither record's text.
GLUED_SYSLOG_PREFIX = re.compile(
    r"(?:<\d{1,3}>)?[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?(?: \S+)? kernel: ?$"
)
# A whole syslog prefix inside a line, with no printk stamp after it: two journalctl (short)
# or RFC 3164 records a terminal copy joined, the second after the first's padding
# (`... 0 xxd      Dec 21 13:28:12 linbox kernel: [ 100845] ...`).
GLUED_SYSLOG_RECORD = re.compile(
    r"(?<=\S)\s+(?:<\d{1,3}>)?[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)? \S+ kernel: ?"
)
GLUED_AFTER_END = (
    # 4.19+ summary: `oom-kill:constraint=...,task=x,pid=1,uid=0` then `Memory cgroup out...`
    ("uid=", re.compile(r"oom-kill:constraint=.*?,uid=\d+(?=[A-Za-z])")),
    # 4.x-6.x kill line: `... UID:0 pgtables:476kB oom_score_adj:1000` then the next line
    ("oom_score_adj:", re.compile(r"Killed process .*? oom_score_adj:-?\d+(?=[A-Za-z])")),
    # 2.6-5.0 selection: `... score 3 or sacrifice child` / 2.6.35 `or a child`, then the kill
    (
        " child",
        re.compile(
            r"[Kk]ill process +\d+ \(.*?\) (?:with )?score -?\d+ or (?:sacrifice|a) child"
            r"(?= ?[A-Z])"
        ),
    ),
    # 2.6.3x kill line ends at its file rss: `... anon-rss:448kB, file-rss:1088kB` then the next
    ("file-rss:", re.compile(r"Killed process +\d+ \(.*?\) .*?file-rss:\d+kB(?= ?[A-Z])")),
)


def may_be_glued(message: str) -> bool:
    """False for almost every line, by a few substring tests."""
    return (
        message.find("[", 1) != -1
        or " kernel:" in message
        or "uid=" in message
        or "oom_score_adj:" in message
        or ("ill process" in message and ("Killed process" in message[1:] or "child" in message))
    )


def split_glued(message: str) -> list[tuple[float | None, str]]:
    """One message -> (printk stamp or None, text) per record glued into it."""
    if not may_be_glued(message):
        return [(None, message)]
    pieces: list[tuple[float | None, str]] = []
    mono: float | None = None
    start = 0
    for stamp in GLUED_STAMP.finditer(message, 1):
        text = message[start : stamp.start()]
        if "kernel:" in text:
            prefix = GLUED_SYSLOG_PREFIX.search(text)
            text = text[: prefix.start()] if prefix else text
        pieces.extend(_split_after_end(mono, text))
        mono, start = float(stamp["mono"]), stamp.end()
    pieces.extend(_split_after_end(mono, message[start:]))
    return [piece for piece in pieces if piece[1].strip()] or [(None, message)]


def _split_after_end(mono: float | None, text: str) -> list[tuple[float | None, str]]:
    if " kernel:" in text and (glued := GLUED_SYSLOG_RECORD.search(text)) is not None:
        rest = text[glued.end() :]
        return [*_split_after_end(mono, text[: glued.start()]), *_split_after_end(None, rest)]
    ends = [
        found.end()
        for needle, pattern in GLUED_AFTER_END
        if needle in text and (found := pattern.search(text)) is not None
    ]
    end = min((at for at in ends if at < len(text)), default=None)
    if end is None:
        return [(mono, text)]
    # a paragraph reflowed by a mail client keeps the space where the newline was
    head, rest = text[:end], text[end:].removeprefix(" ")
    return [(mono, head), *_split_after_end(mono, rest)]
