"""Forward enriched documents to a Fluentd / Fluent Bit aggregator with PyPI fluent-logger."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import orjson
from fluent import sender


@dataclass
class FluentSinkStats:
    received: int = 0
    sent: int = 0
    failed: int = 0


class FluentForwardSink:
    """Each document is one Message-mode event `<tag>` with the document as the record.

    fluent-logger keeps unsent events in its buffer (`bufmax`) and retries them with the
    next emit; `flush()` reports False while anything is still pending. Each event is one
    complete msgpack message, sent whole. A report amended by lines that arrived late is sent
    again under the same `event.id`: a later record with the same id supersedes an earlier
    one (an Elasticsearch output keyed on `event.id` keeps the last). A record whose
    `event.supersedes` lists ids replaces the records sent under those ids (the same kill,
    whose id changed when its kill line came late): a receiver deletes them. Records apply
    in order: a later record under such an id (a fragment given back to its own report)
    stands again.
    """

    name = "fluent"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 24224,
        tag: str = "oom_enricher.oom",
        timeout: float = 3.0,
        bufmax: int = 64 * 1024 * 1024,
    ) -> None:
        self.tag = tag
        # Event time in nanoseconds (EventTime), as Fluentd v1 itself sends.
        self._sender = sender.FluentSender(
            "", host=host, port=port, timeout=timeout, bufmax=bufmax, nanosecond_precision=True
        )
        self._lock = threading.Lock()
        self.stats = FluentSinkStats()

    def send(self, doc: dict) -> None:
        # Round-trip through JSON so datetimes and other non-msgpack values become strings.
        record = orjson.loads(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS))
        with self._lock:
            self.stats.received += 1
            if self._sender.emit(self.tag, record):
                self.stats.sent += 1
            else:
                self.stats.failed += 1

    def flush(self, timeout: float | None = None) -> bool:
        with self._lock:
            if self._sender.pendings:
                # fluent-logger has no public retry; an empty send re-sends its buffer.
                self._sender._send(b"")
            return not self._sender.pendings

    def close(self) -> None:
        with self._lock:
            self._sender.close()

    @property
    def spool_pending(self) -> int:
        pending = self._sender.pendings
        return len(pending) if pending else 0
