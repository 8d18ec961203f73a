"""An append-only journal: numbered records in segment files, each length-prefixed and CRC'd.

    journal = Journal(Path("state/journal"))
    for position, payload in journal.recover():   # what survived, oldest first
        ...
    first = journal.append([b"...", b"..."])        # durable; positions first, first + 1
    journal.release(low_water)                      # drop segments wholly below it

A record is `<length u32><crc32 u32><position u64><payload>`; the CRC covers the position and
the payload. Segments are named by the position of their first record. Crash points:

* a torn record at the tail (a kill during `write`) fails its length or CRC check at the next
  start; the segment is cut back to the last whole record, so the next write appends cleanly;
* written but not fsync'd: the kernel may keep any prefix of it; the same check applies, and
  nothing past the last fsync was ever acknowledged; a failed write or fsync is cut back at
  once, so a later record never follows a hole (segment files are unbuffered: cutting back
  needs no flush, which a full disk would refuse); when even that fails, the next write
  starts a new segment, and the torn tail stays behind in one that never grows again;
* a kill while deleting segments leaves a newer suffix of them, which is a valid journal
  (segments are deleted oldest first).
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from oom_enricher.decimal_text import is_decimal

log = logging.getLogger(__name__)

HEADER = struct.Struct("<IIQ")
SUFFIX = ".seg"
MAX_RECORD = 256 << 20  # a length beyond this is a torn header, not a record


class JournalError(OSError):
    pass


@dataclass
class RecoveryStats:
    records: int = 0
    torn_tails: int = 0  # segments cut back to their last whole record
    skipped_files: int = 0  # entries of the journal directory that are not segments


@dataclass
class _Segment:
    first: int
    path: Path
    size: int = 0


@dataclass
class Journal:
    directory: Path
    fsync: bool = True
    segment_bytes: int = 16 << 20
    stats: RecoveryStats = field(default_factory=RecoveryStats)

    def __post_init__(self) -> None:
        self._segments: list[_Segment] = []
        self._fh = None
        self._next = 0
        self._dirty_dir = False
        self._torn = False  # the active segment ends in a failed write that was not cut back

    # -- start -----------------------------------------------------------------------------

    def recover(self) -> Iterator[tuple[int, bytes]]:
        """Yields every whole record, oldest first; afterwards the journal is open for writes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segments = self._scan()
        for index, segment in enumerate(self._segments):
            last = index == len(self._segments) - 1
            for position, payload in self._read(segment, last):
                self._next = position + 1
                self.stats.records += 1
                yield position, payload
        if self._segments:
            self._next = max(self._next, self._segments[-1].first)

    def _scan(self) -> list[_Segment]:
        segments = []
        for path in self.directory.iterdir():
            if path.suffix != SUFFIX or not is_decimal(path.stem) or not path.is_file():
                self.stats.skipped_files += 1
                log.error("journal: %s is not a segment file; ignored", path)
                continue
            segments.append(_Segment(int(path.stem), path, path.stat().st_size))
        return sorted(segments, key=lambda s: s.first)

    def _read(self, segment: _Segment, last: bool) -> Iterator[tuple[int, bytes]]:
        data = segment.path.read_bytes()
        offset = 0
        while offset < len(data):
            record = _decode(data, offset)
            if record is None:
                break
            position, payload, offset = record
            yield position, payload
        if offset < len(data):
            self.stats.torn_tails += 1
            log.error(
                "journal: %s is torn at byte %d of %d; cut back to its last whole record",
                segment.path,
                offset,
                len(data),
            )
            if last:
                with open(segment.path, "r+b") as fh:
                    fh.truncate(offset)
                    self._sync_file(fh)
            # A torn segment that is not the last cannot grow again; what follows it is newer.
        segment.size = offset

    # -- writing ---------------------------------------------------------------------------

    @property
    def next_position(self) -> int:
        return self._next

    def append(self, payloads: list[bytes]) -> int:
        """Writes the records and makes them durable; returns the position of the first one.

        On an OSError (disk full, I/O error) nothing of this call stays in the journal: the
        segment is cut back, and the positions are handed out again by the next call."""
        first = self._next
        fh = self._active()
        start = self._segments[-1].size
        data = b"".join(_encode(first + i, p) for i, p in enumerate(payloads))
        try:
            _write_all(fh.fileno(), data)
            self._sync_file(fh)
            if self._dirty_dir and self.fsync:
                self._sync_directory()
            self._dirty_dir = False
        except OSError:
            self._undo(fh, start)
            raise
        self._segments[-1].size = start + len(data)
        self._next = first + len(payloads)
        return first

    def _undo(self, fh, start: int) -> None:
        try:
            os.ftruncate(fh.fileno(), start)
        except OSError:
            # Appending after the torn tail would put every later record behind a hole that
            # the next start cuts off: later records go to a new segment instead.
            log.exception("journal: could not cut back a failed write; starting a new segment")
            self._torn = True
        self._close_active()
        if start == 0:
            # Nothing was ever acknowledged in the new segment: drop it, it is made again.
            segment = self._segments.pop()
            segment.path.unlink(missing_ok=True)
            self._torn = False

    def _active(self):
        full = self._segments and (self._torn or self._segments[-1].size >= self.segment_bytes)
        if self._fh is not None and not full:
            return self._fh
        if not self._segments or full:
            self._torn = False
            self._close_active()
            self.directory.mkdir(parents=True, exist_ok=True)
            segment = _Segment(self._next, self.directory / f"{self._next:020d}{SUFFIX}")
            self._segments.append(segment)
            self._dirty_dir = True
        segment = self._segments[-1]
        self._fh = open(segment.path, "ab", buffering=0)  # noqa: SIM115 - kept for appends
        return self._fh

    def _close_active(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()
            except OSError:
                log.exception("journal: closing a segment failed")

    def starts_segment(self) -> bool:
        """Whether the next write opens a new segment (a checkpoint belongs at its head)."""
        return not self._segments or self._torn or self._segments[-1].size >= self.segment_bytes

    # -- cleaning --------------------------------------------------------------------------

    def release(self, low_water: int | None) -> int:
        """Deletes the segments whose records all lie below `low_water` (None: everything
        written so far may go); the segment being written is kept. Returns how many went."""
        limit = self._next if low_water is None else low_water
        removed = 0
        while len(self._segments) > 1 and self._segments[1].first <= limit:
            segment = self._segments.pop(0)
            segment.path.unlink(missing_ok=True)
            removed += 1
        if removed:
            self._dirty_dir = True
        return removed

    @property
    def bytes(self) -> int:
        return sum(segment.size for segment in self._segments)

    @property
    def first_position(self) -> int:
        """The position of the oldest record kept (the next one when there is none)."""
        return self._segments[0].first if self._segments else self._next

    @property
    def segments(self) -> int:
        return len(self._segments)

    def close(self) -> None:
        self._close_active()

    def _sync_file(self, fh) -> None:
        if self.fsync:
            fh.flush()
            os.fsync(fh.fileno())

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _encode(position: int, payload: bytes) -> bytes:
    head = struct.pack("<Q", position)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return HEADER.pack(len(payload), crc, position) + payload


def _decode(data: bytes, offset: int) -> tuple[int, bytes, int] | None:
    if offset + HEADER.size > len(data):
        return None
    length, crc, position = HEADER.unpack_from(data, offset)
    end = offset + HEADER.size + length
    if length > MAX_RECORD or end > len(data):
        return None
    payload = data[offset + HEADER.size : end]
    if zlib.crc32(payload, zlib.crc32(struct.pack("<Q", position))) != crc:
        return None
    return position, payload, end
