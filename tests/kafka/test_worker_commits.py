"""A worker against the real broker with a sink that refuses: no offset is committed past a
document the sinks have not accepted, and nothing is lost once they accept again."""

from __future__ import annotations

import os
import threading

import pytest
from confluent_kafka import Consumer, TopicPartition

from oom_enricher.pipeline import PipelineOptions
from oom_enricher.serve.kafka_worker import KafkaSourceConfig, KafkaWorker
from tests.kafka.cluster import create_topic, produce, wait_for
from tests.kafka.fleet import generated_fleet, parse_ids

pytestmark = pytest.mark.integration


class GateSink:
    """Refuses every flush until opened; then keeps what it accepted."""

    name = "gate"

    def __init__(self) -> None:
        self.open = threading.Event()
        self.accepted: list[dict] = []
        self._batch: list[dict] = []

    def send(self, doc: dict) -> None:
        self._batch.append(doc)

    def flush(self, timeout: float | None = None) -> bool:
        batch, self._batch = self._batch, []
        if not self.open.is_set():
            return False
        self.accepted.extend(batch)
        return True

    def close(self) -> None:
        pass


def _committed(bootstrap: str, topic: str, group: str) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in range(3)]
        return [tp.offset for tp in consumer.committed(parts, timeout=30)]
    finally:
        consumer.close()


def _run(worker: KafkaWorker) -> threading.Thread:
    thread = threading.Thread(target=worker.run)
    thread.start()
    return thread


def test_offsets_wait_for_the_sinks_and_nothing_is_lost_meanwhile(kafka_bootstrap, tmp_path):
    fleet = generated_fleet(hosts=30)
    want = parse_ids(fleet.write(tmp_path / "fleet.log"))
    topic = group = f"gate-{os.getpid()}"
    create_topic(kafka_bootstrap, topic, partitions=3)
    produce(kafka_bootstrap, topic, fleet.records)
    config = KafkaSourceConfig(
        kafka_bootstrap,
        topic,
        group=group,
        sink_timeout=0.2,
        commit_interval=0.2,
        session_timeout_ms=4000,
        heartbeat_interval_ms=500,
    )
    refusing = GateSink()
    first = KafkaWorker(config, PipelineOptions(), [refusing])
    thread = _run(first)
    try:
        wait_for("every record read", lambda: first.stats.records >= len(fleet.records))
        wait_for("refusals", lambda: first.stats.sink_refusals >= 3)
        commits = first.stats.commits
        held = _committed(kafka_bootstrap, topic, group)
        wait_for("more refusals", lambda: first.stats.sink_refusals >= 6)
        assert first.stats.commits == commits  # no commit while documents wait
        assert first.pending
    finally:
        first.request_stop()  # leaves the group with its documents undelivered
        thread.join(timeout=60)
    assert _committed(kafka_bootstrap, topic, group) == held
    # The next owner replays from what was committed: every report, none lost.
    accepting = GateSink()
    accepting.open.set()
    second = KafkaWorker(config, PipelineOptions(), [accepting])
    thread = _run(second)
    try:
        wait_for(
            "every report", lambda: len({d["event"]["id"] for d in accepting.accepted}) >= len(want)
        )
        wait_for("a commit", lambda: second.stats.commits > 0)
    finally:
        second.request_stop()
        thread.join(timeout=60)
    assert {d["event"]["id"] for d in accepting.accepted} == set(want)
