"""A `serve` worker in a Kafka consumer group: reassembly per partition, offsets committed at
the low-water mark.

The topic is keyed by host, so every line of a host is in one partition, in order. Each
assigned partition has its own Assembler; a line is fed with `LogLine.position` = its offset.
A partition's offset is committed only up to `Assembler.low_water()` (the oldest line still
held: a report in progress or the look-back ring), and only after every document completed
before it was accepted by the sinks; the reports already emitted that the offset cuts go with
it as commit metadata, and the next owner skips their remaining lines. So whoever owns the
partition next (after a rebalance, a crash or a restart) resumes from the committed offset
and rebuilds the open reports by replaying their lines; the documents it emits again carry
the same deterministic ids and are no-ops in Elasticsearch (`create`, 409).

On revocation a partition's state is dropped, never finished: an open report is not emitted
cut short, its new owner rebuilds it. The consumer loop runs in its own thread (librdkafka
calls are blocking); the sinks are used by that thread alone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from oom_enricher.enrich.document import build_document
from oom_enricher.enrich.surrogates import clean_document
from oom_enricher.model import ReportBlock, ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.pipeline import PipelineOptions
from oom_enricher.reassembly.assembler import Assembler
from oom_enricher.serve.metrics import Metrics
from oom_enricher.serve.processor import Sink, SinkUnavailable
from oom_enricher.sources.kafka_records import to_shipped
from oom_enricher.sources.record_shapes import ShapeOptions

log = logging.getLogger(__name__)

MAX_STREAMS = 10_000  # line-normalizer contexts kept per partition (one per host)
MAX_METADATA_BYTES = 3_000  # the broker keeps up to offset.metadata.max.bytes (4096) per offset
MAX_SPANS = 10_000  # offset spans of emitted reports kept per partition for the commit point
MAX_PENDING_DOCS = 1_000  # documents held for a refusing sink before consuming pauses


@dataclass
class KafkaSourceConfig:
    bootstrap: str
    topic: str
    group: str = "oom-enricher"
    batch: int = 500  # records per consume() call
    poll_timeout: float = 0.5  # seconds one consume() call waits for records
    commit_interval: float = 1.0  # seconds between offset commits
    tick_interval: float = 1.0  # seconds between wall-clock checks of open reports
    sink_timeout: float = 30.0  # seconds one sink flush may take before it is retried
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    max_poll_interval_ms: int = 300_000
    client: dict[str, str] = field(default_factory=dict)  # more librdkafka settings (TLS, SASL)

    def consumer_settings(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            # a rebalance moves only the partitions that change owner; the others keep state
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": self.heartbeat_interval_ms,
            "max.poll.interval.ms": self.max_poll_interval_ms,
            **self.client,
        }


@dataclass
class WorkerStats:
    records: int = 0
    undecodable: int = 0
    documents: int = 0
    commits: int = 0
    commit_failures: int = 0
    sink_refusals: int = 0
    assigned: int = 0
    revoked: int = 0
    lost: int = 0


class OutageClock:
    """time.monotonic() without the time Kafka was unreachable: a report's wall-clock bound
    (`max_wall_age`, `tail_grace`) measures how long its host was silent, not how long the
    broker was away, so an outage does not close reports whose next lines are still in Kafka.
    It stands still from the first sign of an outage until the first record after it (the
    shippers' backlog), not merely until the broker answers again."""

    def __init__(self) -> None:
        self._stopped_since: float | None = None
        self._reasons: set[str] = set()
        self._lost = 0.0

    def __call__(self) -> float:
        now = time.monotonic() if self._stopped_since is None else self._stopped_since
        return now - self._lost

    def _stop(self, reason: str) -> None:
        if not self._reasons:
            self._stopped_since = time.monotonic()
        self._reasons.add(reason)

    def _start(self, reason: str) -> None:
        if reason not in self._reasons:
            return
        self._reasons.discard(reason)
        if not self._reasons and self._stopped_since is not None:
            self._lost += time.monotonic() - self._stopped_since
            self._stopped_since = None

    @property
    def down(self) -> bool:
        return "outage" in self._reasons

    def went_down(self) -> None:
        self._stop("outage")

    def came_back(self) -> None:
        self._start("outage")

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Also stands still while the worker itself is busy (a slow sink flush): lines that
        wait in the consumer meanwhile are not a silent host."""
        self._stop("busy")
        try:
            yield
        finally:
            self._start("busy")


@dataclass(frozen=True)
class CommitPoint:
    """Where the next owner of a partition starts, and the lines it must not feed there: the
    rest of each report already emitted that the offset cuts (host -> its last offset), which
    a replay would otherwise see without its head and emit a second time, cut short. The
    skips travel with the offset, as its commit metadata."""

    offset: int
    skip: dict[str, int] = field(default_factory=dict)

    def metadata(self) -> str:
        return orjson.dumps({"skip": self.skip}).decode() if self.skip else ""

    @staticmethod
    def skips_from(metadata: str | None) -> dict[str, int]:
        if not metadata:
            return {}
        try:
            found = orjson.loads(metadata).get("skip", {})
        except (orjson.JSONDecodeError, AttributeError):
            return {}  # another tool's metadata: nothing to skip
        if not isinstance(found, dict):
            return {}
        return {str(h): o for h, o in found.items() if isinstance(o, int)}


class PartitionState:
    """Reassembly of one partition: an Assembler, one line context per host, and the offset
    span of each report emitted lately (for the commit point)."""

    def __init__(
        self,
        options: PipelineOptions,
        shape: ShapeOptions,
        clock: OutageClock,
        skip: dict[str, int] | None = None,
    ) -> None:
        self.options = options
        self.shape = shape
        self.assembler = Assembler(options.bounds, clock=clock)
        self._streams: OrderedDict[str, LineNormalizer] = OrderedDict()
        self._spans: deque[tuple[int, int, str]] = deque(maxlen=MAX_SPANS)
        self._skip = dict(skip or {})  # host -> last offset of a report the last owner emitted
        self.next_offset: int | None = None  # one past the last record fed
        self.committed: int | None = None
        self.skips_dropped = 0

    def _stream(self, key: str) -> LineNormalizer:
        normalizer = self._streams.get(key)
        if normalizer is None:
            normalizer = self._streams[key] = LineNormalizer(self.options.normalize)
            if len(self._streams) > MAX_STREAMS:
                self._streams.popitem(last=False)
        else:
            self._streams.move_to_end(key)
        return normalizer

    def feed(self, record: ShippedRecord, offset: int) -> list[dict]:
        normalizer = self._stream(record.host or record.fields.get("peer") or "")
        blocks: list[ReportBlock] = []
        for line in normalizer.normalize_record(record):
            line.position = offset
            if self._skip and self._skip.get(line.host or "", -1) >= offset:
                continue  # the rest of a report the last owner emitted
            blocks.extend(self.assembler.feed(line))
        blocks.extend(self.assembler.settle())  # lines this record placed in kernel order
        self.next_offset = offset + 1
        return self._documents(blocks)

    def skip(self, offset: int) -> None:
        self.next_offset = offset + 1

    def tick(self, now: float) -> list[dict]:
        return self._documents(self.assembler.tick(now))

    def finish(self) -> list[dict]:
        """Every report in progress, emitted as it stands (end of input; tests and tools)."""
        return self._documents(self.assembler.finish())

    def _documents(self, blocks: list[ReportBlock]) -> list[dict]:
        for block in blocks:
            positions = [line.position for line in block.lines if line.position is not None]
            if positions:
                self._spans.append((min(positions), max(positions), block.host or ""))
        docs = [build_document(block) for block in blocks]
        for doc in docs:
            clean_document(doc)  # what JSON cannot carry, as every other path does
        return docs

    def commit_point(self) -> CommitPoint | None:
        """The first offset the next owner must read: the lowest position reassembly still
        holds (`Assembler.low_water`: reports in progress, the look-back ring), else past
        everything fed; with the reports already emitted that it cuts, to be skipped."""
        low = self.assembler.low_water()
        point = low if low is not None else self.next_offset
        if point is None:
            return None
        skip = {}
        for first, last, host in self._spans:
            if first < point <= last:
                skip[host] = max(last, skip.get(host, -1))
        for host, last in self._skip.items():  # skips inherited and not yet passed
            if last >= point:
                skip[host] = max(last, skip.get(host, -1))
        if len(orjson.dumps(skip)) > MAX_METADATA_BYTES:
            skip = self._fit(skip)
        return CommitPoint(point, skip)

    def _fit(self, skip: dict[str, int]) -> dict[str, int]:
        """More cut reports than commit metadata holds (a storm of OOM kills in one partition):
        keep those that fit; the others come again cut short after a move (counted, logged)."""
        kept: dict[str, int] = {}
        for host, last in sorted(skip.items(), key=lambda item: item[1], reverse=True):
            kept[host] = last
            if len(orjson.dumps(kept)) > MAX_METADATA_BYTES:
                del kept[host]
                break
        self.skips_dropped += len(skip) - len(kept)
        log.warning("kafka: %d cut report(s) beyond the commit metadata", len(skip) - len(kept))
        return kept

    def commit_offset(self) -> int | None:
        found = self.commit_point()
        return None if found is None else found.offset

    def committed_at(self, offset: int) -> None:
        self.committed = offset
        # reports that ended before the committed offset can no longer be cut by a replay
        while self._spans and self._spans[0][1] < offset:
            self._spans.popleft()


class KafkaWorker:
    def __init__(
        self,
        config: KafkaSourceConfig,
        options: PipelineOptions,
        sinks: list[Sink],
        metrics: Metrics | None = None,
        shape: ShapeOptions | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.sinks = sinks
        self.shape = shape or ShapeOptions()
        self.metrics = metrics or Metrics()
        self.stats = WorkerStats()
        self.partitions: dict[int, PartitionState] = {}
        self.pending: list[dict] = []  # documents not yet accepted by every sink
        self._stop = threading.Event()
        self._consumer: Consumer | None = None
        self._last_commit = 0.0
        self._last_tick = time.monotonic()
        self._last_probe = 0.0
        self.clock = OutageClock()
        self.reachable = True
        self._paused = False
        self.metrics.add_collector(self._collect)

    # -- lifecycle -------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Consume until request_stop(); then deliver, commit and leave the group."""
        consumer = Consumer(
            {**self.config.consumer_settings(), "error_cb": self._on_error}, logger=log
        )
        self._consumer = consumer
        consumer.subscribe(
            [self.config.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        log.info("kafka: consuming %s as group %s", self.config.topic, self.config.group)
        try:
            while not self._stop.is_set():
                self._step(consumer)
            self._deliver_until_accepted()
            self._commit(consumer, list(self.partitions))
        finally:
            consumer.close()  # leaves the group: the partitions move at once, not after a timeout
            self._consumer = None

    # -- the loop --------------------------------------------------------------------------

    def _step(self, consumer: Consumer) -> None:
        self._hold(consumer, len(self.pending) >= MAX_PENDING_DOCS)
        messages = consumer.consume(self.config.batch, self.config.poll_timeout)
        docs: list[dict] = []
        for message in messages:
            docs.extend(self._feed(message))
        now = time.monotonic()
        if not self.reachable:
            self._probe(consumer, now)
        # Wall-clock bounds only once caught up: a full batch means more lines are waiting,
        # and a report's next line may be among them.
        caught_up = len(messages) < self.config.batch
        if caught_up and not self.clock.down and now - self._last_tick >= self.config.tick_interval:
            self._last_tick = now
            for state in self.partitions.values():
                docs.extend(state.tick(self.clock()))
        self.pending.extend(docs)
        self.stats.documents += len(docs)
        delivered = self._deliver()
        if delivered and (docs or now - self._last_commit >= self.config.commit_interval):
            self._commit(consumer, list(self.partitions))

    def _hold(self, consumer: Consumer, full: bool) -> None:
        """A refusing sink holds enough documents: pause fetching (consume() still serves the
        group's heartbeats and callbacks) until they are delivered."""
        if full == self._paused:
            return
        assignment = consumer.assignment()
        if full:
            consumer.pause(assignment)
            log.warning("kafka: %d documents wait for the sinks; not reading", len(self.pending))
        else:
            consumer.resume(assignment)
        self._paused = full

    def _on_error(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            if self.reachable:
                log.warning("kafka: no broker reachable; waiting (reports in progress kept open)")
            self.reachable = False
            self.clock.went_down()
        else:
            log.warning("kafka: %s", error)

    def _probe(self, consumer: Consumer, now: float) -> None:
        """While Kafka is away, ask for metadata once a second to learn when it is back."""
        if now - self._last_probe < 1.0:
            return
        self._last_probe = now
        try:
            consumer.list_topics(self.config.topic, timeout=1.0)
        except KafkaException:
            return
        if not self.reachable:
            log.info("kafka: broker reachable again")
        self.reachable = True

    def _feed(self, message: Message) -> list[dict]:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("kafka: %s", error)
            return []
        self.reachable = True
        self.clock.came_back()
        state = self.partitions.get(message.partition())
        if state is None:  # fetched before a revocation took the partition away
            return []
        self.stats.records += 1
        offset = message.offset()
        record = to_shipped(message.value(), message.key(), self.shape)
        if record is None:
            self.stats.undecodable += 1
            state.skip(offset)
            return []
        return state.feed(record, offset)

    # -- sinks -----------------------------------------------------------------------------

    def _deliver(self) -> bool:
        """True when every pending document was accepted by every sink."""
        if not self.pending:
            return True
        with self.clock.held():
            return self._deliver_held()

    def _deliver_held(self) -> bool:
        try:
            for sink in self.sinks:
                for doc in self.pending:
                    sink.send(doc)
                if not sink.flush(self.config.sink_timeout):
                    raise SinkUnavailable(f"sink {sink.name} did not accept the documents")
        except SinkUnavailable as exc:
            self.stats.sink_refusals += 1
            log.warning("kafka: %s; offsets stay where they are, retried", exc)
            return False
        self.pending.clear()
        return True

    def _deliver_until_accepted(self) -> bool:
        """Retry delivery with back-off, for at most the sink timeout."""
        deadline = time.monotonic() + self.config.sink_timeout
        delay = 0.2
        while not self._deliver():
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return True

    # -- offsets ---------------------------------------------------------------------------

    def _commit(self, consumer: Consumer, partitions: list[int]) -> None:
        self._last_commit = time.monotonic()
        if self.pending:
            return  # documents before the low-water mark are not all accepted yet
        if not self.reachable:
            return  # no broker: a blocking commit would only wait; the next one covers it
        offsets = []
        for number in partitions:
            state = self.partitions.get(number)
            if state is None:
                continue
            point = state.commit_point()
            if point is not None and point.offset != state.committed:
                tp = TopicPartition(self.config.topic, number, point.offset, point.metadata())
                offsets.append((state, tp))
        if not offsets:
            return
        try:
            consumer.commit(offsets=[tp for _, tp in offsets], asynchronous=False)
        except KafkaException as exc:
            # The broker is away or the group is rebalancing: nothing is lost, the next
            # commit (or the next owner's replay from the last one) covers these lines.
            self.stats.commit_failures += 1
            log.warning("kafka: offset commit failed: %s", exc)
            return
        self.stats.commits += 1
        for state, tp in offsets:
            state.committed_at(tp.offset)

    # -- rebalance callbacks (run inside consume(), on the worker thread) -------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._paused = False  # a new assignment fetches; the next step pauses it if need be
        skips = self._committed_skips(consumer, partitions)
        for tp in partitions:
            self.partitions[tp.partition] = PartitionState(
                self.options, self.shape, self.clock, skips.get(tp.partition)
            )
        self.stats.assigned += len(partitions)
        log.info("kafka: assigned %s", sorted(tp.partition for tp in partitions))

    def _committed_skips(
        self, consumer: Consumer, partitions: list[TopicPartition]
    ) -> dict[int, dict[str, int]]:
        if not partitions:
            return {}
        try:
            committed = consumer.committed(partitions, timeout=30)
        except KafkaException as exc:
            # Without them the reports the last owner emitted across its commit point come
            # again, cut short, under other ids: worth a line in the log.
            log.warning("kafka: committed offsets unreadable, nothing skipped: %s", exc)
            return {}
        return {tp.partition: CommitPoint.skips_from(tp.metadata) for tp in committed}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = [tp.partition for tp in partitions]
        if self._deliver_until_accepted():
            self._commit(consumer, numbers)
        for number in numbers:
            self.partitions.pop(number, None)
        self.stats.revoked += len(partitions)
        log.info("kafka: revoked %s", sorted(numbers))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own them already: commit nothing, just forget.
        for tp in partitions:
            self.partitions.pop(tp.partition, None)
        self.stats.lost += len(partitions)
        log.warning("kafka: lost %s", sorted(tp.partition for tp in partitions))

    # -- observability ---------------------------------------------------------------------

    @property
    def open_reports(self) -> int:
        return sum(s.assembler.open_hosts for s in list(self.partitions.values()))

    def health(self) -> dict:
        partitions = dict(self.partitions)
        return {
            "kafka_partitions": sorted(partitions),
            # next offset to read, per partition: lag = the partition's end - this
            "kafka_positions": {str(n): s.next_offset for n, s in sorted(partitions.items())},
            "reports_in_progress": self.open_reports,
            "pending_documents": len(self.pending),
        }

    def _collect(self, metrics: Metrics) -> None:
        stats = self.stats
        for name, value, text in (
            ("kafka_records", stats.records, "Kafka records consumed"),
            ("kafka_undecodable_records", stats.undecodable, "Kafka records without a message"),
            ("kafka_commits", stats.commits, "Offset commits"),
            ("kafka_commit_failures", stats.commit_failures, "Offset commits that failed"),
            ("kafka_sink_refusals", stats.sink_refusals, "Deliveries a sink refused"),
            ("kafka_partitions_assigned", len(self.partitions), "Partitions owned now"),
        ):
            metrics.set(name, value, help=text)
        metrics.set("reports_in_progress", self.open_reports, help="Reports being assembled")
