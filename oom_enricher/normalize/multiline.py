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
