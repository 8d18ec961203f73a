"""Documents as JSON Lines on stdout (also what `serve --dry-run` prints).

Each document is one line written with one `write(2)` of the complete line, bypassing the
stream's buffer, so a process killed between documents never leaves half a line behind. A
report amended by lines that arrived late is written again under the same `event.id`: a
later line with the same id supersedes an earlier one. A line whose `event.supersedes` lists
ids (the report's kill line came after it was written without one, so its id changed)
replaces the lines written before under those ids: they are the same kill. A later line
under such an id (a fragment given back to its own report) stands again.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
from dataclasses import dataclass
from typing import BinaryIO

import orjson

log = logging.getLogger(__name__)


@dataclass
class StreamSinkStats:
    received: int = 0
    written: int = 0
    torn_lines_closed: int = 0  # a line a killed predecessor left unfinished in the file


class JsonLinesSink:
    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.stats = StreamSinkStats()
        self._fd = _file_descriptor(self.stream)
        if self._fd is not None:
            self.stream.flush()
            self._close_torn_line(self._fd)

    def send(self, doc: dict) -> None:
        self.stats.received += 1
        line = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) + b"\n"
        if self._fd is None:
            self.stream.write(line)
        else:
            _write_all(self._fd, line)
        self.stats.written += 1

    def flush(self, timeout: float | None = None) -> bool:
        self.stream.flush()
        return True

    def close(self) -> None:
        self.stream.flush()

    @property
    def spool_pending(self) -> int:
        return 0

    def _close_torn_line(self, fd: int) -> None:
        """Appending to a file whose last line a killed writer left unfinished: end that
        line first, so the next document is not glued to the fragment."""
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return
        if _last_byte(fd, info.st_size) != b"\n":
            _write_all(fd, b"\n")
            self.stats.torn_lines_closed += 1
            log.warning("output ended in an unfinished line (a killed writer); closed it")


def _file_descriptor(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _last_byte(fd: int, size: int) -> bytes | None:
    try:
        return os.pread(fd, 1, size - 1)
    except OSError:  # opened write-only (`>>` redirection): read it through another descriptor
        pass
    try:
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)
    except OSError:
        return b"\n"  # cannot tell: assume whole
    try:
        return os.pread(reader, 1, size - 1)
    finally:
        os.close(reader)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
