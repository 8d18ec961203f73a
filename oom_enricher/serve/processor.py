"""Sources -> Pipeline -> sinks, with the durability rule the forward `ack` depends on.

`handle()` returns only when the batch is safe: documents of reports it completed were
accepted by every sink (`flush()` true), and the state of reports still in progress, the
source positions and the id of the chunk are persisted. A chunk id seen before is not fed
again, so a sender resending a chunk whose ack was lost does not duplicate lines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from oom_enricher.model import LogLine, ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.reassembly.markers import is_report_shaped
from oom_enricher.serve.metrics import Metrics
from oom_enricher.serve.state import RecentChunks, StateStore

log = logging.getLogger(__name__)

LABEL_MAX = 64  # characters kept of a label value
MAX_STREAMS = 10_000  # line-normalizer contexts kept (one per shipping host)


class Sink(Protocol):
    name: str

    def send(self, doc: dict) -> None: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self) -> None: ...


class SinkUnavailable(Exception):
    pass


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


class Processor:
    def __init__(
        self,
        options: PipelineOptions | None = None,
        sinks: Iterable[Sink] = (),
        metrics: Metrics | None = None,
        state: StateStore | None = None,
        sink_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or PipelineOptions()
        self.clock = clock
        self.sinks = list(sinks)
        self.metrics = metrics or Metrics()
        self.state = state
        self.sink_timeout = sink_timeout
        self.positions: dict[str, Any] = {}
        self.chunks = RecentChunks()
        self.pipeline = Pipeline(self.options, clock)
        self._streams: OrderedDict[str, LineNormalizer] = OrderedDict()
        # Documents produced but not yet accepted by a sink, per sink; persisted with the
        # state and delivered before anything else, so a refusing sink loses nothing.
        self.pending: dict[str, list[dict]] = {sink.name: [] for sink in self.sinks}
        self._lock = asyncio.Lock()
        self._dirty = False
        # Set when a batch may have moved the earliest close deadline: the serve loop waits
        # for it or for that deadline, whichever comes first.
        self.deadlines_changed = asyncio.Event()
        self._deadline: float | None = None  # the assembler's next_deadline after each change
        self.metrics.add_collector(self._collect)

    # -- lifecycle -------------------------------------------------------------------------

    def restore(self) -> bool:
        """Resume reports in progress and source positions from the state file."""
        if self.state is None:
            return False
        saved = self.state.load()
        if not saved:
            return False
        self._load(saved)
        log.info(
            "resumed %d report(s) in progress from %s",
            self.pipeline.assembler.open_hosts,
            self.state.path,
        )
        return True

    def _load(self, saved: dict) -> None:
        self.pipeline = Pipeline.restore(saved.get("pipeline", {}), self.options, self.clock)
        self._deadline = self.pipeline.assembler.next_deadline()
        self.positions = dict(saved.get("positions", {}))
        self.chunks = RecentChunks(items=saved.get("chunks", []))
        self._streams = OrderedDict()
        for key, snap in saved.get("streams", {}).items():
            self._stream(key).restore(snap)
        pending = saved.get("pending", {})
        self.pending = {sink.name: list(pending.get(sink.name, [])) for sink in self.sinks}

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

    def _feed(self, record: ShippedRecord) -> list[dict]:
        key = _stream_key(record)
        self.pipeline.normalizer = self._stream(key)
        return self.pipeline.feed(record)

    def _forget_idle_streams(self, records: list[ShippedRecord]) -> None:
        """A host with no report in progress keeps no line context, unless its last line is
        report-shaped: the indented records that continue it (journal multi-line fields) may
        be the body of a report whose header was lost, found by looking back."""
        self._forget_idle(_stream_key(record) for record in records)

    def _forget_idle(self, keys: Iterable[str]) -> None:
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

    def open_hosts(self) -> set[str]:
        """Hosts whose next records can matter: a report in progress, or a line context kept."""
        return set(self.pipeline.assembler.open_keys()) | set(self._streams)

    def next_deadline(self) -> float | None:
        """When the next report closes by time (processor clock), if any is in progress."""
        return self._deadline

    def _close_due(self, arrival: float) -> list[dict]:
        """Reports whose deadline passed before this batch arrived: under load a batch often
        holds the lock before the serve loop's tick gets its turn. A report whose next line
        arrived in time, but waited for the lock, stays open."""
        if self._deadline is None or arrival < self._deadline:
            return []
        docs = self.pipeline.tick(arrival)
        self._forget_idle(list(self._streams))
        return docs

    async def persist(self) -> None:
        if self.state is None:
            return
        snapshot = {
            "pipeline": self.pipeline.snapshot(),
            "positions": self.positions,
            "chunks": self.chunks.as_list(),
            "streams": {key: n.snapshot() for key, n in self._streams.items()},
            "pending": {name: docs for name, docs in self.pending.items() if docs},
        }
        await asyncio.to_thread(self.state.save, snapshot)
        self._dirty = False

    async def shutdown(self) -> None:
        """Emit reports whose bounds tripped, flush sinks, persist the rest, close sinks."""
        async with self._lock:
            try:
                await self._emit(self.pipeline.tick())
            except SinkUnavailable as exc:
                log.error("%s; the documents stay in the state file for the next start", exc)
            await self.persist()
        for sink in self.sinks:
            await asyncio.to_thread(sink.close)

    # -- data path -------------------------------------------------------------------------

    async def handle(
        self,
        source: str,
        records: list[ShippedRecord],
        *,
        chunk: str | None = None,
        position: tuple[str, Any] | None = None,
        durable: bool = True,
        lookback: Callable[[int], list[LogLine]] | None = None,
    ) -> int:
        """Feed one batch; returns the number of documents it completed.

        `lookback(i)`: the lines that arrived before records[i], for a report whose header
        was lost, when the source left some records unread (default: the recent-line ring).
        """
        arrival = self.clock()
        async with self._lock:
            await self._deliver_pending()  # what a refusing sink left over comes first
            if chunk is not None and chunk in self.chunks:
                self.metrics.inc("duplicate_chunks", {"source": source}, help="Resent chunks")
                return 0
            docs: list[dict] = []
            started = time.monotonic()
            docs.extend(self._close_due(arrival))
            self._feed_all(records, docs, lookback)
            self._forget_idle_streams(records)
            self._deadline = self.pipeline.assembler.next_deadline()
            self.deadlines_changed.set()
            # The lines are in the pipeline now: the chunk counts as handled even when a sink
            # refuses its documents below; the sender's resend then only retries the delivery.
            if chunk is not None:
                self.chunks.add(chunk)
            if position is not None:
                self.positions[position[0]] = position[1]
            self._dirty = True
            try:
                await self._emit(docs)
            finally:
                if durable:
                    await self.persist()
            if docs:
                self.metrics.observe(
                    "report_latency_seconds",
                    time.monotonic() - started,
                    help="Batch received to its documents accepted by the sinks",
                )
            return len(docs)

    def _feed_all(self, records: list[ShippedRecord], docs: list[dict], lookback) -> None:
        if lookback is None:
            for record in records:
                docs.extend(self._feed(record))
            return
        assembler = self.pipeline.assembler
        for index, record in enumerate(records):
            assembler.lookback_source = lambda index=index: lookback(index)
            try:
                docs.extend(self._feed(record))
            finally:
                assembler.lookback_source = None

    async def tick(self) -> int:
        """Close the reports past their deadline as of now, not as of when the lock is free:
        batches that arrived before now keep their reports open."""
        now = self.clock()
        async with self._lock:
            docs = self.pipeline.tick(now)
            self._deadline = self.pipeline.assembler.next_deadline()
            if docs:  # the hosts of closed reports are idle now: their contexts go too
                self._forget_idle(list(self._streams))
                self._dirty = True
            try:
                await self._emit(docs)
            except SinkUnavailable as exc:
                log.warning("%s; retried with the next batch", exc)
            if docs or self._dirty:
                await self.persist()
            return len(docs)

    async def _emit(self, docs: list[dict]) -> None:
        if not docs:
            return
        for doc in docs:
            self.metrics.inc(
                "reports",
                {"complete": str(bool(_get(doc, "oom.complete"))).lower()},
                help="Reports emitted",
            )
            for labels in kill_labels(doc):
                self.metrics.inc("oom_kills", labels, help="Processes killed by the OOM killer")
        for queue in self.pending.values():
            queue.extend(docs)
        await self._deliver_pending()

    async def _deliver_pending(self) -> None:
        if any(self.pending.values()):
            await asyncio.to_thread(self._deliver)

    def _deliver(self) -> None:
        for sink in self.sinks:
            docs = self.pending.get(sink.name)
            if not docs:
                continue
            for doc in docs:
                sink.send(doc)
            if not sink.flush(self.sink_timeout):
                self.metrics.inc("errors", {"source": "sink", "kind": sink.name})
                raise SinkUnavailable(f"sink {sink.name} did not accept {len(docs)} document(s)")
            docs.clear()

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
        for sink in self.sinks:
            pending = getattr(sink, "spool_pending", 0)
            metrics.set("spool_depth", pending or 0, {"sink": sink.name}, help="Documents spooled")
            metrics.set(
                "pending_documents",
                len(self.pending.get(sink.name, ())),
                {"sink": sink.name},
                help="Documents a sink refused, kept for the next delivery",
            )
