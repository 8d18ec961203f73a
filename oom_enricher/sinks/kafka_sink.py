"""The receiving tier's sink: what forward and syslog receivers take in goes to a Kafka topic,
keyed by host, and the sender is acknowledged only once Kafka acknowledged it.

The producer is idempotent with `acks=all`: a retried produce after a lost broker reply is
written once, and a record counts as delivered only when every in-sync replica has it. Each
value is the ShippedRecord the receiver made (`kafka_records.envelope`), so a worker reads
exactly what a single `serve` would have fed. librdkafka delivers its reports from `poll()`,
called by one background thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Producer

from oom_enricher.model import ShippedRecord
from oom_enricher.sources.kafka_records import envelope

log = logging.getLogger(__name__)


class KafkaUnavailable(Exception):
    """Kafka did not take every record of a batch; the sender must not get an ack."""


@dataclass
class KafkaSinkConfig:
    bootstrap: str
    topic: str
    delivery_timeout_ms: int = 30_000  # a record not acknowledged by then fails its batch
    linger_ms: int = 5
    client: dict[str, str] = field(default_factory=dict)  # more librdkafka settings (TLS, SASL)

    def producer_settings(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": self.linger_ms,
            "delivery.timeout.ms": self.delivery_timeout_ms,
            **self.client,
        }


def record_key(record: ShippedRecord) -> bytes | None:
    """The partition key: the host, so that every line of a host lands in one partition."""
    host = record.host or record.fields.get("peer")
    return host.encode("utf-8", "surrogateescape") if host else None


class KafkaRecordSink:
    name = "kafka"

    def __init__(self, config: KafkaSinkConfig) -> None:
        self.config = config
        self.producer = Producer(config.producer_settings(), logger=log)
        self.delivered = 0
        self.failed = 0
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-producer", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    async def send(self, records: list[ShippedRecord]) -> None:
        """Returns once Kafka acknowledged every record; raises KafkaUnavailable otherwise."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future] = []
        for record in records:
            future = loop.create_future()
            futures.append(future)
            await self._produce(record, self._on_delivery(loop, future))
        errors = [error for error in await asyncio.gather(*futures) if error is not None]
        self.delivered += len(records) - len(errors)
        if errors:
            self.failed += len(errors)
            raise KafkaUnavailable(f"{len(errors)} of {len(records)} record(s) failed: {errors[0]}")

    async def _produce(self, record: ShippedRecord, callback) -> None:
        value, key = envelope(record), record_key(record)
        while True:
            try:
                self.producer.produce(self.config.topic, value=value, key=key, on_delivery=callback)
                return
            except BufferError:  # librdkafka's local queue is full: wait for deliveries
                await asyncio.sleep(0.05)

    @staticmethod
    def _on_delivery(loop: asyncio.AbstractEventLoop, future: asyncio.Future):
        def done(error: KafkaError | None, _message) -> None:
            loop.call_soon_threadsafe(_settle, future, error)

        return done

    def close(self, timeout: float = 10.0) -> None:
        left = self.producer.flush(timeout)
        if left:
            log.error("kafka: %d record(s) not delivered at shutdown", left)
        self._stop.set()
        self._poller.join(timeout=2)


def _settle(future: asyncio.Future, error: KafkaError | None) -> None:
    if not future.done():
        future.set_result(error)
