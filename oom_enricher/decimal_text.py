"""Text that `int()` reads as the plain decimal number a log or a file name writes.

`str.isdigit()` is no such test: it takes `²`, `①` and other digits `int()` refuses, so a
damaged or hostile byte sequence passed by it raises ValueError where the input is read.
"""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """ASCII digits only, at least one."""
    return text.isascii() and text.isdigit()


def is_signed_decimal(text: str) -> bool:
    """`is_decimal`, with at most one minus in front."""
    return is_decimal(text[1:] if text[:1] == "-" else text)
