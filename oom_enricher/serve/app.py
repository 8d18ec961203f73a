"""The `serve` process: build sources and sinks from a ServeConfig and run until a signal.

Shutdown order (SIGTERM/SIGINT): stop accepting (servers close, busy forward connections
finish and ack their current request), emit reports whose bounds tripped, flush sinks, close
sinks. Reports in progress need no saving: their lines are in the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from oom_enricher.model import LogLine, ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer, NormalizeOptions
from oom_enricher.pipeline import PipelineOptions
from oom_enricher.reassembly.bounds import Bounds
from oom_enricher.reassembly.markers import classify_line, is_report_shaped, unit_notice
from oom_enricher.serve.config import ServeConfig
from oom_enricher.serve.http_endpoint import HttpEndpoint
from oom_enricher.serve.journal import Journal
from oom_enricher.serve.metrics import Metrics
from oom_enricher.serve.processor import Processor, Sink
from oom_enricher.skimming.forward_prefilter import ForwardPrefilter, Selection
from oom_enricher.sources.forward_handshake import HandshakeConfig
from oom_enricher.sources.forward_server import ForwardBatch, ForwardServer, ForwardServerConfig
from oom_enricher.sources.limits import BufferBudget, ConnectionGate, SourceLimits, descriptor_cap
from oom_enricher.sources.record_shapes import ShapeOptions, from_record
from oom_enricher.sources.syslog_receiver import SyslogConfig, SyslogReceiver

log = logging.getLogger(__name__)


def build_sinks(config: ServeConfig) -> list[Sink]:
    from oom_enricher.sinks.stdout_jsonl import JsonLinesSink

    if config.dry_run:
        return [JsonLinesSink()]
    sinks: list[Sink] = []
    for name, opts in config.sinks.items():
        if name == "kafka":
            continue  # a record relay, not a document sink: see ServeApp.relay
        if name == "stdout":
            sinks.append(JsonLinesSink())
        elif name == "fluent":
            from oom_enricher.sinks.fluent_forward import FluentForwardSink

            sinks.append(
                FluentForwardSink(
                    host=opts.get("host", "127.0.0.1"),
                    port=int(opts.get("port", 24224)),
                    tag=opts.get("tag", "oom_enricher.oom"),
                )
            )
        elif name == "elasticsearch":
            sinks.append(_elasticsearch_sink(opts, config))
    return sinks


def _es_connection(opts: dict[str, Any]):
    from oom_enricher.sinks.elasticsearch import EsConnection
    from oom_enricher.sinks.elasticsearch.auth import read_secret

    return EsConnection(
        url=str(opts["url"]).rstrip("/"),
        username=opts.get("username"),
        password=read_secret(opts.get("password_env"), opts.get("password_file")),
        api_key=read_secret(opts.get("api_key_env"), opts.get("api_key_file")),
        ca_file=opts.get("ca_file"),
        verify_certs=not opts.get("insecure", False),
    )


def _elasticsearch_sink(opts: dict[str, Any], config: ServeConfig) -> Sink:
    from oom_enricher.sinks.elasticsearch import ElasticsearchSink, SinkConfig
    from oom_enricher.state_paths import user_state_dir

    connection = _es_connection(opts)
    # never the working directory: a service's cwd is often / or wherever it was started
    base = config.state_dir or user_state_dir()
    sink_config = SinkConfig(
        connection=connection,
        spool_dir=Path(opts.get("spool_dir", base / "es-spool")),
        dead_letter_path=Path(opts.get("dead_letter_path", base / "es-dead-letter.jsonl")),
    )
    if opts.get("namespace"):
        sink_config.namespace = opts["namespace"]
    sink = ElasticsearchSink(sink_config)
    sink.name = "elasticsearch"  # type: ignore[attr-defined]
    return sink


def names_loop(config: ServeConfig):
    """Kubernetes names filled into indexed kills in the background (`kubernetes_names`)."""
    opts = config.sinks.get("elasticsearch")
    if not opts or config.dry_run or not opts.get("kubernetes_names", True):
        return None
    from oom_enricher.enrich.k8s_names import TtlCache
    from oom_enricher.sinks.elasticsearch import names
    from oom_enricher.sinks.elasticsearch.k8s_enricher import KubernetesEnricher, NamesLoop
    from oom_enricher.sinks.elasticsearch.k8s_lookup import DEFAULT_LOGS_INDEX, EsPodLookup

    client = _es_connection(opts).client()
    cache = TtlCache(
        ttl=float(opts.get("kubernetes_cache_ttl", 600.0)),
        miss_ttl=float(opts.get("kubernetes_miss_ttl", 60.0)),
    )
    lookup = EsPodLookup(client, opts.get("kubernetes_logs_index", DEFAULT_LOGS_INDEX), cache)
    enricher = KubernetesEnricher(
        client,
        names.data_stream_name(opts.get("namespace") or names.DEFAULT_NAMESPACE),
        lookup,
        max_attempts=int(opts.get("kubernetes_max_attempts", 10)),
    )
    return NamesLoop(enricher, float(opts.get("kubernetes_interval", 30.0)))


class ServeApp:
    def __init__(
        self, config: ServeConfig, sinks: list[Sink] | None = None, clock=time.monotonic
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics = Metrics()
        journal = None
        if config.journal_dir is not None and not config.dry_run:
            journal = Journal(config.journal_dir, fsync=config.fsync)
        options = PipelineOptions(
            normalize=NormalizeOptions(timezone=config.timezone),
            bounds=Bounds(**config.pipeline),
        )
        self.processor = Processor(
            options,
            build_sinks(config) if sinks is None else sinks,
            self.metrics,
            journal,
            commit_window=config.commit_window,
            clock=clock,
            max_journal_bytes=config.max_journal_bytes,
        )
        self.shape = ShapeOptions(
            message_key=config.records.get("message_key"),
            host_key=config.records.get("host_key"),
            time_key=config.records.get("time_key"),
            host_fallback=config.records.get("host_fallback", "peer"),
            max_message=config.limits.max_line_bytes,
        )
        message_key = self.shape.message_key
        self.prefilter = ForwardPrefilter(
            self._hosts_of,
            fallback=self.shape.host_fallback,
            message_keys=(message_key.rsplit(".", 1)[-1],) if message_key else (),
            max_objects=config.limits.max_decoded_objects,
        )
        # The prefilter tells a line that may amend a report on a record's bytes while its
        # message is not cut (a cut line may end where its bytes go on).
        self._skim_amendable = self.shape.max_message is None or self.shape.max_message > 255
        # Lines of a record taken apart only to look at them (its hosts, whether it can amend a
        # report): one normalizer per thread, as large requests are selected off the loop.
        self._scratch = threading.local()
        self.forward: ForwardServer | None = None
        self.syslog: SyslogReceiver | None = None
        self.http: HttpEndpoint | None = None
        self.edge: list[Any] = []
        self.relay = _kafka_relay(config)
        self.kafka: Any = None  # the consumer-group worker, with [sources.kafka]
        self._kafka_task: asyncio.Future | None = None
        self._edge_tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.names_loop = names_loop(config) if sinks is None else None

    # -- handlers --------------------------------------------------------------------------

    async def on_forward(self, batch: ForwardBatch) -> None:
        peer = batch.client_hostname or batch.peer
        records = []
        offsets: list[int] = []
        self.metrics.inc(
            "records_shaped", {"source": "forward"}, len(batch.entries), help="Records shaped"
        )
        for index, (seconds, record) in enumerate(batch.entries):
            shipped = from_record(
                record,
                event_time=seconds,
                tag=batch.tag,
                peer=peer,
                options=self.shape,
                counters=self.metrics,
            )
            if shipped is not None:
                records.append(shipped)
                if batch.offsets:
                    offsets.append(batch.offsets[index])
        if self.relay is not None:
            await self._relay("forward", records)
            return
        records, offsets = self._without_noise_of_emitted_hosts(records, offsets)
        chunk = batch.chunk if isinstance(batch.chunk, str) else None
        lookback = None
        if isinstance(batch.selection, Selection) and batch.selection.kept is not None:
            lookback = self._lookback(batch.selection, records, offsets)
        # A resend after a lost ack comes on a new connection, so the sender is its handshake
        # hostname when it has one, else its address without the port.
        await self.processor.handle("forward", records, chunk=chunk, sender=peer, lookback=lookback)
        self._refresh_prefilter()

    def _without_noise_of_emitted_hosts(
        self, records: list[ShippedRecord], offsets: list[int]
    ) -> tuple[list[ShippedRecord], list[int]]:
        """Records of a host whose reports are all emitted are read so that late lines amend
        them; its other records are left as those of an idle host are (unread). From a marker
        of the host in this batch on (a report opens), all of them are kept."""
        kept: list[ShippedRecord] = []
        kept_offsets: list[int] = []
        opened: set[str] = set()
        for index, record in enumerate(records):
            if record.host not in opened and self.processor.only_amendable(record):
                lines = self._look_at(record)
                if any(classify_line(line) is not None for line in lines):
                    opened.add(record.host)
                elif not any(_may_amend(line) for line in lines):
                    continue
            kept.append(record)
            if offsets:
                kept_offsets.append(offsets[index])
        return kept, kept_offsets

    def _refresh_prefilter(self) -> None:
        amendable = self.processor.only_amendable_hosts() if self._skim_amendable else ()
        self.prefilter.refresh(self.processor.open_hosts(), amendable)

    def _hosts_of(self, record: dict, tag: str, peer: str) -> set[str | None]:
        """The assembler keys the lines of one record would have."""
        shipped = from_record(record, tag=tag, peer=peer, options=self.shape)
        if shipped is None:
            return set()
        hosts = {line.host or shipped.host for line in self._look_at(shipped)}
        return hosts | {shipped.host}

    def _look_at(self, record: ShippedRecord) -> list[LogLine]:
        normalizer = getattr(self._scratch, "normalizer", None)
        if normalizer is None:
            normalizer = LineNormalizer(self.processor.options.normalize)
            self._scratch.normalizer = normalizer
        lines = normalizer.normalize_record(record)
        normalizer.forget_previous()
        return lines

    def _lookback(self, selection: Selection, records: list[ShippedRecord], offsets: list[int]):
        """Lines before records[i], decoded afresh from the raw requests kept: records left
        unread never reached the assembler's own ring."""
        bound = self.processor.options.bounds.lookback_lines

        def lines_before(index: int) -> list[LogLine]:
            record = records[index]
            fallback = self.prefilter.fallback_key(record.tag or "", record.fields.get("peer", ""))
            needle = record.host if record.host and record.host != fallback else None
            normalizer = LineNormalizer(self.processor.options.normalize)
            lines: list[LogLine] = []
            assert selection.kept is not None
            for raw, tag, peer in self.prefilter.lookback.entries(
                selection.kept, offsets[index], needle
            ):
                shipped = from_record(raw, tag=tag, peer=peer, options=self.shape)
                if shipped is not None:
                    lines.extend(normalizer.normalize_record(shipped))
            return lines[-bound:]

        return lines_before

    async def on_syslog(self, records: list[ShippedRecord]) -> None:
        if self.relay is not None:
            await self._relay("syslog", records)
            return
        await self.processor.handle("syslog", records, durable=False)

    async def _relay(self, source: str, records: list[ShippedRecord]) -> None:
        """Returns (and so lets the receiver ack) only once Kafka acknowledged every record."""
        try:
            await self.relay.send(records)
        except Exception:
            self.metrics.inc("errors", {"source": source, "kind": "kafka"})
            raise
        self.metrics.inc(
            "records_relayed", {"source": source}, len(records), help="Records written to Kafka"
        )

    async def on_edge(self, records: list[ShippedRecord], position: tuple[str, Any] | None) -> None:
        await self.processor.handle(
            records[0].fields.get("source", "edge"), records, position=position
        )

    # -- lifecycle -------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict]:
        ok = not self._stopping.is_set()
        if self.kafka is not None:
            ok = ok and self._kafka_task is not None and not self._kafka_task.done()
            return ok, {"status": "ok" if ok else "stopping", **self.kafka.health()}
        problems = self.processor.problems()
        stopping = self._stopping.is_set()
        pending = sum(len(docs) for docs in self.processor.pending.values())
        status = "stopping" if stopping else "unavailable" if problems else "ok"
        return not stopping and not problems, {
            "status": status,
            "reasons": problems,
            "pending_documents": pending,
            "reports_in_progress": self.processor.pipeline.assembler.open_hosts,
            "sinks": [s.name for s in self.processor.sinks],
            "forward_port": self.forward.port if self.forward else None,
        }

    async def start(self) -> None:
        cfg = self.config
        self._note_old_state_file()
        self.processor.restore()
        self.processor.start()
        # What builds documents is imported with the first report (`parse` of a log without
        # one never needs it); a service builds them sooner or later, and importing them then,
        # on the commit thread, held up that batch's ack and every ack waiting behind it.
        importlib.import_module("oom_enricher.enrich.document")
        importlib.import_module("oom_enricher.enrich.surrogates")
        self._refresh_prefilter()
        if self.processor.journal is None and not cfg.dry_run and "kafka" not in cfg.sources:
            log.warning(
                "no state_dir: reports in progress are lost on restart, and a forward ack "
                "then only covers documents already handed to the sinks"
            )
        # Descriptors and memory are the process's: one gate and one budget for every listener.
        gate = ConnectionGate(
            descriptor_cap(cfg.limits.max_connections), cfg.limits.max_connections_per_peer
        )
        budget = BufferBudget(cfg.limits.max_buffered_bytes)
        if "forward" in cfg.sources:
            self.forward = ForwardServer(
                _forward_config(cfg.sources["forward"], cfg.limits),
                self.on_forward,
                self.metrics,
                gate,
                budget,
                # a receiving tier relays every record: the workers behind Kafka hold the
                # reports in progress that say which records matter
                prefilter=self.prefilter if self.relay is None else None,
            )
            await self.forward.start()
        if "syslog" in cfg.sources:
            opts = cfg.sources["syslog"]
            self.syslog = SyslogReceiver(
                SyslogConfig(
                    host=opts.get("host", "127.0.0.1"),
                    udp_port=opts.get("udp_port", 5140),
                    tcp_port=opts.get("tcp_port", 5140),
                    host_fallback=self.shape.host_fallback,
                    limits=cfg.limits,
                ),
                self.on_syslog,
                self.metrics,
                gate,
                budget,
            )
            await self.syslog.start()
        self._start_edge_sources()
        if self.names_loop is not None:
            self.names_loop.start()
        if "kafka" in cfg.sources:
            self._start_kafka_worker(cfg.sources["kafka"])
        if cfg.http_port is not None:
            self.http = HttpEndpoint(cfg.http_host, cfg.http_port, self.metrics, self.health)
            await self.http.start()
        self.ready.set()

    def _note_old_state_file(self) -> None:
        old = self.config.state_dir / "state.json" if self.config.state_dir else None
        if old is not None and (old.exists() or old.is_symlink()):
            log.warning(
                "%s is a whole-state snapshot of an earlier version; it is not read "
                "(the journal replaces it) and can be deleted",
                old,
            )

    def _start_edge_sources(self) -> None:
        cfg = self.config.sources
        if "kmsg" in cfg:
            from oom_enricher.sources.kmsg_source import KmsgSource

            self.edge.append(
                KmsgSource(
                    cfg["kmsg"].get("path", "/dev/kmsg"), cfg["kmsg"].get("host"), self.metrics
                )
            )
        if "journal" in cfg:
            from oom_enricher.sources.journal_source import DEFAULT_COMMAND, JournalSource

            opts = cfg["journal"]
            self.edge.append(
                JournalSource(
                    opts.get("command", DEFAULT_COMMAND),
                    self.metrics,
                    first_start=opts.get("first_start", "boot"),
                )
            )
        if "file" in cfg:
            from oom_enricher.sources.file_follower import FileFollower

            opts = cfg["file"]
            for path in opts.get("paths", []):
                self.edge.append(
                    FileFollower(
                        path,
                        opts.get("host"),
                        self.metrics,
                        from_beginning=opts.get("from_beginning", True),
                    )
                )
        for source in self.edge:
            position = self.processor.positions.get(source.key)
            task = asyncio.create_task(source.run(self.on_edge, position))
            self._edge_tasks.append(task)

    def _start_kafka_worker(self, opts: dict[str, Any]) -> None:
        from oom_enricher.serve.kafka_worker import KafkaSourceConfig, KafkaWorker

        config = KafkaSourceConfig(**opts)
        self.kafka = KafkaWorker(
            config, self.processor.options, self.processor.sinks, self.metrics, self.shape
        )
        self._kafka_task = asyncio.ensure_future(asyncio.to_thread(self.kafka.run))
        self._kafka_task.add_done_callback(lambda _task: self.request_stop())

    async def tick_loop(self) -> None:
        """Close each report at its own deadline: sleep until the earliest one, or until a
        batch may have moved it (a report opened or reached its kill line)."""
        changed = self.processor.deadlines_changed
        while not self._stopping.is_set():
            deadline = self.processor.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock())
            changed.clear()
            woken = await self._wait(timeout)
            if self._stopping.is_set():
                return
            if woken and (deadline is None or self.clock() < deadline):
                continue  # a batch arrived: the earliest deadline is computed afresh
            try:
                await self.processor.tick()
                self._refresh_prefilter()
            except Exception:
                log.exception("closing reports at their deadline failed")

    async def _wait(self, timeout: float | None) -> bool:
        """True when woken by a batch or a stop, False when `timeout` seconds passed."""
        waiters = [
            asyncio.ensure_future(self._stopping.wait()),
            asyncio.ensure_future(self.processor.deadlines_changed.wait()),
        ]
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        return bool(done)

    def request_stop(self) -> None:
        if not self._stopping.is_set():
            log.info("stopping: no new connections; finishing requests in flight")
        self._stopping.set()

    async def stop(self) -> None:
        self._stopping.set()
        if self.forward is not None:
            await self.forward.stop()
        if self.syslog is not None:
            await self.syslog.stop()
        for source in self.edge:
            result = source.stop()
            if asyncio.iscoroutine(result):
                await result
        for task in self._edge_tasks:
            task.cancel()
        if self._edge_tasks:
            await asyncio.wait(self._edge_tasks, timeout=5)
        if self._kafka_task is not None:
            self.kafka.request_stop()
            await asyncio.wait([self._kafka_task])
            if not self._kafka_task.cancelled() and self._kafka_task.exception() is not None:
                log.error("kafka worker failed: %s", self._kafka_task.exception())
        if self.relay is not None:
            await asyncio.to_thread(self.relay.close)
        await self.processor.shutdown()
        if self.names_loop is not None:
            await asyncio.to_thread(self.names_loop.stop)
        if self.http is not None:
            await self.http.stop()
        log.info(
            "stopped; %d report(s) in progress kept in the journal",
            self.processor.pipeline.assembler.open_hosts,
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        try:
            await self.tick_loop()
        finally:
            await self.stop()
        if self._kafka_task is not None and self._kafka_task.exception() is not None:
            raise SystemExit(1)  # the worker failed (logged by stop()); not a clean exit


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop serve runs on: uvloop (libuv) where it is installed, as it takes a
    socket's bytes to the protocol and an ack back to the socket for about half the CPU of
    the standard loop; the standard loop otherwise, or when `event_loop = "asyncio"`."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def run_serve(config: ServeConfig) -> None:
    with asyncio.Runner(loop_factory=loop_factory(config.event_loop)) as runner:
        runner.run(ServeApp(config).run())


def _kafka_relay(config: ServeConfig) -> Any:
    if "kafka" not in config.sinks or config.dry_run:
        return None
    from oom_enricher.sinks.kafka_sink import KafkaRecordSink, KafkaSinkConfig

    return KafkaRecordSink(KafkaSinkConfig(**config.sinks["kafka"]))


def _forward_config(opts: dict[str, Any], limits: SourceLimits) -> ForwardServerConfig:
    handshake = None
    if opts.get("shared_key") is not None:
        handshake = HandshakeConfig(
            shared_key=str(opts["shared_key"]),
            self_hostname=opts.get("self_hostname") or f"oom-enricher.{socket.gethostname()}",
            users=dict(opts.get("users", {})),
        )
    config = ForwardServerConfig(
        host=opts.get("host", "127.0.0.1"),
        port=int(opts.get("port", 24224)),
        handshake=handshake,
        tls_cert=opts.get("tls_cert"),
        tls_key=opts.get("tls_key"),
        tls_client_ca=opts.get("tls_client_ca"),
        ack_delay=float(opts.get("ack_delay", 0.0)),
        limits=limits,
    )
    if "max_frame_bytes" in opts:  # older spelling, before the [limits] table
        config.limits = replace(limits, max_frame_bytes=int(opts["max_frame_bytes"]))
    return config


def _may_amend(line: LogLine) -> bool:
    return is_report_shaped(line.message) or unit_notice(line.message) is not None
