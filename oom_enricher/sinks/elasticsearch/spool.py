"""A bounded on-disk spool of documents waiting for Elasticsearch, oldest segment first.

Each append writes one segment file (JSON Lines) to a temporary name, fsyncs it, renames it
into place and fsyncs the directory, so a segment is either wholly there or not at all, also
after a crash. Segments are numbered; draining reads them in number order, so documents leave
in the order they came. A lock file keeps two processes from sharing one spool.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from oom_enricher.decimal_text import is_decimal

SEGMENT_SUFFIX = ".jsonl"
TMP_SUFFIX = ".tmp"
log = logging.getLogger(__name__)


class SpoolLockedError(RuntimeError):
    pass


@dataclass(frozen=True)
class Segment:
    path: Path
    documents: list[dict]


class DiskSpool:
    def __init__(self, directory: Path | str, max_bytes: int = 256 << 20) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.directory / ".lock", "a+b")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise SpoolLockedError(f"spool {self.directory} is in use by another process") from exc
        for leftover in self.directory.glob(f"*{TMP_SUFFIX}"):
            leftover.unlink()  # an append that crashed before its rename: never acknowledged
        self._sizes: dict[Path, tuple[int, int]] = {}
        for path in self._segment_paths():
            data = path.read_bytes()
            self._sizes[path] = (len(data), data.count(b"\n"))
        last = max((int(p.stem) for p in self._sizes), default=0)
        self._next_seq = last + 1

    def _segment_paths(self) -> list[Path]:
        """Segments (NUMBER.jsonl) in order; anything else in the directory is left alone."""
        segments, strays = [], []
        for path in self.directory.glob(f"*{SEGMENT_SUFFIX}"):
            (segments if is_decimal(path.stem) else strays).append(path)
        if strays:
            log.warning(
                "spool %s: ignoring %d file(s) that are not spool segments, e.g. %s",
                self.directory,
                len(strays),
                strays[0].name,
            )
        return sorted(segments, key=lambda p: int(p.stem))

    @property
    def bytes(self) -> int:
        return sum(size for size, _ in self._sizes.values())

    @property
    def pending(self) -> int:
        """Documents waiting in the spool."""
        return sum(count for _, count in self._sizes.values())

    def append(self, documents: list[dict]) -> list[dict]:
        """Writes as many documents as fit under max_bytes; returns the ones that did not."""
        room = self.max_bytes - self.bytes
        lines: list[bytes] = []
        used = 0
        for doc in documents:
            line = orjson.dumps(doc) + b"\n"
            if used + len(line) > room:
                break
            lines.append(line)
            used += len(line)
        if lines:
            self._write_segment(b"".join(lines), len(lines))
        return documents[len(lines) :]

    def _write_segment(self, data: bytes, count: int) -> None:
        path = self.directory / f"{self._next_seq:012d}{SEGMENT_SUFFIX}"
        tmp = path.with_suffix(TMP_SUFFIX)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            tmp.unlink(missing_ok=True)  # a disk-full write leaves no half segment behind
            raise
        os.replace(tmp, path)
        self._fsync_directory()
        self._sizes[path] = (len(data), count)
        self._next_seq += 1

    def oldest(self) -> Segment | None:
        if not self._sizes:
            return None
        path = min(self._sizes, key=lambda p: int(p.stem))
        docs = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        return Segment(path, docs)

    def remove(self, segment: Segment) -> None:
        segment.path.unlink(missing_ok=True)
        self._fsync_directory()
        self._sizes.pop(segment.path, None)

    def replace(self, segment: Segment, remaining: list[dict]) -> None:
        """Keeps only `remaining` of a segment (what a partial drain could not deliver)."""
        if not remaining:
            self.remove(segment)
            return
        data = b"".join(orjson.dumps(doc) + b"\n" for doc in remaining)
        tmp = segment.path.with_suffix(TMP_SUFFIX)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, segment.path)
        self._fsync_directory()
        self._sizes[segment.path] = (len(data), len(remaining))

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if not self._lock_file.closed:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
