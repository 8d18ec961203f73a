"""Kernel entries of the systemd journal, read from a `journalctl -o json -f -k` subprocess.

The cursor of the last entry handed over is persisted; a restart passes it back with
`--after-cursor`, so entries are not emitted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from oom_enricher.counters import Counters, Tally
from oom_enricher.model import ShippedRecord
from oom_enricher.sources.record_shapes import ShapeOptions, from_record

log = logging.getLogger(__name__)

SOURCE = "journal"
DEFAULT_COMMAND = ("journalctl", "-o", "json", "-f", "-k", "--no-pager")
Emit = Callable[[list[ShippedRecord], tuple[str, Any] | None], Awaitable[None]]


class JournalSource:
    def __init__(
        self,
        command: list[str] | tuple[str, ...] = DEFAULT_COMMAND,
        metrics: Counters | None = None,
        shape: ShapeOptions | None = None,
        first_start: str = "boot",  # boot: the current boot's entries; tail: only new ones
        batch: int = 500,
    ) -> None:
        self.command = list(command)
        self.metrics: Counters = metrics or Tally()
        self.shape = shape or ShapeOptions(host_fallback="none")
        self.first_start = first_start
        self.batch = batch
        self.key = "journal"
        self._proc: asyncio.subprocess.Process | None = None

    def argv(self, position: dict | None) -> list[str]:
        cursor = (position or {}).get("cursor")
        if cursor:
            return [*self.command, f"--after-cursor={cursor}"]
        return [*self.command, "-b" if self.first_start == "boot" else "--lines=0"]

    async def run(self, emit: Emit, position: dict | None = None) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv(position),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=4 * 1024 * 1024,
        )
        assert self._proc.stdout is not None
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)
        pump = asyncio.create_task(self._pump(self._proc.stdout, queue))
        try:
            while True:
                line = await queue.get()
                if not line:
                    break
                lines = [line]
                while len(lines) < self.batch and not queue.empty():
                    lines.append(queue.get_nowait())
                ended = not lines[-1]
                records, cursor = self._records([x for x in lines if x])
                if records:
                    self.metrics.inc("records_in", {"source": SOURCE}, len(records))
                    await emit(records, (self.key, {"cursor": cursor}) if cursor else None)
                if ended:
                    break
        finally:
            pump.cancel()
            await self.stop()
        err = b""
        if self._proc.stderr is not None:
            err = await self._proc.stderr.read()
        if self._proc.returncode not in (0, None, -15):
            self.metrics.inc("errors", {"source": SOURCE, "kind": "exited"})
            log.error("journal: %s exited %s: %s", self.command[0], self._proc.returncode,
                      err.decode(errors="replace")[-500:])  # fmt: skip

    @staticmethod
    async def _pump(stream: asyncio.StreamReader, queue: asyncio.Queue[bytes]) -> None:
        while True:
            line = await stream.readline()
            await queue.put(line)
            if not line:
                return

    def _records(self, lines: list[bytes]) -> tuple[list[ShippedRecord], str | None]:
        out: list[ShippedRecord] = []
        cursor = None
        for line in lines:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.metrics.inc("errors", {"source": SOURCE, "kind": "malformed"})
                continue
            if not isinstance(entry, dict):
                continue
            cursor = entry.get("__CURSOR") or cursor
            record = from_record(entry, source=SOURCE, options=self.shape)
            if record is not None:
                out.append(record)
        return out, cursor

    async def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
