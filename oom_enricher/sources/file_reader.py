"""Lines from files or stdin, read in large chunks; undecodable bytes replaced and counted."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

CHUNK_BYTES = 1 << 20
_REPLACEMENT = "\ufffd"
_REPLACEMENT_BYTES = _REPLACEMENT.encode()


@dataclass
class ReadStats:
    bytes_read: int = 0
    replaced_chars: int = 0  # undecodable bytes turned into U+FFFD
    errors: list[str] = field(default_factory=list)  # one line per file that could not be read


ProgressCallback = Callable[[int, int | None], None]  # (bytes read, total bytes or None)


def read_lines(
    paths: list[str],
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[str]:
    """Every line of every input in order, newline removed. "-" reads standard input."""
    stats = stats if stats is not None else ReadStats()
    for path in paths or ["-"]:
        try:
            with _open(path) as stream:
                total = _size(stream)
                yield from stream_lines(stream, stats, progress, total)
        except OSError as error:
            stats.errors.append(f"{path}: {error.strerror or error}")


def _open(path: str) -> BinaryIO:
    if path == "-":
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    return open(path, "rb")  # noqa: SIM115 - closed by the caller's with


def _size(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size or None
    except OSError:
        return None


def stream_lines(
    stream: BinaryIO, stats: ReadStats, progress: ProgressCallback | None, total: int | None
) -> Iterator[str]:
    carry = b""
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        stats.bytes_read += len(chunk)
        if progress:
            progress(stats.bytes_read, total)
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield from _split(decode_block(data[: cut + 1], stats))
    if carry:
        yield from _split(decode_block(carry, stats))


def _split(text: str) -> Iterator[str]:
    # Only "\n" ends a line: str.splitlines() would also split on form feeds and other
    # separators a kernel message may carry.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        yield line[:-1] if line.endswith("\r") else line


def decode_block(data: bytes, stats: ReadStats) -> str:
    text = data.decode("utf-8", "replace")
    replaced = text.count(_REPLACEMENT)
    if replaced:
        stats.replaced_chars += replaced - data.count(_REPLACEMENT_BYTES)
    return text
