"""/dev/kmsg reader for running on the node itself, resuming by sequence number.

Each read() of /dev/kmsg returns one record `prio,seq,usec,flags[,...];text\\n[ KEY=v\\n]...`.
The last handed-over sequence number is part of the persisted state (with the boot id),
so a restart skips what was already handled instead of re-emitting the whole ring buffer.
The same reader takes a regular file or a FIFO of kmsg-format records (one per line,
dictionary lines indented), which is how it is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import socket
import stat
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oom_enricher.counters import Counters, Tally
from oom_enricher.model import ShippedRecord

log = logging.getLogger(__name__)

SOURCE = "kmsg"
Emit = Callable[[list[ShippedRecord], tuple[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class KmsgRecord:
    priority: int
    facility: int
    seq: int
    usec: int
    flags: str
    text: str
    raw: str


def parse_kmsg(raw: str) -> KmsgRecord | None:
    head, sep, rest = raw.partition(";")
    if not sep:
        return None
    parts = head.split(",")
    if len(parts) < 3:
        return None
    try:
        prio, seq, usec = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None
    text = rest.split("\n", 1)[0]  # dictionary lines follow the first newline
    flags = parts[3] if len(parts) > 3 else "-"
    return KmsgRecord(prio & 7, prio >> 3, seq, usec, flags, text, raw.split("\n", 1)[0])


def read_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def boot_epoch() -> float:
    """Wall-clock time of boot, from /proc/uptime (kmsg times are monotonic since boot)."""
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return time.time() - uptime


class KmsgSource:
    def __init__(
        self,
        path: str = "/dev/kmsg",
        host: str | None = None,
        metrics: Counters | None = None,
        batch: int = 500,
    ) -> None:
        self.path = path
        self.host = host or socket.gethostname()
        self.metrics: Counters = metrics or Tally()
        self.batch = batch
        self.key = f"kmsg:{path}"
        self.boot_id = read_boot_id()
        self._boot_epoch = boot_epoch()
        self._stop = threading.Event()
        self._fd: int | None = None

    def resume_after(self, position: dict | None) -> int:
        """Sequence number to skip up to, if the saved position is from this boot."""
        if not position or position.get("boot_id") != self.boot_id:
            return -1
        return int(position.get("seq", -1))

    def to_record(self, rec: KmsgRecord) -> ShippedRecord:
        fields = {
            "source": SOURCE,
            "seq": rec.seq,
            "priority": rec.priority,
            "facility": rec.facility,
            "monotonic_usec": rec.usec,
            "is_kernel": rec.facility == 0,  # userspace writes to /dev/kmsg get facility >= 1
            "boot_id": self.boot_id,
        }
        when = None
        if self._boot_epoch:
            when = datetime.fromtimestamp(self._boot_epoch + rec.usec / 1e6, UTC)
        return ShippedRecord(message=rec.raw, host=self.host, time=when, tag=SOURCE, fields=fields)

    async def run(self, emit: Emit, position: dict | None = None) -> None:
        after = self.resume_after(position)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        reader = threading.Thread(
            target=self._read_loop, args=(loop, queue), name="kmsg-reader", daemon=True
        )
        reader.start()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                raws = [item]
                while len(raws) < self.batch and not queue.empty():
                    nxt = queue.get_nowait()
                    if nxt is None:
                        self._stop.set()
                        break
                    raws.append(nxt)
                records, last = self._batch(raws, after)
                if records:
                    after = last
                    self.metrics.inc("records_in", {"source": SOURCE}, len(records))
                    await emit(records, (self.key, {"seq": last, "boot_id": self.boot_id}))
                if self._stop.is_set() and queue.empty():
                    return
        finally:
            self.stop()

    def _batch(self, raws: list[str], after: int) -> tuple[list[ShippedRecord], int]:
        records = []
        last = after
        for raw in raws:
            rec = parse_kmsg(raw)
            if rec is None:
                self.metrics.inc("errors", {"source": SOURCE, "kind": "malformed"})
                continue
            if rec.seq <= last:
                continue  # handled before the restart
            if last >= 0 and rec.seq > last + 1:
                self.metrics.inc("kmsg_lost_records", {}, rec.seq - last - 1)
            last = rec.seq
            records.append(self.to_record(rec))
        return records, last

    def stop(self) -> None:
        self._stop.set()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _read_loop(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        def put(item: str | None) -> None:
            while queue.qsize() > 10_000 and not self._stop.is_set():
                time.sleep(0.01)  # the consumer is behind: hold the reader back
            if not loop.is_closed():
                loop.call_soon_threadsafe(queue.put_nowait, item)

        try:
            mode = os.stat(self.path).st_mode
            if stat.S_ISCHR(mode):
                self._read_device(put)
            else:
                self._read_lines(put, follow=not stat.S_ISFIFO(mode))
        except (OSError, RuntimeError) as exc:
            if not self._stop.is_set():
                log.error("kmsg: %s: %s", self.path, exc)
                self.metrics.inc("errors", {"source": SOURCE, "kind": "read"})
        finally:
            with contextlib.suppress(RuntimeError):
                put(None)

    def _read_device(self, put: Callable[[str | None], None]) -> None:
        # Non-blocking with a short select() so that stop() is noticed between records.
        self._fd = fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        while not self._stop.is_set():
            try:
                data = os.read(fd, 16384)
            except BlockingIOError:
                select.select([fd], [], [], 0.2)
                continue
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # ring buffer overwrote unread records
                    self.metrics.inc("errors", {"source": SOURCE, "kind": "overrun"})
                    continue
                if self._stop.is_set() and exc.errno == errno.EBADF:
                    return
                raise
            if not data:
                return
            put(data.decode("utf-8", "replace"))

    def _read_lines(self, put: Callable[[str | None], None], follow: bool) -> None:
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            while not self._stop.is_set():
                line = fh.readline()
                if not line:
                    if not follow:
                        return
                    time.sleep(0.1)
                    continue
                if line.startswith(" ") or not line.strip():
                    continue  # dictionary line of the previous record
                put(line.rstrip("\n"))
