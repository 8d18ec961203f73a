"""Inputs saved by Windows tools, read as UTF-8: a byte order mark, UTF-16 text.

Notepad and PowerShell's `Out-File -Encoding utf8` put a UTF-8 byte order mark in front of
the first line, and Windows PowerShell's `>` (`ssh node dmesg > oom.txt`) writes UTF-16LE
with its mark. The first line's prefix then began with the mark, and UTF-16 text was a
NUL between every character: no line of it was read. Such an input is read through a
decoder that writes UTF-8 and drops the mark; any other input is left as it is (and a
regular file may still be mapped).
"""

from __future__ import annotations

import codecs
import io
from typing import BinaryIO

# (mark, codec): the longest mark first (UTF-32LE's begins with UTF-16LE's)
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
MARK_BYTES = 4


def marked_codec(head: bytes) -> tuple[str, int] | None:
    """(codec, length of the mark) when `head` begins with a byte order mark."""
    for mark, codec in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return codec, len(mark)
    return None


def as_utf8(stream: BinaryIO) -> BinaryIO:
    """`stream` itself when it holds no byte order mark, else its text as UTF-8 without it.
    A stream that cannot seek (a pipe) is replayed from the bytes looked at."""
    head = stream.read(MARK_BYTES)
    found = marked_codec(head)
    if found is None:
        return stream if _rewound(stream) else _Replayed(head, stream)
    codec, mark = found
    if codec == "utf-8":
        return _Replayed(head[mark:], stream)  # its bytes as they are, read from after the mark
    return _Transcoded(stream, codec, head[mark:])


def _rewound(stream: BinaryIO) -> bool:
    try:
        if stream.seekable():
            stream.seek(0)
            return True
    except OSError:
        pass
    return False


class _Replayed:
    """A stream whose first bytes were read to look for a mark. It has no file number: it
    is read in chunks, never mapped (a mapping would begin at the mark)."""

    def __init__(self, first: bytes, stream: BinaryIO) -> None:
        self._first, self._stream = first, stream

    def read(self, size: int = -1) -> bytes:
        data, self._first = self._first, b""
        if size < 0:
            return data + self._stream.read()
        return data + self._stream.read(max(size - len(data), 0)) if size > len(data) else data

    def fileno(self) -> int:
        raise io.UnsupportedOperation("read through a byte order mark")


class _Transcoded(_Replayed):
    """The text of `stream` in `codec`, read as UTF-8 bytes (undecodable units: U+FFFD)."""

    def __init__(self, stream: BinaryIO, codec: str, first: bytes) -> None:
        super().__init__(first, stream)
        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self._done = False

    def read(self, size: int = -1) -> bytes:
        out: list[bytes] = []
        have = 0
        while not self._done and (size < 0 or have < size):
            raw = super().read(size if size > 0 else 1 << 20)
            self._done = not raw
            text = self._decoder.decode(raw, final=self._done).encode("utf-8", "surrogatepass")
            out.append(text)
            have += len(text)
        return b"".join(out)
