"""Inputs as their bytes: a rotated log compressed by logrotate is read through its codec.

`syslog.2.gz`, `messages-20261101.xz`: the codec is told by the first bytes (the magic
number), not the name, so stdin and renamed files are read too. The decompressed stream has
no file number (it is read in chunks, never mapped) but keeps the file's modification time,
which dates RFC 3164 stamps. A stream cut short or corrupt ends in an OSError, as a read error
does: what came before it is kept.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import BinaryIO

# (magic number, codec name): gzip (RFC 1952), bzip2, xz, zstd (RFC 8878)
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
MAGIC_BYTES = max(len(magic) for magic, _ in MAGIC)
PIECE_BYTES = 1 << 20  # decompressed at a time: a cut keeps what came before it
_OPENERS: dict[str, Callable[[BinaryIO], io.BufferedIOBase]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "bzip2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
}


def codec_of(head: bytes) -> str | None:
    """The codec whose magic number `head` begins with, if any."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


def open_input(path: str) -> BinaryIO:
    """The bytes of `path` ("-": standard input), decompressed when they are compressed."""
    raw = _stdin() if path == "-" else open(path, "rb")  # noqa: SIM115 - closed with it
    try:
        codec = codec_of(raw.peek(MAGIC_BYTES)[:MAGIC_BYTES])
        if codec is None:
            return raw
        if codec not in _OPENERS:
            name = "FILE" if path == "-" else path
            raise OSError(f"{codec}-compressed; decompress it first ({codec} -dc {name} | ...)")
        return Decompressed(raw, codec)
    except BaseException:
        raw.close()
        raise


def _stdin() -> io.BufferedReader:
    return os.fdopen(os.dup(sys.stdin.fileno()), "rb")


class Decompressed(io.RawIOBase):
    """A compressed file's decompressed bytes, read in order."""

    def __init__(self, raw: BinaryIO, codec: str) -> None:
        super().__init__()
        self._raw = raw
        self.codec = codec
        self._stream = _OPENERS[codec](raw)
        self.modified = modified_time(raw)
        self._error: OSError | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all: -1). Bytes decompressed before a corrupt or missing part
        are returned first; the error comes with the next read."""
        if self._error is not None:
            raise self._error
        pieces: list[bytes] = []
        total = 0
        while size < 0 or total < size:
            want = PIECE_BYTES if size < 0 else min(PIECE_BYTES, size - total)
            try:
                piece = self._stream.read1(want)
            except (EOFError, lzma.LZMAError, OSError) as error:
                self._error = OSError(f"{self.codec} data corrupt or cut short ({error})")
                if pieces:
                    break
                raise self._error from None
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
        return b"".join(pieces)

    def fileno(self) -> int:
        raise io.UnsupportedOperation("decompressed: no file number")

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
            self._raw.close()
        super().close()


def modified_time(stream: BinaryIO) -> datetime | None:
    """A regular file's modification time (a compressed one's too): its RFC 3164 stamps are
    dated no later."""
    if isinstance(stream, Decompressed):
        return stream.modified
    try:
        info = os.fstat(stream.fileno())
    except OSError:
        return None
    return datetime.fromtimestamp(info.st_mtime, UTC) if stat.S_ISREG(info.st_mode) else None
