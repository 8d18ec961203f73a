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
from collections.abc import Iterable
from typing import Any, Protocol

from oom_enricher.model import ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.serve.metrics import Metrics
from oom_enricher.serve.state import RecentChunks, StateStore

log = logging.getLogger(__name__)

LABEL_MAX = 64  # characters kept of a label value
MAX_STREAMS = 10_000  # line-normalizer contexts kept (one per shipping host)
COUNTED_IDS = 100_000  # event ids whose kills were counted (an amended report is not recounted)


class Sink(Protocol):
    name: str

    def send(self, doc: dict) -> None: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self) -> None: ...


class SinkUnavailable(Exception):
    pass


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
    ) -> None:
        self.options = options or PipelineOptions()
        self.sinks = list(sinks)
        self.metrics = metrics or Metrics()
        self.state = state
        self.sink_timeout = sink_timeout
        self.positions: dict[str, Any] = {}
        self.chunks = RecentChunks()
        self.pipeline = Pipeline(self.options, live=True)
        self._streams: OrderedDict[str, LineNormalizer] = OrderedDict()
        # Documents produced but not yet accepted by a sink, per sink; persisted with the
        # state and delivered before anything else, so a refusing sink loses nothing.
        self.pending: dict[str, list[dict]] = {sink.name: [] for sink in self.sinks}
        self._lock = asyncio.Lock()
        self._dirty = False
        self._counted: OrderedDict[str, set] = OrderedDict()
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
        self.pipeline = Pipeline.restore(saved.get("pipeline", {}), self.options, live=True)
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
        key = record.host or record.fields.get("peer") or record.tag or ""
        self.pipeline.normalizer = self._stream(key)
        return self.pipeline.feed(record)

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
                await self._emit(self.pipeline.tick() + self.pipeline.release_held())
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
    ) -> int:
        """Feed one batch; returns the number of documents it completed."""
        async with self._lock:
            await self._deliver_pending()  # what a refusing sink left over comes first
            if chunk is not None and chunk in self.chunks:
                self.metrics.inc("duplicate_chunks", {"source": source}, help="Resent chunks")
                return 0
            docs: list[dict] = []
            started = time.monotonic()
            for record in records:
                docs.extend(self._feed(record))
            docs.extend(self.pipeline.settle())  # lines this batch placed in kernel order
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

    async def tick(self) -> int:
        async with self._lock:
            docs = self.pipeline.tick()
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
            self._count(doc)
        for queue in self.pending.values():
            queue.extend(docs)
        await self._deliver_pending()

    def _count(self, doc: dict) -> None:
        """Count each report and each kill once: a report amended by late lines comes again
        under the same id, and only victims it adds are counted."""
        event_id = str(_get(doc, "event.id") or "")
        counted = self._counted.get(event_id)
        if counted is None:
            counted = self._counted[event_id] = set()
            if len(self._counted) > COUNTED_IDS:
                self._counted.popitem(last=False)
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
