"""Durable processor state: reports in progress, source positions, recently handled chunks.

Written atomically (temp file, fsync, rename) so a SIGKILL leaves either the old or the
new state, never a torn one.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

STATE_VERSION = 1


class StateStore:
    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._last: bytes | None = None
        self.writes = 0

    def load(self) -> dict:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            state = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Keep the unreadable file for a human and start empty rather than not at all.
            broken = self.path.with_suffix(".corrupt")
            os.replace(self.path, broken)
            log.error("state file %s is not JSON; moved to %s", self.path, broken)
            return {}
        if state.get("version") != STATE_VERSION:
            log.warning("state file %s has version %s; ignored", self.path, state.get("version"))
            return {}
        self._last = raw
        return state

    def save(self, state: dict) -> bool:
        """Write `state` unless it equals what is on disk; returns whether it wrote."""
        raw = orjson.dumps({**state, "version": STATE_VERSION})
        if raw == self._last:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(raw)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        if self.fsync:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._last = raw
        self.writes += 1
        return True


class RecentChunks:
    """Chunk ids already handled, so a resent chunk whose ack was lost is not fed twice."""

    def __init__(self, limit: int = 10_000, items: list | None = None) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict((i, None) for i in items or [])

    def __contains__(self, chunk: str) -> bool:
        return chunk in self._ids

    def add(self, chunk: str) -> None:
        self._ids[chunk] = None
        self._ids.move_to_end(chunk)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def as_list(self) -> list[str]:
        return list(self._ids)
