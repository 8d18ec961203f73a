"""What `serve` keeps durably, as records of the journal (serve/journal.py), and group commit.

Four record kinds, msgpack arrays (strings packed with surrogateescape, so any byte of a
shipped line round-trips exactly):

* batch `["b", source, sender, chunk, edge_position, [record, ...]]`: the shipped records of
  one request, written before they are fed; a record's lines get the position
  `journal position * STRIDE + index`, which reassembly reports back as its low-water mark;
* look-back `["l", line position, [[line, ...], ...]]`: lines a report took from the
  look-back when the record at that line position was fed, one list per time it looked (most
  empty); the lines were acked unread, so they are in no batch. Replay gives that record the
  same lines to look back at, so the report is rebuilt as it was (lines as
  `reassembly.open_report.line_to_dict` writes them);
* delivered `["d", {host: position}]`: every line of that host up to the position belongs to
  a report whose document the sinks accepted (replay skips them, so a report is not split);
* checkpoint `["c", {"chunks": ..., "positions": ..., "delivered": ...}]`: at the head of each
  segment, what older segments knew, so those can be deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack

from oom_enricher.model import LogLine, ShippedRecord
from oom_enricher.reassembly.open_report import line_from_dict, line_to_dict
from oom_enricher.serve.journal import Journal

log = logging.getLogger(__name__)

SURROGATE = "surrogateescape"
STRIDE = 1 << 20  # records per journal record; a larger batch is written as several
BATCH, DELIVERED, CHECKPOINT, LOOKBACK = "b", "d", "c", "l"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class JournalUnavailable(Exception):
    """The journal could not be written: the request is not acknowledged."""


# -- record codec ------------------------------------------------------------------------------


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, unicode_errors=SURROGATE, default=str)


def unpack(payload: bytes) -> Any:
    return msgpack.unpackb(payload, raw=False, unicode_errors=SURROGATE, strict_map_key=False)


def _record_to_wire(record: ShippedRecord) -> list:
    when = None if record.time is None else (record.time - _EPOCH) // _MICRO
    return [record.message, record.host, when, record.tag, record.fields]


def record_from_wire(item: list) -> ShippedRecord:
    message, host, when, tag, fields = item
    return ShippedRecord(
        message=message,
        host=host,
        time=None if when is None else _EPOCH + when * _MICRO,
        tag=tag,
        fields=dict(fields),
    )


def pack_batch(
    source: str,
    sender: str | None,
    chunk: str | None,
    position: tuple[str, Any] | None,
    records: list[ShippedRecord],
) -> bytes:
    edge = list(position) if position is not None else None
    return _pack([BATCH, source, sender, chunk, edge, [_record_to_wire(r) for r in records]])


def pack_lookback(position: int, taken: list[list[LogLine]]) -> bytes:
    return _pack([LOOKBACK, position, [[line_to_dict(x) for x in lines] for lines in taken]])


def lookback_from_wire(taken: list) -> list[list[LogLine]]:
    return [[line_from_dict(item) for item in lines] for lines in taken]


def pack_delivered(marks: dict[str, int]) -> bytes:
    return _pack([DELIVERED, marks])


def pack_checkpoint(state: dict) -> bytes:
    return _pack([CHECKPOINT, state])


# -- chunk ids ---------------------------------------------------------------------------------


class SeenChunks:
    """Chunk ids made durable, per sender, so a chunk resent after a lost ack is not fed twice.

    Bounded: the last `per_sender` ids of the last `senders` senders (a sender resends only
    the few chunks it has in flight; Fluent Bit, Fluentd and fluent-logger ids are random)."""

    def __init__(self, per_sender: int = 32, senders: int = 4096) -> None:
        self.per_sender = per_sender
        self.senders = senders
        self._ids: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def __contains__(self, key: tuple[str, str]) -> bool:
        sender, chunk = key
        ids = self._ids.get(sender)
        return ids is not None and chunk in ids

    def add(self, sender: str, chunk: str) -> None:
        ids = self._ids.get(sender)
        if ids is None:
            ids = self._ids[sender] = OrderedDict()
            while len(self._ids) > self.senders:
                self._ids.popitem(last=False)
        self._ids.move_to_end(sender)
        ids[chunk] = None
        ids.move_to_end(chunk)
        while len(ids) > self.per_sender:
            ids.popitem(last=False)

    def as_dict(self) -> dict[str, list[str]]:
        return {sender: list(ids) for sender, ids in self._ids.items()}

    def load(self, saved: dict) -> None:
        for sender, ids in saved.items():
            for chunk in ids:
                self.add(str(sender), str(chunk))


# -- group commit ------------------------------------------------------------------------------


@dataclass
class _Waiting:
    payloads: list[bytes]
    apply: Callable[[int], Any]  # called in journal order once durable, with the first position
    future: asyncio.Future


@dataclass
class CommitStats:
    commits: int = 0  # fsyncs
    records: int = 0
    failures: int = 0
    last_error: str | None = None


@dataclass
class GroupCommit:
    """One write and one fsync for every request waiting within `window` seconds.

    Each waiter's `apply` runs in journal order right after the fsync, before its future
    resolves, so the order lines are fed in is the order a replay feeds them in."""

    journal: Journal
    window: float = 0.002
    checkpoint: Callable[[], bytes] | None = None  # written at the head of each new segment
    after_sync: Callable[[], None] | None = None  # e.g. release segments below the low water
    stats: CommitStats = field(default_factory=CommitStats)

    def __post_init__(self) -> None:
        self._waiting: list[_Waiting] = []
        self._task: asyncio.Task | None = None

    def submit(self, payloads: list[bytes], apply: Callable[[int], Any]) -> asyncio.Future:
        """Queues records for the next commit; the future resolves to what `apply` returned,
        or fails with JournalUnavailable. `apply` runs even if nobody awaits the future."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(payloads, apply, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return future

    async def drain(self) -> None:
        while self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        try:
            while self._waiting:
                if self.window > 0:
                    await asyncio.sleep(self.window)
                group, self._waiting = self._waiting, []
                await self._commit(group)
        finally:
            self._task = None

    async def _commit(self, group: list[_Waiting]) -> None:
        payloads = [p for waiting in group for p in waiting.payloads]
        head = self.checkpoint() if self.checkpoint and self.journal.starts_segment() else None
        try:
            first = await asyncio.to_thread(self._write, head, payloads)
        except OSError as exc:
            self._failed(exc, group)
            return
        self._recovered()
        position = first
        for waiting in group:
            try:
                result = waiting.apply(position)
            except Exception as exc:  # noqa: BLE001 - the waiter gets it, the others go on
                log.exception("journal: applying a durable record failed")
                _settle(waiting.future, exception=exc)
            else:
                _settle(waiting.future, result=result)
            position += len(waiting.payloads)
        if self.after_sync is not None:
            self.after_sync()

    def _write(self, head: bytes | None, payloads: list[bytes]) -> int:
        if head is None:
            first = self.journal.append(payloads)
        else:
            first = self.journal.append([head, *payloads]) + 1
        self.stats.commits += 1
        self.stats.records += len(payloads)
        return first

    def _failed(self, exc: OSError, group: list[_Waiting]) -> None:
        self.stats.failures += 1
        reason = f"journal not writable: {exc.strerror or exc}"
        if self.stats.last_error is None:
            log.error("%s (%s); requests are not acknowledged until it is", reason, exc)
        self.stats.last_error = reason
        for waiting in group:
            _settle(waiting.future, exception=JournalUnavailable(reason))

    def _recovered(self) -> None:
        if self.stats.last_error is not None:
            log.warning("journal writable again")
            self.stats.last_error = None


def _settle(future: asyncio.Future, result: Any = None, exception: Exception | None = None) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
        future.exception()  # retrieved here: a waiter that went away leaves no warning
    else:
        future.set_result(result)


@dataclass
class ReleaseTimer:
    """Low-water checks cost a walk over the reports in progress: at most one per interval."""

    interval: float = 1.0
    _next: float = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        return True
