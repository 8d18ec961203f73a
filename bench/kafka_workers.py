"""Workers over Kafka: records per second through 1 and 2 `serve` workers, worker CPU per record
against bare decoding of the same records, and the time to drain what a killed worker left.

What users run: a topic of 6 partitions keyed by host, filled with Fluent Bit `out_kafka`
records (JSON, `@timestamp`, the syslog line under `log`, `hostname`) of a fleet's kernel and
userspace lines with real OOM reports inside (bench/fleet_log.py); `oom-enricher serve`
worker processes with the deployed worker settings (deploy/config/config-kafka-worker.toml)
indexing into a real Elasticsearch node. The baseline, in the same run: one consumer of the
same topic that only decodes each value (orjson), the floor of any worker.

    python -m bench.kafka_workers --lines 200000 --hosts 400
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from elasticsearch import Elasticsearch

from bench.bench_node import es_for_bench
from bench.fleet_log import fleet_lines, report_templates
from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.installer import install
from oom_enricher.sources.record_shapes import ShapeOptions

REPO = Path(__file__).resolve().parent.parent
PARTITIONS = 6
CLK_TCK = os.sysconf("SC_CLK_TCK")
SYSLOG_HOST = re.compile(r"\S+ +\d+ \S+ (\S+) ")


@contextlib.contextmanager
def kafka_for_bench(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    base = REPO / ".cache" / "kafka-nodes"
    base.mkdir(parents=True, exist_ok=True)
    node = Path(tempfile.mkdtemp(prefix="bench-", dir=base))
    started = subprocess.run(
        [str(REPO / "scripts/kafka-node/start"), "--dir", str(node)],
        check=True,
        capture_output=True,
        text=True,
    )
    try:
        yield started.stdout.split()[-1]
    finally:
        subprocess.run([str(REPO / "scripts/kafka-node/stop"), str(node), "--clean"], check=False)


def fluent_bit_records(lines: list[str]) -> list[tuple[bytes, bytes]]:
    out = []
    for n, line in enumerate(lines):
        host = SYSLOG_HOST.match(line).group(1)
        value = {"@timestamp": 1_790_000_000 + n / 1000, "log": line, "hostname": host}
        out.append((host.encode(), orjson.dumps(value)))
    return out


def fill_topic(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(60)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 20}
    )
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(300) == 0


class Worker:
    def __init__(self, work: Path, bootstrap: str, topic: str, es_url: str, namespace: str) -> None:
        self.http_port = _free_port()
        work.mkdir(parents=True, exist_ok=True)
        template = (REPO / "deploy/config/config-kafka-worker.toml").read_text()
        config = (
            template.replace('"/var/lib/oom-enricher"', f'"{work / "state"}"')
            .replace("port = 8686", f"port = {self.http_port}")
            .replace('host = "0.0.0.0"', 'host = "127.0.0.1"')
            .replace('"kafka-bootstrap.kafka.svc:9092"', f'"{bootstrap}"')
            .replace('"oom-enricher-lines"', f'"{topic}"')
            .replace('group = "oom-enricher"', f'group = "{topic}"')
            .replace('"http://elasticsearch:9200"', f'"{es_url}"')
            .replace('username = "elastic"', "")
            .replace('password_env = "OOM_ENRICHER_ES_PASSWORD"', "")
            .replace('namespace = "default"', f'namespace = "{namespace}"')
        )
        (work / "worker.toml").write_text(config)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oom_enricher", "serve", "-c", str(work / "worker.toml")],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "worker.log", "ab"),  # noqa: SIM115 - the child owns it
        )

    def _get(self, path: str) -> bytes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
                return r.read()
        except OSError as exc:
            return exc.read() if hasattr(exc, "read") else b""

    def health(self) -> dict:
        body = self._get("/health")
        return orjson.loads(body) if body else {}

    def partitions(self) -> list[int]:
        return self.health().get("kafka_partitions", [])

    def positions(self) -> dict[int, int]:
        found = self.health().get("kafka_positions", {})
        return {int(k): v for k, v in found.items() if v is not None}

    def records(self) -> int:
        found = re.search(rb"^oom_enricher_kafka_records (\d+)", self._get("/metrics"), re.M)
        return int(found.group(1)) if found else 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, ready, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.1)


def through_workers(count: int, ctx: dict, name: str) -> tuple[float, float]:
    """(records/s, worker CPU seconds per record) for `count` workers draining a full topic."""
    topic = f"{name}-{os.getpid()}"
    fill_topic(ctx["bootstrap"], topic, ctx["records"])
    namespace = f"{name}{os.getpid()}"
    install(ctx["es"], namespace)
    workers = [
        Worker(ctx["work"] / f"{name}-{n}", ctx["bootstrap"], topic, ctx["es_url"], namespace)
        for n in range(count)
    ]
    try:
        share = PARTITIONS // count  # measured once the group is stable: each has its share
        _wait("a stable assignment", lambda: all(len(w.partitions()) == share for w in workers))
        started, cpu = time.monotonic(), sum(w.cpu_seconds() for w in workers)
        total = len(ctx["records"])
        before = sum(w.records() for w in workers)
        _wait("every record", lambda: sum(w.records() for w in workers) >= total)
        elapsed = time.monotonic() - started
        used = sum(w.cpu_seconds() for w in workers) - cpu
        total -= before
    finally:
        for worker in workers:
            worker.stop()
    return total / elapsed, used / max(total, 1)


def bare_decoding(ctx: dict) -> float:
    """CPU seconds per record to consume and JSON-decode the same topic, nothing else."""
    consumer = Consumer(
        {
            "bootstrap.servers": ctx["bootstrap"],
            "group.id": f"bare-{os.getpid()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([f"one-{os.getpid()}"])
    total, seen = len(ctx["records"]), 0
    started = None
    while seen < total:
        for message in consumer.consume(500, 1.0):
            if message.error() is None:
                started = started if started is not None else time.process_time()
                orjson.loads(message.value())
                seen += 1
    used = time.process_time() - (started or 0.0)
    consumer.close()
    return used / total


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{os.getpid()}"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in range(PARTITIONS)
        }
    finally:
        consumer.close()


def drain_after_kill(ctx: dict) -> tuple[float, float, int]:
    """Seconds from SIGKILL of one of 2 workers, half-way, until the survivor has read every
    partition to its end (and until every complete report is indexed)."""
    topic = f"kill-{os.getpid()}"
    fill_topic(ctx["bootstrap"], topic, ctx["records"])
    namespace = f"kill{os.getpid()}"
    install(ctx["es"], namespace)
    stream = names.data_stream_name(namespace)
    workers = [
        Worker(ctx["work"] / f"kill-{n}", ctx["bootstrap"], topic, ctx["es_url"], namespace)
        for n in range(2)
    ]
    total = len(ctx["records"])

    def indexed() -> int:
        if not ctx["es"].indices.exists(index=stream):
            return 0
        ctx["es"].indices.refresh(index=stream)
        query = {"term": {"oom.complete": True}}
        return ctx["es"].count(index=stream, query=query)["count"]

    try:
        _wait("assignment", lambda: sum(len(w.partitions()) for w in workers) == PARTITIONS)
        _wait("half the records", lambda: sum(w.records() for w in workers) >= total // 2)
        left = total - workers[0].records() - workers[1].records()
        workers[0].proc.send_signal(signal.SIGKILL)
        workers[0].proc.wait()
        killed = time.monotonic()
        ends = end_offsets(ctx["bootstrap"], topic)
        survivor = workers[1]
        _wait(
            "the survivor at the end of every partition",
            lambda: all(survivor.positions().get(p, -1) >= end for p, end in ends.items()),
        )
        drained = time.monotonic() - killed
        _wait("every complete document", lambda: indexed() >= ctx["complete"])
        return drained, time.monotonic() - killed, left
    finally:
        for worker in workers:
            worker.stop()


def memory_per_open_report(reports: int = 200) -> float:
    """Bytes a worker holds per report in progress: real reports fed all but their last lines."""
    from oom_enricher.model import ShippedRecord
    from oom_enricher.pipeline import PipelineOptions
    from oom_enricher.serve.kafka_worker import OutageClock, PartitionState

    templates = report_templates()
    tracemalloc.start()
    state = PartitionState(PipelineOptions(), ShapeOptions(), OutageClock())
    base = tracemalloc.get_traced_memory()[0]
    offset = 0
    for n in range(reports):
        messages = templates[n % len(templates)]
        for message in messages[: max(len(messages) - 3, 1)]:
            state.feed(ShippedRecord(f"[{5000 + n}.5] {message}", host=f"h{n}"), offset)
            offset += 1
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert state.assembler.open_hosts == reports
    return held / reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--oom-share", type=float, default=0.01, help="share of lines in reports")
    parser.add_argument("--es", help="a running Elasticsearch (default: start one)")
    parser.add_argument("--kafka", help="a running broker's bootstrap (default: start one)")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as tmp,
        es_for_bench(args.es) as es_url,
        kafka_for_bench(args.kafka) as bootstrap,
    ):
        work = Path(tmp)
        lines = list(fleet_lines(args.lines, args.hosts, args.oom_share))
        (work / "fleet.log").write_text("\n".join(lines) + "\n")
        parsed = subprocess.run(
            [sys.executable, "-m", "oom_enricher", "parse", str(work / "fleet.log")],
            capture_output=True,
            check=False,
        )
        ctx = {
            "bootstrap": bootstrap,
            "es_url": es_url,
            "es": Elasticsearch(es_url, request_timeout=60),
            "records": fluent_bit_records(lines),
            "documents": len(parsed.stdout.splitlines()),
            "complete": sum(b'"complete":true' in d for d in parsed.stdout.splitlines()),
            "work": work,
        }
        print(f"{len(lines)} records, {args.hosts} hosts, {ctx['documents']} reports")
        one_rate, one_cpu = through_workers(1, ctx, "one")
        bare_cpu = bare_decoding(ctx)
        two_rate, two_cpu = through_workers(2, ctx, "two")
        print(f"1 worker:  {one_rate:9.0f} records/s, {one_cpu * 1e6:6.1f} µs CPU/record")
        print(f"2 workers: {two_rate:9.0f} records/s, {two_cpu * 1e6:6.1f} µs CPU/record")
        print(
            f"bare consume+decode: {bare_cpu * 1e6:6.1f} µs CPU/record; "
            f"worker/bare {one_cpu / bare_cpu:.1f}x; 2 workers/1 worker "
            f"{two_rate / one_rate:.2f}x"
        )
        print(f"memory per report in progress: {memory_per_open_report() / 1024:.0f} KiB")
        drain, indexed, left = drain_after_kill(ctx)
        print(
            f"SIGKILL of 1 of 2 workers half-way ({left} records not yet read): the survivor "
            f"read every partition to its end {drain:.1f} s later, every complete report "
            f"indexed after {indexed:.1f} s (session timeout 10 s included)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
