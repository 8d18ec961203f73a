"""Helpers for the Kafka integration tests: topics, producing, `serve` workers as processes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from elasticsearch import Elasticsearch

from oom_enricher.sinks.elasticsearch import names

WALL_AGE_S = 60.0  # the default; a pause of the whole stream is not a silent host
WAIT_S = 240.0  # upper bound on any wait; the tests wait for a state, never for a time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_topic(bootstrap: str, name: str, partitions: int = 6) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)
    futures[name].result(timeout=60)


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Keyed by host, the way every shipper configuration in pipelines/ writes them."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0


def wait_for(what: str, ready: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.3)


@dataclass
class Worker:
    """One `oom-enricher serve` process reading the topic as a member of the group."""

    directory: Path
    bootstrap: str
    topic: str
    es_url: str
    namespace: str
    group: str = "oom-enricher"
    max_wall_age: float = WALL_AGE_S
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "serve.toml"
        path.write_text(
            f'state_dir = "{self.directory / "state"}"\n'
            f"[http]\nport = {self.http_port}\n"
            f"[sources.kafka]\n"
            f'bootstrap = "{self.bootstrap}"\ntopic = "{self.topic}"\ngroup = "{self.group}"\n'
            # fast rebalances: a killed member is noticed within seconds
            f"session_timeout_ms = 4000\nheartbeat_interval_ms = 500\n"
            f"tick_interval = 0.5\ncommit_interval = 0.5\n"
            # reports still open when the input ends close soon (as they would at end of input)
            f"[pipeline]\nmax_wall_age = {self.max_wall_age}\n"
            f'[sinks.elasticsearch]\nurl = "{self.es_url}"\nnamespace = "{self.namespace}"\n'
        )
        return path

    def start(self) -> Worker:
        config = self.config()
        log = open(self.directory / "serve.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oom_enricher",
                "--log-level",
                "INFO",
                "serve",
                "-c",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        return self

    def health(self) -> dict:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/health", timeout=5
            ) as r:
                return json.loads(r.read())
        except OSError as exc:
            body = getattr(exc, "read", None)
            return json.loads(body()) if body else {}

    def partitions(self) -> list[int]:
        return self.health().get("kafka_partitions", [])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=90)

    def log(self) -> str:
        return (self.directory / "serve.log").read_text(errors="replace")[-4000:]


def indexed(es: Elasticsearch, namespace: str) -> list[dict]:
    stream = names.data_stream_name(namespace)
    if not es.indices.exists(index=stream):
        return []
    es.indices.refresh(index=stream)
    hits = es.search(index=stream, size=10_000, query={"match_all": {}})["hits"]["hits"]
    return [{"_id": h["_id"], **h["_source"]} for h in hits]
