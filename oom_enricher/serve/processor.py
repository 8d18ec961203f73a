"""Sources -> Pipeline -> sinks, with the durability rule the forward `ack` depends on.

With a journal (a `state_dir`), `handle()` returns once the batch's records are durable in
the journal (group commit: one fsync for every request waiting a few ms) and have been fed;
the ack means the lines are safe. Lines a report of the batch took from the look-back (acked
unread before, so in no batch) are journaled too before the ack (a look-back record naming the
record that took them; replay gives that record the same lines). Documents then go to the
sinks in the background, and a report's lines stay in the journal until its document was
accepted by every sink, so after a crash the replay of the journal rebuilds every report in
progress and every document not yet delivered. A chunk id counts as seen (per sender) only
once its batch is durable. When the journal cannot be written, `handle()` raises and nothing
is acknowledged.

Without a journal, `handle()` returns only once the documents the batch completed were
accepted by every sink; reports in progress are lost on restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from oom_enricher.model import LogLine, ReportBlock, ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.reassembly.markers import is_report_shaped
from oom_enricher.serve.journal import Journal
from oom_enricher.serve.metrics import Metrics
from oom_enricher.serve.state import (
    BATCH,
    CHECKPOINT,
    DELIVERED,
    LOOKBACK,
    STRIDE,
    GroupCommit,
    JournalUnavailable,
    ReleaseTimer,
    SeenChunks,
    lookback_from_wire,
    pack_batch,
    pack_checkpoint,
    pack_delivered,
    pack_lookback,
    record_from_wire,
    unpack,
)
from oom_enricher.sources.forward_server import RequestNotAcked

log = logging.getLogger(__name__)

LABEL_MAX = 64  # characters kept of a label value
MAX_STREAMS = 10_000  # line-normalizer contexts kept (one per shipping host)
MAX_HELD = 10_000  # documents waiting for a sink before new requests are refused
MAX_JOURNAL_BYTES = 1 << 30  # journal segments on disk before new requests are refused
MAX_BACKOFF = 30.0
COUNTED_IDS = 100_000  # event ids whose kills were counted (an amended report is not recounted)


class Sink(Protocol):
    name: str

    def send(self, doc: dict) -> None: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self) -> None: ...


class SinkUnavailable(RequestNotAcked):
    pass


class NotSafe(RequestNotAcked):
    """The journal is not writable, or too many documents wait for a sink."""


def _stream_key(record: ShippedRecord) -> str:
    return record.host or record.fields.get("peer") or record.tag or ""


def _get(doc: dict, dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _label(value: Any) -> str:
    if value in (None, ""):
        return "none"
    return str(value)[:LABEL_MAX]


def kill_labels(doc: dict) -> list[dict[str, str]]:
    """One label set per killed process (a group kill or a child kill counts each victim)."""
    container = (
        _get(doc, "kubernetes.pod.uid")
        or (_get(doc, "container.id") or "")[:12]
        or _get(doc, "systemd.unit")
    )
    base = {
        "host": _label(_get(doc, "host.name")),
        "scope": _label(_get(doc, "oom.scope")),
        "limit_hit": _label(_get(doc, "oom.limit_hit")),
        "container": _label(container),
    }
    victims = _get(doc, "oom.victims") or []
    names = [v.get("name") for v in victims if isinstance(v, dict)]
    if not names and _get(doc, "oom.selected.name"):
        names = [_get(doc, "oom.selected.name")]
    return [{**base, "victim": _label(name)} for name in names]


@dataclass(eq=False)
class Held:
    """A document not yet accepted by every sink; its lines stay in the journal until then."""

    doc: dict
    host: str
    low: int | None  # lowest and highest position of its lines
    high: int | None
    sinks_left: int


class Processor:
    def __init__(
        self,
        options: PipelineOptions | None = None,
        sinks: Iterable[Sink] = (),
        metrics: Metrics | None = None,
        journal: Journal | None = None,
        sink_timeout: float = 60.0,
        commit_window: float = 0.002,
        max_held: int = MAX_HELD,
        clock: Callable[[], float] = time.monotonic,
        max_journal_bytes: int = MAX_JOURNAL_BYTES,
    ) -> None:
        self.clock = clock
        self.options = options or PipelineOptions()
        self.sinks = list(sinks)
        self.metrics = metrics or Metrics()
        self.journal = journal
        self.sink_timeout = sink_timeout
        self.max_held = max_held
        self.max_journal_bytes = max_journal_bytes
        self.commits = (
            GroupCommit(journal, commit_window, self._checkpoint, self._after_sync)
            if journal is not None
            else None
        )
        self.positions: dict[str, Any] = {}
        self.chunks = SeenChunks()
        # host -> position: that host's lines up to it belong to documents the sinks accepted
        self.delivered: dict[str, int] = {}
        self.pipeline = Pipeline(self.options, clock, live=True)
        self._counted: OrderedDict[str, set] = OrderedDict()
        self._absorbed: OrderedDict[str, None] = OrderedDict()  # ids another report took in
        self._streams: OrderedDict[str, LineNormalizer] = OrderedDict()
        self.pending: dict[str, list[Held]] = {sink.name: [] for sink in self.sinks}
        self._held: dict[int, Held] = {}
        self._settled: list[Held] = []  # accepted by every sink, not yet recorded as delivered
        self._inflight: dict[tuple[str, str], asyncio.Future] = {}
        # Look-back records of batches already fed whose write failed: written ahead of the
        # next batch, and before any resend of those batches is acked.
        self._owed: list[bytes] = []
        self._owed_writes: set[asyncio.Future] = set()  # commits that carry owed records
        self._delivery: asyncio.Task | None = None
        self._deliver_lock = asyncio.Lock()
        self._release = ReleaseTimer()
        self.sink_error: str | None = None
        # Set when a batch may have moved the earliest close deadline: the serve loop waits
        # for it or for that deadline, whichever comes first.
        self.deadlines_changed = asyncio.Event()
        self._deadline: float | None = None  # the assembler's next_deadline after each change
        self.metrics.add_collector(self._collect)

    # -- lifecycle -------------------------------------------------------------------------

    def restore(self) -> bool:
        """Replays the journal: reports in progress, undelivered documents, chunk ids, source
        positions. A journal that cannot be read is logged and counted, never fatal."""
        if self.journal is None:
            return False
        try:
            batches, adopted = self._read_journal()
        except OSError as exc:
            self._error("journal", "unreadable")
            log.error(
                "journal %s cannot be read (%s); starting without it", self.journal.directory, exc
            )
            return False
        for position, item in batches:
            self._replay(position, item, adopted)
        self._forget_idle(list(self._streams))
        self._deadline = self.pipeline.assembler.next_deadline()
        stats = self.journal.stats
        for kind, count in (
            ("torn_tail", stats.torn_tails),
            ("not_a_segment", stats.skipped_files),
        ):
            if count:
                self._error("journal", kind, count)
        log.info(
            "replayed %d journal record(s): %d report(s) in progress, %d document(s) to deliver",
            stats.records,
            self.pipeline.assembler.open_hosts,
            len(self._held),
        )
        return bool(stats.records)

    def _read_journal(self) -> tuple[list[tuple[int, list]], dict[int, list]]:
        """The batches in journal order, and what reports took from the look-back, by the
        line position of the record that looked back."""
        assert self.journal is not None
        directory = self.journal.directory
        if directory.exists() and not directory.is_dir():
            aside = directory.with_name(f"{directory.name}.broken-{int(time.time())}")
            directory.rename(aside)
            self._error("journal", "not_a_directory")
            log.error("journal %s is not a directory; moved to %s", directory, aside)
        batches: list[tuple[int, list]] = []
        adopted: dict[int, list] = {}
        for position, payload in self.journal.recover():
            try:
                item = unpack(payload)
                kind = item[0]
                if kind == BATCH:
                    batches.append((position, item))
                elif kind == LOOKBACK:
                    adopted[int(item[1])] = item[2]
                elif kind == DELIVERED:
                    self._merge_delivered(item[1])
                elif kind == CHECKPOINT:
                    self.chunks.load(item[1].get("chunks", {}))
                    self.positions.update(item[1].get("positions", {}))
                    self._merge_delivered(item[1].get("delivered", {}))
                else:
                    raise ValueError(f"unknown record kind {kind!r}")
            except Exception as exc:  # noqa: BLE001 - a bad record is skipped, not fatal
                self._error("journal", "bad_record")
                log.error("journal: record %d is not readable (%s); skipped", position, exc)
        return batches, adopted

    def _merge_delivered(self, marks: dict) -> None:
        for host, position in marks.items():
            if position > self.delivered.get(host, -1):
                self.delivered[host] = position

    def _replay(self, position: int, item: list, adopted: dict[int, list]) -> None:
        try:
            _, _source, sender, chunk, edge, wire = item
            records = [record_from_wire(w) for w in wire]
        except (TypeError, ValueError) as exc:
            self._error("journal", "bad_record")
            log.error("journal: record %d has the wrong shape (%s); skipped", position, exc)
            return
        base = position * STRIDE
        taken: dict[int, list[list[LogLine]]] = {}
        for i in range(len(records)) if adopted else ():
            if base + i in adopted:
                try:
                    taken[i] = lookback_from_wire(adopted[base + i])
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    # the batch itself is replayed; only the lines its report took are lost
                    self._error("journal", "bad_record")
                    log.error("journal: look-back of line %d is not readable (%s)", base + i, exc)
        blocks: list[ReportBlock] = []
        assembler = self.pipeline.assembler
        for i, record in enumerate(records):
            if taken:
                # This batch was fed looking back at lines left unread, not at the recent
                # lines: each look gives what it gave then (a record that took nothing, nothing).
                looks = iter(taken.get(i, ()))
                assembler.lookback_source = lambda looks=looks: list(next(looks, ()))
            try:
                blocks.extend(self._feed_record(record, base + i, replay=True))
            finally:
                assembler.lookback_source = None
        blocks.extend(assembler.settle())
        if chunk is not None:
            self.chunks.add(str(sender or ""), str(chunk))
        if edge:
            self.positions[edge[0]] = edge[1]
        self._hold(blocks)

    def _stream(self, key: str) -> LineNormalizer:
        """The line context of one shipping stream: continuation lines (indented, without a
        prefix) belong to the previous line of the same host, not of whoever sent last."""
        normalizer = self._streams.get(key)
        if normalizer is None:
            normalizer = LineNormalizer(self.options.normalize)
            self._streams[key] = normalizer
            if len(self._streams) > MAX_STREAMS:
                self._streams.popitem(last=False)
        else:
            self._streams.move_to_end(key)
        return normalizer

    def _forget_idle(self, keys: Iterable[str]) -> None:
        """A host with no report in progress keeps no line context, unless its last line is
        report-shaped: the indented records that continue it (journal multi-line fields) may
        be the body of a report whose header was lost, found by looking back."""
        assembler = self.pipeline.assembler
        for key in set(keys):
            normalizer = self._streams.get(key)
            if normalizer is None or assembler.has_open(key):
                continue
            previous = normalizer.previous_line()
            if previous is None or not (
                assembler.has_open(previous.host) or is_report_shaped(previous.message)
            ):
                del self._streams[key]

    def only_amendable(self, record: ShippedRecord) -> bool:
        """Only a line of a report can change anything for this record's host."""
        key = _stream_key(record)
        return key not in self._streams and self.pipeline.assembler.only_amendable(key)

    def only_amendable_hosts(self) -> set[str]:
        """The hosts for which `only_amendable` holds."""
        return self.pipeline.assembler.only_amendable_keys() - self._streams.keys()

    def open_hosts(self) -> set[str]:
        """Hosts whose next records can matter: a report in progress or still open to late
        lines, or a line context kept."""
        return self.pipeline.assembler.watched_keys() | set(self._streams)

    def next_deadline(self) -> float | None:
        """When the next report closes by time (processor clock), if any is in progress."""
        return self._deadline

    def _close_due(self, arrival: float) -> list[ReportBlock]:
        """Reports whose deadline passed before this batch arrived: under load a batch often
        waits for its commit while the serve loop's tick has not had its turn. A report whose
        next line arrived in time stays open."""
        if self._deadline is None or arrival < self._deadline:
            return []
        blocks = self.pipeline.assembler.tick(arrival)
        self._forget_idle(list(self._streams))
        return blocks

    def _feed_record(
        self, record: ShippedRecord, position: int | None, replay: bool = False
    ) -> list[ReportBlock]:
        key = _stream_key(record)
        self.pipeline.normalizer = self._stream(key)
        try:
            lines = self.pipeline.normalize_record(record, position)
            if replay:  # lines of reports already delivered must not come out again, split
                lines = [x for x in lines if position > self.delivered.get(x.host or "", -1)]
            return self.pipeline.feed_blocks(lines)
        except Exception:  # noqa: BLE001 - one bad record never costs the batch
            self._error("pipeline", "exception")
            log.exception("a record could not be processed; skipped")
            return []

    async def shutdown(self) -> None:
        """Emit reports whose bounds tripped, try once more to deliver, close sinks. Reports
        in progress and undelivered documents stay in the journal for the next start."""
        if self.commits is not None:
            await self.commits.drain()
        assembler = self.pipeline.assembler
        self._hold(assembler.tick(self.clock()) + assembler.release_held())
        if self._delivery is not None:
            async with self._deliver_lock:  # a delivery in flight finishes its bookkeeping
                self._delivery.cancel()
        if not await self._deliver_once():
            log.error(
                "%s; the documents are rebuilt from the journal at the next start", self.sink_error
            )
        await self._record_settled()
        if self.commits is not None:
            await self.commits.drain()
        for sink in self.sinks:
            await asyncio.to_thread(sink.close)
        if self.journal is not None:
            self.journal.close()

    # -- data path -------------------------------------------------------------------------

    async def handle(
        self,
        source: str,
        records: list[ShippedRecord],
        *,
        chunk: str | None = None,
        sender: str | None = None,
        position: tuple[str, Any] | None = None,
        durable: bool = True,
        lookback: Callable[[int], list[LogLine]] | None = None,
    ) -> int:
        """Feed one batch; returns the number of documents it completed. Returns only once the
        batch is safe (see the module docstring); raises RequestNotAcked when it is not.

        `lookback(i)`: the lines that arrived before records[i], for a report whose header
        was lost, when the source left some records unread (default: the recent-line ring).
        """
        arrival = self.clock()
        key = (sender or "", chunk) if chunk is not None else None
        if key is not None and (key in self.chunks or key in self._inflight):
            self.metrics.inc("duplicate_chunks", {"source": source}, help="Resent chunks")
            if key in self._inflight:
                await asyncio.shield(self._inflight[key])  # acked when the first one is
            elif self.commits is None:
                await self._deliver_or_raise()
            if self._owed or self._owed_writes:
                await self._pay_owed(durable)  # the first one took lines not yet durable
            return 0
        if self.commits is None:
            count = self._apply(key, position, records, None, arrival, lookback)
            await self._deliver_or_raise()
            return count
        if len(self._held) >= self.max_held:
            reason = f"{len(self._held)} documents wait for a sink ({self.sink_error})"
            self._error("serve", "backpressure")
            raise NotSafe(reason)
        if (full := self._journal_full()) is not None:
            # Records of deliveries are still written: they are what lets segments go.
            self._error("journal", "full")
            if durable:
                raise NotSafe(full)
            return self._apply(None, None, records, None, arrival, lookback)
        return await self._commit(
            source, key, sender, chunk, position, records, durable, arrival, lookback
        )

    async def _commit(
        self, source, key, sender, chunk, position, records, durable, arrival, lookback
    ) -> int:
        assert self.commits is not None
        parts = [records[i : i + STRIDE] for i in range(0, len(records), STRIDE)] or [[]]
        owed, self._owed = self._owed, []
        payloads = owed + [pack_batch(source, sender, chunk, position, part) for part in parts]
        adopted: list[bytes] = []  # look-back records of lines this batch's reports took
        later: list[asyncio.Future] = []

        def apply(first: int) -> int:
            count = 0
            first += len(owed)
            for n, part in enumerate(parts):
                last = n == len(parts) - 1
                offset = n * STRIDE
                count += self._apply(
                    key if last else None,
                    position if last else None,
                    part,
                    first + n,
                    arrival,
                    None if lookback is None else lambda i, o=offset: lookback(o + i),
                    adopted,
                )
            if adopted:
                # Queued before this batch's future resolves: a resend waiting for it finds
                # the write among the owed ones, also if this request's connection went away.
                later.append(self._write_owed(adopted))
            return count

        future = self.commits.submit(payloads, apply)
        if owed:
            self._writing_owed(future, owed)
        if key is not None:
            self._inflight[key] = future
        try:
            count = await asyncio.shield(future)
        except JournalUnavailable as exc:
            self._error("journal", "write")
            if durable:
                raise NotSafe(str(exc)) from None
            # no ack to withhold: keep the lines
            return self._apply(None, None, records, None, arrival, lookback)
        finally:
            if key is not None:
                self._inflight.pop(key, None)
        if later:
            # The ack promises what the batch's reports hold, and lines they took from the
            # look-back were acked unread, in no batch: they become durable before this ack.
            try:
                await asyncio.shield(later[0])
            except JournalUnavailable as exc:
                self._error("journal", "write")
                if durable:
                    raise NotSafe(str(exc)) from None
        return count

    async def _pay_owed(self, durable: bool) -> None:
        """Waits for the look-back records being written and writes those still owed; raises
        NotSafe when the journal refuses them (they stay owed, and go ahead of the next
        batch)."""
        assert self.commits is not None
        if self._owed_writes:
            await asyncio.wait(list(self._owed_writes))
        if not self._owed:
            return
        owed, self._owed = self._owed, []
        try:
            await asyncio.shield(self._write_owed(owed))
        except JournalUnavailable as exc:
            self._error("journal", "write")
            if durable:
                raise NotSafe(str(exc)) from None

    def _write_owed(self, owed: list[bytes]) -> asyncio.Future:
        assert self.commits is not None
        future = self.commits.submit(owed, lambda _: None)
        self._writing_owed(future, owed)
        return future

    def _writing_owed(self, future: asyncio.Future, owed: list[bytes]) -> None:
        """Owed records being written: owed again if the write fails, before anyone who
        waits for the write looks at what is owed."""
        self._owed_writes.add(future)

        def written(done: asyncio.Future) -> None:
            self._owed_writes.discard(done)
            if done.cancelled() or done.exception() is not None:
                self._owed = owed + self._owed

        future.add_done_callback(written)

    def _apply(
        self,
        key: tuple[str, str] | None,
        position: tuple[str, Any] | None,
        records: list[ShippedRecord],
        journal_position: int | None,
        arrival: float | None = None,
        lookback: Callable[[int], list[LogLine]] | None = None,
        adopted: list[bytes] | None = None,
    ) -> int:
        """`adopted` (with a journal position): gets a look-back record for each record
        whose feeding took lines from `lookback` into a report."""
        blocks = self._close_due(self.clock() if arrival is None else arrival)
        assembler = self.pipeline.assembler
        for i, record in enumerate(records):
            where = None if journal_position is None else journal_position * STRIDE + i
            looks: list[list[LogLine]] | None = None
            if lookback is not None:
                looks = []
                assembler.lookback_source = lambda i=i: lookback(i)
                assembler.lookback_taken = looks.append
            try:
                blocks.extend(self._feed_record(record, where))
            finally:
                assembler.lookback_source = None
                assembler.lookback_taken = None
            if looks and adopted is not None and where is not None and any(looks):
                adopted.append(pack_lookback(where, looks))
        blocks.extend(assembler.settle())  # lines this batch placed in kernel order
        self._forget_idle(_stream_key(record) for record in records)
        previous, self._deadline = self._deadline, assembler.next_deadline()
        if self._deadline is not None and (previous is None or self._deadline < previous):
            # Only an earlier deadline wakes the serve loop; at a later one, its tick at the
            # old deadline closes nothing and looks again.
            self.deadlines_changed.set()
        if key is not None:
            self.chunks.add(*key)
        if position is not None:
            self.positions[position[0]] = position[1]
        return self._hold(blocks)

    async def tick(self) -> int:
        """Close the reports past their deadline as of now."""
        assembler = self.pipeline.assembler
        was_open = assembler.open_hosts
        blocks = assembler.tick(self.clock())
        self._deadline = assembler.next_deadline()
        # The hosts of closed reports are idle now: their contexts go too (also when a
        # report reopened by a late line closed again with nothing new to emit).
        if blocks or assembler.open_hosts < was_open:
            self._forget_idle(list(self._streams))
        return self._hold(blocks)

    def _hold(self, blocks: list[ReportBlock]) -> int:
        if not blocks:
            return 0
        for block, doc in zip(blocks, self.pipeline.documents(blocks), strict=True):
            self._count(doc)
            marks = [x.position for x in block.lines if x.position is not None]
            held = Held(
                doc, block.host or "", min(marks, default=None), max(marks, default=None), 0
            )
            held.sinks_left = len(self.sinks)
            for queue in self.pending.values():
                queue.append(held)
            if self.sinks:
                self._held[id(held)] = held
            else:
                self._settled.append(held)
        self._kick()
        return len(blocks)

    def _count(self, doc: dict) -> None:
        """Count each report and each kill once: a report amended by late lines comes again
        under the same id, or under a new one naming the old in `event.supersedes`, and only
        victims it adds are counted."""
        event_id = str(_get(doc, "event.id") or "")
        counted = self._counted.get(event_id)
        # a fragment taken into another report and given back to its own is a report again;
        # its kills were counted already
        given_back = self._absorbed.pop(event_id, False) is None
        if counted is None or given_back:
            replaced = [str(earlier) for earlier in _get(doc, "event.supersedes") or []]
            earlier = [self._counted[old] for old in replaced if old in self._counted]
            self._absorbed.update((old, None) for old in replaced if old in self._counted)
            if counted is None:
                counted = self._counted[event_id] = set().union(*earlier)
            for remembered in (self._counted, self._absorbed):
                if len(remembered) > COUNTED_IDS:
                    remembered.popitem(last=False)
            if not earlier or given_back:
                self.metrics.inc(
                    "reports",
                    {"complete": str(bool(_get(doc, "oom.complete"))).lower()},
                    help="Reports emitted",
                )
        victims = [v for v in _get(doc, "oom.victims") or [] if isinstance(v, dict)]
        for index, labels in enumerate(kill_labels(doc)):
            # the victim's pid names the kill: a later version may know more of its labels
            key = victims[index].get("pid") if index < len(victims) else labels["victim"]
            if key not in counted:
                counted.add(key)
                self.metrics.inc("oom_kills", labels, help="Processes killed by the OOM killer")

    # -- delivery --------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._delivery is not None and not self._delivery.done():
            return
        with contextlib.suppress(RuntimeError):  # no loop yet (a replay): start() kicks it
            self._delivery = asyncio.get_running_loop().create_task(self._deliver_loop())

    def start(self) -> None:
        self._kick()

    async def _deliver_loop(self) -> None:
        backoff = 0.5
        while any(self.pending.values()) or self._settled:
            delivered = await self._deliver_once()
            recorded = await self._record_settled()
            if delivered and recorded:
                backoff = 0.5
                continue
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def _deliver_or_raise(self) -> None:
        if not await self._deliver_once():
            raise SinkUnavailable(self.sink_error or "a sink refused documents")
        await self._record_settled()

    async def _deliver_once(self) -> bool:
        """Hands every pending document to its sinks; False when a sink did not accept them."""
        async with self._deliver_lock:
            batches = {name: list(queue) for name, queue in self.pending.items() if queue}
            if not batches:
                return True
            accepted = await asyncio.to_thread(self._deliver, batches)
            for name, docs in batches.items():
                if name not in accepted:
                    continue
                del self.pending[name][: len(docs)]
                for held in docs:
                    held.sinks_left -= 1
                    if held.sinks_left == 0:
                        self._settled.append(held)
            refused = sorted(set(batches) - accepted)
            if refused:
                if self.sink_error is None:
                    log.error("sink(s) %s did not accept documents; retrying", ", ".join(refused))
                self.sink_error = f"sink {', '.join(refused)} did not accept documents"
                return False
            if self.sink_error is not None:
                log.warning("sinks accept documents again")
            self.sink_error = None
            return True

    def _deliver(self, batches: dict[str, list[Held]]) -> set[str]:
        accepted = set()
        for sink in self.sinks:
            docs = batches.get(sink.name)
            if not docs:
                continue
            try:
                for held in docs:
                    sink.send(held.doc)
                ok = sink.flush(self.sink_timeout)
            except Exception:  # noqa: BLE001 - a failing sink is retried, never fatal
                log.exception("sink %s failed", sink.name)
                ok = False
            if ok:
                accepted.add(sink.name)
            else:
                self._error("sink", sink.name)
        return accepted

    async def _record_settled(self) -> bool:
        """Records documents every sink accepted, so their lines may leave the journal."""
        if not self._settled:
            return True
        settled, self._settled = self._settled, []
        marks: dict[str, int] = {}
        for held in settled:
            if held.high is not None and held.high > marks.get(held.host, -1):
                marks[held.host] = held.high
        if self.commits is not None and marks:
            try:
                await self.commits.submit([pack_delivered(marks)], lambda _: None)
            except JournalUnavailable:
                self._settled = settled + self._settled
                return False
        self._merge_delivered(marks)
        for held in settled:
            self._held.pop(id(held), None)
        return True

    # -- journal ---------------------------------------------------------------------------

    def low_water(self) -> int | None:
        """The lowest line position still needed: reports in progress, the look-back ring,
        and documents not yet accepted by every sink."""
        marks = [held.low for held in self._held.values() if held.low is not None]
        low = self.pipeline.assembler.low_water()
        if low is not None:
            marks.append(low)
        return min(marks, default=None)

    def _checkpoint(self) -> bytes:
        return pack_checkpoint(
            {
                "chunks": self.chunks.as_dict(),
                "positions": self.positions,
                "delivered": self.delivered,
            }
        )

    def _after_sync(self) -> None:
        journal = self.journal
        if journal is None or journal.segments < 2 or not self._release.due():
            return
        low = self.low_water()
        if journal.release(None if low is None else low // STRIDE):
            oldest = journal.first_position * STRIDE
            self.delivered = {h: p for h, p in self.delivered.items() if p >= oldest}

    def _journal_full(self) -> str | None:
        """Why the journal takes no more batches: it holds its cap of bytes (reports kept
        open or documents a sink has not accepted hold its oldest segments)."""
        if self.journal is None or self.journal.bytes < self.max_journal_bytes:
            return None
        return (
            f"journal holds {self.journal.bytes} bytes, its cap of {self.max_journal_bytes} "
            f"(max_journal_bytes); {len(self._held)} document(s) wait for a sink"
        )

    def problems(self) -> list[str]:
        """Why requests are not safe right now (empty when they are)."""
        found = []
        if self.commits is not None and self.commits.stats.last_error:
            found.append(self.commits.stats.last_error)
        if (full := self._journal_full()) is not None:
            found.append(full)
        if self.sink_error:
            found.append(self.sink_error)
        return found

    def _error(self, source: str, kind: str, count: int = 1) -> None:
        self.metrics.inc("errors", {"source": source, "kind": kind}, count, help="Errors by kind")

    # -- metrics ---------------------------------------------------------------------------

    def _collect(self, metrics: Metrics) -> None:
        assembler = self.pipeline.assembler
        metrics.set("reports_in_progress", assembler.open_hosts, help="Reports being assembled")
        metrics.set(
            "oldest_in_progress_age_seconds",
            assembler.oldest_open_age() if assembler.open_hosts else 0.0,
            help="Age of the oldest report in progress",
        )
        metrics.set(
            "incomplete_reports", self.pipeline.stats.incomplete, help="Incomplete reports emitted"
        )
        metrics.set(
            "replaced_characters",
            self.pipeline.stats.replaced_characters,
            help="Undecodable input bytes written as U+FFFD in documents",
        )
        if self.journal is not None and self.commits is not None:
            metrics.set("journal_bytes", self.journal.bytes, help="Bytes in journal segments")
            metrics.set("journal_segments", self.journal.segments, help="Journal segment files")
            metrics.set("journal_commits", self.commits.stats.commits, help="Journal fsyncs")
        for sink in self.sinks:
            pending = getattr(sink, "spool_pending", 0)
            metrics.set("spool_depth", pending or 0, {"sink": sink.name}, help="Documents spooled")
            metrics.set(
                "pending_documents",
                len(self.pending.get(sink.name, ())),
                {"sink": sink.name},
                help="Documents not yet accepted by the sink",
            )
