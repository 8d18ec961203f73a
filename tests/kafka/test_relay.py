"""The receiving tier: `serve` with forward and syslog receivers and the `kafka` sink writes
each record to the topic, keyed by host, and acks the sender only once Kafka has it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import msgpack
import pytest
from confluent_kafka import Consumer

from oom_enricher.sources.kafka_records import to_shipped
from oom_enricher.sources.record_shapes import from_record
from tests.kafka.cluster import create_topic, free_port, wait_for
from tests.serve.fleet import fleet_events
from tests.serve.test_serve_kill_restart import ResendingSender

pytestmark = pytest.mark.integration


def _relay(
    tmp_path, bootstrap: str, topic: str, forward: int, syslog: int, http: int | None = None
) -> subprocess.Popen:
    config = tmp_path / "relay.toml"
    config.write_text(
        f"[http]\nport = {http or free_port()}\n"
        f"[sources.forward]\nport = {forward}\n"
        f"[sources.syslog]\nudp_port = {free_port()}\ntcp_port = {syslog}\n"
        f'[sinks.kafka]\nbootstrap = "{bootstrap}"\ntopic = "{topic}"\n'
        f"delivery_timeout_ms = 3000\n"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "oom_enricher", "serve", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "relay.log", "ab"),  # noqa: SIM115 - the child owns it
    )


def _read_topic(bootstrap: str, topic: str, count: int) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    got: list = []
    try:
        wait_for(
            f"{count} records", lambda: got.extend(consumer.consume(500, 0.5)) or len(got) >= count
        )
    finally:
        consumer.close()
    return got


def test_forward_chunks_are_in_kafka_keyed_by_host_before_the_ack(kafka_bootstrap, tmp_path):
    topic = f"relay-{os.getpid()}"
    create_topic(kafka_bootstrap, topic, partitions=6)
    forward, syslog = free_port(), free_port()
    relay = _relay(tmp_path, kafka_bootstrap, topic, forward, syslog)
    events = fleet_events()[:300]
    entries = [[e["time"][0], e["record"]] for e in events]
    try:
        sender = ResendingSender(forward)
        for n in range(0, len(entries), 50):
            sender.send_chunk("kern.oom", entries[n : n + 50], f"chunk-{n}")  # returns on ack
        with socket.create_connection(("127.0.0.1", syslog)) as s:
            s.sendall(b"<3>2026-09-21T10:00:00.5+00:00 node-s kernel: [ 1.5] Out of memory\n")
        records = _read_topic(kafka_bootstrap, topic, len(entries) + 1)
    finally:
        relay.terminate()
        relay.wait(timeout=60)
    assert len(records) == len(entries) + 1
    by_host: dict[str, list] = {}
    for message in records:
        shipped = to_shipped(message.value(), message.key())
        assert message.key() == shipped.host.encode()
        by_host.setdefault(shipped.host, []).append((message.partition(), shipped))
    # every line of a host in one partition, in the order sent, as a single serve would read it
    for host, items in by_host.items():
        assert len({partition for partition, _ in items}) == 1, host
    syslog_record = by_host.pop("node-s")[0][1]
    assert (syslog_record.message, syslog_record.fields["program"]) == (
        "[ 1.5] Out of memory",
        "kernel",
    )
    want: dict[str, list] = {}
    for seconds, record in entries:
        shipped = from_record(record, event_time=seconds, tag="kern.oom", peer="127.0.0.1")
        want.setdefault(shipped.host, []).append(shipped)
    assert {h: [s for _, s in items] for h, items in by_host.items()} == want


def test_no_ack_while_kafka_cannot_take_the_records(tmp_path):
    topic = "nowhere"
    forward, syslog, http = free_port(), free_port(), free_port()
    relay = _relay(tmp_path, f"127.0.0.1:{free_port()}", topic, forward, syslog, http)
    try:
        sock = ResendingSender(forward)._connect()
        payload = msgpack.packb([1790000000, {"host": "h", "log": "kernel: x"}])
        sock.sendall(msgpack.packb(["kern", payload, {"chunk": "c1", "size": 1}]))
        sock.settimeout(60)
        reply = sock.recv(4096)  # the relay closes the connection once delivery failed
        sock.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10) as response:
            metrics = response.read().decode()
    finally:
        relay.terminate()
        relay.wait(timeout=60)
    assert reply == b""
    assert 'errors_total{kind="kafka",source="forward"} 1' in metrics
