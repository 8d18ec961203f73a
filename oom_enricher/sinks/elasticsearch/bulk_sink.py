"""The Elasticsearch sink: documents in, each one indexed once, dead-lettered or spooled.

    sink = ElasticsearchSink(SinkConfig(EsConnection("http://127.0.0.1:9200")))
    sink.send(doc)          # non-blocking unless the in-memory queue is full
    sink.flush()            # everything handed over is indexed, dead-lettered or on disk
    sink.close()            # flush, try to drain the spool, stop
    sink.stats              # received, indexed, duplicates, dead_lettered, spooled, ...

A worker thread collects documents into batches: a batch leaves when it reaches chunk_size or
when its oldest document has waited flush_after_seconds (OOM reports are rare; nobody waits
for 500). Each batch goes through `helpers.streaming_bulk` with `op_type=create` and
`_id = event.id`, retrying 429/5xx with exponential backoff. Per item:

* 2xx -> indexed; 409 -> already there: a replay (a duplicate, not an error), or a later
  version of a report amended by late lines; see `amend.py`;
* another 4xx (mapping conflict, pipeline failure) -> dead-letter file with the reason;
* still 429/5xx after the retries, or Elasticsearch unreachable -> the on-disk spool.

A document naming ids in `event.supersedes` (a version of the kill stored under another id
before) deletes those documents once it is stored; versions of those ids before it in the
same batch, and stale copies after it, are not indexed. Documents are applied in the order
they came: a later document under a superseded id with more lines than its versions before (a
fragment taken into another report, then given back to its own with its head) is indexed and
not deleted.

While the spool holds anything, new batches are appended behind it, and the spool is drained
oldest first (with backoff) once Elasticsearch answers again, so documents keep their order.

A document that can go nowhere (Elasticsearch unreachable and the spool full or not writable,
or a dead-letter file that cannot be written) is held in memory and retried; `flush()` is
false while any is held, and `stats.unsaved` counts them. The worker never dies of it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from elastic_transport import TransportError
from elasticsearch import ApiError, helpers

from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.amend import (
    amend_existing,
    created_of,
    delete_superseded,
    superseded,
)
from oom_enricher.sinks.elasticsearch.auth import EsConnection
from oom_enricher.sinks.elasticsearch.dead_letter import DeadLetterFile
from oom_enricher.sinks.elasticsearch.rollover_dedupe import OlderIndexLookup
from oom_enricher.sinks.elasticsearch.spool import DiskSpool

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
SUPERSEDED_IDS = 100_000  # ids remembered per kind below (superseded, stored)
# Ids whose sent versions are remembered (a set of 16-byte digests each): a version comes
# again only within the amendment window, so the latest ids are enough.
VERSION_IDS = 20_000


@dataclass
class SinkConfig:
    connection: EsConnection
    namespace: str = names.DEFAULT_NAMESPACE
    spool_dir: Path = Path("oom-enricher-spool")
    spool_max_bytes: int = 256 << 20
    dead_letter_path: Path = Path("oom-enricher-dead-letter.jsonl")
    chunk_size: int = 500
    max_chunk_bytes: int = 10 << 20
    flush_after_seconds: float = 1.0
    max_retries: int = 4  # per bulk request, for 429/5xx items and responses
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_queued: int = 10_000  # send() blocks beyond this: back-pressure, not memory growth
    dedupe_across_rollovers: bool = True

    @property
    def data_stream(self) -> str:
        return names.data_stream_name(self.namespace)


@dataclass
class SinkStats:
    received: int = 0
    indexed: int = 0
    duplicates: int = 0
    amended: int = 0  # stored documents replaced by a version with more lines
    superseded: int = 0  # stored documents deleted: a version under another id replaced them
    dead_lettered: int = 0
    spooled: int = 0  # documents ever written to the spool
    spool_pending: int = 0  # documents in the spool now
    retries_unreachable: int = 0
    unsaved: int = 0  # documents neither indexed, spooled nor dead-lettered, held in memory
    write_errors: int = 0  # spool or dead-letter writes that failed
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "errors"}


class ElasticsearchSink:
    def __init__(self, config: SinkConfig, client=None) -> None:
        self.config = config
        self.client = client or config.connection.client()
        self.stats = SinkStats()
        self._spool = DiskSpool(config.spool_dir, config.spool_max_bytes)
        self._dead = DeadLetterFile(config.dead_letter_path)
        self._older = OlderIndexLookup(self.client, config.data_stream)
        # Worker side only: ids replaced under another id until their deletes are sent; the
        # versions of each id sent lately (digests); the `event.created` of the version this
        # process stored under each id; versions not sent before, until they are handled.
        self._superseded: OrderedDict[str, None] = OrderedDict()
        self._versions: OrderedDict[str, set[bytes]] = OrderedDict()
        self._ours: OrderedDict[str, str] = OrderedDict()
        self._unsent: set[bytes] = set()
        self.stats.spool_pending = self._spool.pending
        self._queue: deque[tuple[float, dict]] = deque()
        self._unsaved: list[dict] = []  # worker side only; see the module docstring
        self._unsaved_attempts = 0
        self._cond = threading.Condition()
        self._busy = False
        self._flush_requested = False
        self._stopping = False
        self._down = False
        self._retry_at = 0.0  # monotonic time of the next spool drain attempt
        self._backoff = config.initial_backoff
        self._thread = threading.Thread(target=self._run, name="es-sink", daemon=True)
        self._thread.start()

    # -- caller side -------------------------------------------------------------------------

    def send(self, doc: dict) -> None:
        with self._cond:
            if self._stopping:
                raise RuntimeError("sink is closed")
            while len(self._queue) + self.stats.unsaved >= self.config.max_queued:
                self._cond.wait(0.5)
            self._queue.append((time.monotonic(), doc))
            self.stats.received += 1
            # wake the worker for the first document (its timer starts) and for a full batch
            if len(self._queue) in (1, self.config.chunk_size):
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Waits until every document handed over is indexed, dead-lettered or spooled;
        false when one of them could not be (or on timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flush_requested = True
            self._cond.notify_all()
            attempts = self._unsaved_attempts
            # held documents get one more attempt (started after this call), no more
            while (
                self._queue
                or self._busy
                or (
                    self.stats.unsaved and self._unsaved_attempts == attempts and not self._stopping
                )
            ):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    self._flush_requested = False
                    return False
                self._cond.wait(left if left is not None else 0.5)
            self._flush_requested = False
            return self.stats.unsaved == 0

    def drain(self, timeout: float) -> bool:
        """Flushes, then keeps trying to empty the spool for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        if not self.flush(timeout):
            return False
        with self._cond:
            while self.stats.spool_pending and time.monotonic() < deadline:
                # poll at least every second while someone waits for the spool to empty
                self._retry_at = min(self._retry_at, time.monotonic() + 1.0)
                self._cond.notify_all()
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            while self._busy:
                self._cond.wait(0.2)
            return self.stats.spool_pending == 0

    def close(self, drain_timeout: float = 10.0) -> None:
        try:
            self.drain(drain_timeout)
        finally:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join()
            self._spool.close()
            self.client.close()

    @property
    def spool_pending(self) -> int:
        return self.stats.spool_pending

    # -- worker side -------------------------------------------------------------------------

    def _next_batch(self) -> list[dict] | None:
        """The next batch to send, [] when only a spool drain is due, None to stop."""
        cfg = self.config
        with self._cond:
            while True:
                now = time.monotonic()
                if self._queue:
                    full = len(self._queue) >= cfg.chunk_size
                    aged = now - self._queue[0][0] >= cfg.flush_after_seconds
                    if full or aged or self._flush_requested or self._stopping:
                        take = min(len(self._queue), cfg.chunk_size)
                        batch = [self._queue.popleft()[1] for _ in range(take)]
                        self._busy = True
                        self._cond.notify_all()
                        return batch
                due = self._spool.pending or self._unsaved
                now_due = now >= self._retry_at or (self._unsaved and self._flush_requested)
                if due and now_due and not self._stopping:
                    self._busy = True
                    return []
                if self._stopping and not self._queue:
                    return None
                waits = [cfg.flush_after_seconds]
                if self._queue:
                    waits.append(self._queue[0][0] + cfg.flush_after_seconds - now)
                if self._spool.pending or self._unsaved:
                    waits.append(self._retry_at - now)
                self._cond.wait(max(0.01, min(waits)))

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._retry_unsaved()
                if batch:
                    if self._spool.pending or self._down or self._unsaved:
                        self._to_spool(batch)
                    else:
                        self._to_spool(self._deliver(batch))
                self._drain_spool_if_due()
            except Exception as exc:  # never let the worker die with documents in hand
                log.exception("elasticsearch sink: unexpected error")
                self.stats.errors.append(repr(exc))
                if batch:
                    self._to_spool(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self.stats.spool_pending = self._spool.pending
                    self.stats.unsaved = len(self._unsaved)
                    self._cond.notify_all()

    def _retry_unsaved(self) -> None:
        """Documents that went nowhere: to Elasticsearch when it answers, else the spool."""
        if not self._unsaved:
            return
        if time.monotonic() < self._retry_at and not self._flush_requested:
            return
        held, self._unsaved = self._unsaved, []
        try:
            self._to_spool(self._deliver(held) if not self._spool.pending else held)
        finally:
            self._unsaved_attempts += 1

    def _drain_spool_if_due(self) -> None:
        while self._spool.pending and time.monotonic() >= self._retry_at:
            segment = self._spool.oldest()
            if segment is None:
                return
            undelivered = self._deliver(segment.documents)
            self._spool.replace(segment, undelivered)
            with self._cond:
                self.stats.spool_pending = self._spool.pending
            if undelivered:
                return
            with self._cond:
                if self._queue and (self._flush_requested or self._stopping):
                    return  # let queued documents go behind the spool first, then continue

    def _to_spool(self, docs: list[dict]) -> None:
        """Never raises: what the spool does not take is held in memory and retried."""
        if not docs:
            return
        try:
            overflow = self._spool.append(docs)
        except OSError as exc:
            self._write_failed("spool", exc)
            overflow = docs
        self.stats.spooled += len(docs) - len(overflow)
        if overflow:
            if self._spool.pending and len(overflow) < len(docs):
                log.warning("elasticsearch sink: spool full; %d document(s) held", len(overflow))
            self._unsaved.extend(overflow)
            self._retry_at = min(self._retry_at, time.monotonic() + self._backoff)

    def _write_failed(self, what: str, exc: OSError) -> None:
        if not self.stats.write_errors:
            log.error("elasticsearch sink: %s not writable (%s); documents held", what, exc)
        self.stats.write_errors += 1

    def _mark_unreachable(self, exc: Exception) -> None:
        if not self._down:
            log.warning("elasticsearch unreachable (%s); spooling", type(exc).__name__)
        self._down = True
        self.stats.retries_unreachable += 1
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self.config.max_backoff, self._backoff * 2)

    def _mark_reachable(self) -> None:
        if self._down:
            log.warning("elasticsearch reachable again")
        self._down = False
        self._backoff = self.config.initial_backoff
        self._retry_at = 0.0

    def _dead_letter(self, doc: dict, reason: object, status: int | str | None) -> None:
        try:
            self._dead.write(doc, reason, status, self.config.data_stream)
        except OSError as exc:
            self._write_failed("dead-letter file", exc)
            self._unsaved.append(doc)
            return
        self.stats.dead_lettered += 1

    def _deliver(self, docs: list[dict]) -> list[dict]:
        """Sends docs; returns those to keep for later (unreachable or still failing 429/5xx)."""
        cfg = self.config
        sendable = self._standing(docs)
        pending: dict[str, deque[dict]] = {}
        keep: list[dict] = []
        existing: list[dict] = []  # already stored under their id: replays or amendments
        stored: list[dict] = []  # indexed now
        for doc in sendable:
            pending.setdefault(_event_id(doc), deque()).append(doc)
        try:
            if cfg.dedupe_across_rollovers and sendable:
                known = self._older.existing(list(pending))
                for doc_id in known:
                    existing.extend(pending.pop(doc_id))
            actions = [
                {"_op_type": "create", "_index": cfg.data_stream, "_id": doc_id, "_source": doc}
                for doc_id, queue in pending.items()
                for doc in queue
            ]
            for ok, item in helpers.streaming_bulk(
                self.client,
                actions,
                chunk_size=cfg.chunk_size,
                max_chunk_bytes=cfg.max_chunk_bytes,
                raise_on_error=False,
                raise_on_exception=False,
                max_retries=cfg.max_retries,
                initial_backoff=cfg.initial_backoff,
                max_backoff=cfg.max_backoff,
                retry_on_status=RETRY_STATUSES,
                yield_ok=True,
            ):
                info = next(iter(item.values()))
                doc = pending[info["_id"]].popleft()
                status = info.get("status")
                if ok:
                    self.stats.indexed += 1
                    stored.append(doc)
                elif status == 409:
                    existing.append(doc)
                elif status in RETRY_STATUSES or "exception" in info:
                    # 429/5xx after the retries, or the whole request refused (401/403,
                    # proxy errors): nothing is wrong with the document; keep it.
                    keep.append(doc)
                else:
                    self._dead_letter(doc, info.get("error"), status)
            self._remember_ours(stored)
            if existing:
                amended, duplicates = amend_existing(
                    self.client, cfg.data_stream, existing, self._ours, self._is_rebuilt
                )
                self._remember_ours(amended)
                self.stats.amended += len(amended)
                self.stats.duplicates += duplicates
            self._unsent.difference_update(_digest(doc) for doc in stored + existing)
            replaced = [
                doc_id
                for doc in stored + existing
                for doc_id in superseded(doc)
                if doc_id in self._superseded  # not given back by a later document
            ]
            if replaced:
                self.stats.superseded += delete_superseded(self.client, cfg.data_stream, replaced)
        except (TransportError, ApiError) as exc:
            self._mark_unreachable(exc)
            return keep + existing + [doc for queue in pending.values() for doc in queue]
        if keep:
            self._mark_unreachable(RuntimeError(f"{len(keep)} document(s) still failing"))
        else:
            self._mark_reachable()
        return keep

    def _standing(self, docs: list[dict]) -> list[dict]:
        """docs in order, less the versions a later one supersedes and copies of versions
        sent before. A version this process had not sent before under a superseded id (a
        fragment taken into another report, then given back to its own) stands again: the
        pipeline emits in order and the spool keeps it."""
        sendable: list[dict] = []
        for doc in docs:
            doc_id = _event_id(doc)
            if not doc_id:
                self._dead_letter(doc, {"type": "missing_event_id", "reason": "no event.id"}, None)
                continue
            replaced = set(superseded(doc))
            if replaced:
                kept = [earlier for earlier in sendable if _event_id(earlier) not in replaced]
                self.stats.duplicates += len(sendable) - len(kept)  # stored under another id
                sendable = kept
            for earlier in replaced:
                self._superseded[earlier] = None
                self._superseded.move_to_end(earlier)
            seen = self._versions.setdefault(doc_id, set())
            self._versions.move_to_end(doc_id)
            digest = _digest(doc)
            if digest not in seen:
                seen.add(digest)
                self._unsent.add(digest)
                self._superseded.pop(doc_id, None)
            elif doc_id in self._superseded:
                self.stats.duplicates += 1  # a copy of a version replaced since
                continue
            sendable.append(doc)
        for remembered, most in (
            (self._superseded, SUPERSEDED_IDS),
            (self._versions, VERSION_IDS),
            (self._ours, SUPERSEDED_IDS),
        ):
            while len(remembered) > most:
                remembered.popitem(last=False)
        if len(self._unsent) > SUPERSEDED_IDS:  # dead-lettered versions never come back
            self._unsent.clear()
        return sendable

    def _is_rebuilt(self, doc: dict) -> bool:
        return _digest(doc) in self._unsent

    def _remember_ours(self, docs: list[dict]) -> None:
        for doc in docs:
            created = created_of(doc)
            if created is not None:
                self._ours[doc["event"]["id"]] = created
                self._ours.move_to_end(doc["event"]["id"])


def _digest(doc: dict) -> bytes:
    return hashlib.blake2b(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def _event_id(doc: dict) -> str | None:
    event = doc.get("event")
    value = event.get("id") if isinstance(event, dict) else None
    return value if isinstance(value, str) and value else None
