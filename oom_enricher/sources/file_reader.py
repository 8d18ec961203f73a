"""Lines from files or stdin, read in large chunks; undecodable bytes replaced and counted."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from oom_enricher.sources.compressed_files import open_input
from oom_enricher.sources.text_encoding import as_utf8

CHUNK_BYTES = 1 << 20
# A kernel line is at most about 1 KiB (printk's record size); anything far longer is not a
# log line (/dev/zero, a binary file). Longer lines keep their first MAX_LINE_BYTES bytes.
MAX_LINE_BYTES = 1 << 20
_REPLACEMENT = "\ufffd"
_REPLACEMENT_BYTES = _REPLACEMENT.encode()


@dataclass
class ReadStats:
    bytes_read: int = 0
    replaced_chars: int = 0  # undecodable bytes turned into U+FFFD
    errors: list[str] = field(default_factory=list)  # one line per file that could not be read
    lines_cut: int = 0  # lines longer than the line cap, cut to it
    bytes_cut: int = 0


ProgressCallback = Callable[[int, int | None], None]  # (bytes read, total bytes or None)


def read_lines(
    paths: list[str],
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[str]:
    """Every line of every input in order, newline removed. "-" reads standard input."""
    stats = stats if stats is not None else ReadStats()
    for path in paths or ["-"]:
        try:
            with open_input(path) as stream:
                total = _size(stream)
                yield from stream_lines(as_utf8(stream), stats, progress, total, max_line_bytes)
        except OSError as error:
            stats.errors.append(f"{path}: {error.strerror or error}")


def _size(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size or None
    except OSError:
        return None


def stream_lines(
    stream: BinaryIO,
    stats: ReadStats,
    progress: ProgressCallback | None,
    total: int | None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[str]:
    carry = b""
    cutting = False  # inside a line already cut to the cap: skip to its end
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        stats.bytes_read += len(chunk)
        if progress:
            progress(stats.bytes_read, total)
        if cutting:
            chunk, cutting = skip_to_line_end(chunk, stats)
        data = carry + chunk
        cut = data.rfind(b"\n")
        lines, carry = (b"", data) if cut < 0 else (data[: cut + 1], data[cut + 1 :])
        if len(lines) > max_line_bytes:
            lines = b"\n".join(cap_line(x, max_line_bytes, stats) for x in lines.split(b"\n"))
        yield from _split(decode_block(lines, stats))
        if len(carry) > max_line_bytes:
            carry, cutting = cap_line(carry, max_line_bytes, stats), True
    if carry:
        yield from _split(decode_block(carry, stats))


def cap_line(line: bytes, max_line_bytes: int, stats: ReadStats) -> bytes:
    """The line's first max_line_bytes bytes; a cut is counted."""
    if len(line) <= max_line_bytes:
        return line
    stats.lines_cut += 1
    stats.bytes_cut += len(line) - max_line_bytes
    return line[:max_line_bytes]


def skip_to_line_end(chunk: bytes, stats: ReadStats) -> tuple[bytes, bool]:
    """The rest of a cut line dropped from chunk; (what remains, still inside the line)."""
    end = chunk.find(b"\n")
    if end < 0:
        stats.bytes_cut += len(chunk)
        return b"", True
    stats.bytes_cut += end
    return chunk[end:], False


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
