"""Follow a log file (e.g. /var/log/kern.log) through rotation, like `tail -F`.

Rotation by rename (logrotate's default) is seen as a new inode at the path: the old file
is read to its end first, then the new one from its start. copytruncate is seen as the
file getting shorter than the read offset: reading restarts at 0. The (inode, offset) of
the last handed-over line is persisted, so a restart continues where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, BinaryIO

from oom_enricher.counters import Counters, Tally
from oom_enricher.model import ShippedRecord

log = logging.getLogger(__name__)

SOURCE = "file"
Emit = Callable[[list[ShippedRecord], tuple[str, Any] | None], Awaitable[None]]


class FileFollower:
    def __init__(
        self,
        path: str,
        host: str | None = None,
        metrics: Counters | None = None,
        poll_interval: float = 0.25,
        from_beginning: bool = True,  # for a file never seen before
        batch: int = 1000,
        max_line: int = 1024 * 1024,
    ) -> None:
        self.path = path
        self.host = host
        self.metrics: Counters = metrics or Tally()
        self.poll_interval = poll_interval
        self.from_beginning = from_beginning
        self.batch = batch
        self.max_line = max_line
        self.key = f"file:{path}"
        self._stop = asyncio.Event()
        self._fh: BinaryIO | None = None
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""

    def stop(self) -> None:
        self._stop.set()

    def _open(self, position: dict | None) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            return False
        st = os.fstat(fh.fileno())
        self._fh, self._inode, self._partial = fh, st.st_ino, b""
        if (
            position
            and position.get("inode") == st.st_ino
            and position.get("offset", 0) <= st.st_size
        ):
            self._offset = int(position["offset"])
        elif position is None and not self.from_beginning:
            self._offset = st.st_size
        else:
            self._offset = 0
        fh.seek(self._offset)
        return True

    def _position(self) -> dict:
        return {"inode": self._inode, "offset": self._offset - len(self._partial)}

    def _rotated_away(self, position: dict | None) -> list[bytes]:
        """Lines written to our last file after the saved offset, when it was rotated (renamed
        to `<path>.N`) while we were not running."""
        if not position or position.get("inode") is None:
            return []
        try:
            if os.stat(self.path).st_ino == position["inode"]:
                return []
        except FileNotFoundError:
            pass
        for candidate in sorted(glob.glob(glob.escape(self.path) + ".*")):
            try:
                with open(candidate, "rb") as fh:
                    if os.fstat(fh.fileno()).st_ino != position["inode"]:
                        continue
                    fh.seek(int(position.get("offset", 0)))
                    data = fh.read()
            except OSError:
                continue
            log.info("file: reading the rest of %s, rotated while stopped", candidate)
            lines = data.split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            return lines
        return []

    async def run(self, emit: Emit, position: dict | None = None) -> None:
        first = position
        leftover = self._rotated_away(position)
        if leftover:
            await self._emit(emit, leftover)
            first = {"inode": None, "offset": 0}  # then the new file from its start
        while not self._stop.is_set():
            if self._fh is None and not self._open(first):
                await self._sleep()
                continue
            first = None
            lines = self._read_available()
            if lines:
                await self._emit(emit, lines)
                continue
            if self._rotated():
                # Rename rotation: the old file was read to its end above; switch files.
                lines = self._read_available(final=True)
                if lines:
                    await self._emit(emit, lines)
                self._close()
                log.info("file: %s rotated; following the new file", self.path)
                continue
            await self._sleep()
        self._close()

    async def _emit(self, emit: Emit, lines: list[bytes]) -> None:
        records = [
            ShippedRecord(
                message=line.decode("utf-8", "replace").rstrip("\r"),
                host=self.host,
                tag=SOURCE,
                fields={"source": SOURCE, "path": self.path},
            )
            for line in lines
        ]
        self.metrics.inc("records_in", {"source": SOURCE}, len(records))
        await emit(records, (self.key, self._position()))

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.poll_interval)

    def _rotated(self) -> bool:
        assert self._fh is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # moved away and not recreated yet: keep the old one
        if st.st_ino != self._inode:
            return True
        if st.st_size < self._offset:
            # copytruncate: the same inode got shorter; start over from its beginning.
            log.info("file: %s truncated; reading from the start", self.path)
            self._fh.seek(0)
            self._offset, self._partial = 0, b""
        return False

    def _read_available(self, final: bool = False) -> list[bytes]:
        assert self._fh is not None
        data = self._fh.read(4 * 1024 * 1024)
        if not data:
            if final and self._partial:
                line, self._partial = self._partial, b""
                return [line]
            return []
        self._offset += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        if len(self._partial) > self.max_line:
            lines.append(self._partial)
            self._partial = b""
            self.metrics.inc("errors", {"source": SOURCE, "kind": "long_line"})
        return lines

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh = None
