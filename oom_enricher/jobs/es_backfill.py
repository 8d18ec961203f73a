"""Backfill: raw syslog documents already in Elasticsearch -> enriched OOM documents.

Reads the source indices with a point in time and search_after, kernel lines only, sorted by
the documents' time (and `_shard_doc`, i.e. index order, among equal times): every host's
lines arrive in time order, interleaved as they happened. Each source document becomes a
ShippedRecord (the same record shapes the forward server understands: Fluent Bit, Fluentd,
Filebeat / Elastic Agent), runs through the normal pipeline, and the documents go to the sink.

Resumable: after each page the sink is flushed and a checkpoint is written atomically: the
first time value whose lines are not yet fed, and the pipeline's state (open reports) before
them. A resumed run restores that state and reads again from that time; anything re-derived
twice has the same event.id and is counted as a duplicate, never indexed twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from elasticsearch import Elasticsearch

from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sources.record_shapes import ShapeOptions, from_record, kernel_origin

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class SourceFields:
    """Where a shipper puts things; None means: recognise the usual keys (record_shapes)."""

    time: str = "@timestamp"
    message: str | None = None
    host: str | None = None
    program: str | None = "ident"


PRESETS: dict[str, SourceFields] = {
    # Fluent Bit es output (syslog parsers: host, ident, pid, message; tail: log)
    "fluent-bit": SourceFields(program="ident"),
    # fluent-plugin-elasticsearch behind in_syslog / parser_syslog: host, ident, message
    "fluentd": SourceFields(program="ident"),
    # Filebeat system module / Elastic Agent: ECS host.name, process.name, message
    "filebeat": SourceFields(message="message", host="host.name", program="process.name"),
}


@dataclass
class BackfillOptions:
    source: str = "logs-*"
    fields: SourceFields = field(default_factory=SourceFields)
    since: str | None = None  # anything a range query on the time field accepts
    until: str | None = None
    query: dict | None = None  # replaces the kernel-lines query when given
    page_size: int = 1000
    keep_alive: str = "5m"
    state_path: Path | None = None
    restart: bool = False
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)


@dataclass
class BackfillStats:
    scanned: int = 0
    records: int = 0
    reports: int = 0
    resumed_from: int | None = None
    already_done: bool = False


def kernel_lines_query(fields: SourceFields) -> dict:
    should: list[dict] = []
    if fields.program:
        should.append({"term": {fields.program: "kernel"}})
    for key in [fields.message] if fields.message else ["message", "log", "msg"]:
        should.append({"match": {key: "kernel"}})  # raw lines: "host kernel: ..."
        # userspace notices the parser uses, e.g. systemd's "killed by the OOM killer"
        should.append({"match": {key: "oom"}})
    should.append({"term": {"_TRANSPORT": "kernel"}})  # journald-shaped documents
    return {"bool": {"should": should, "minimum_should_match": 1}}


def source_expression(source: str) -> str:
    # Our own enriched documents match logs-* too; never read them back as input.
    own = f"-{names.DATA_STREAM_TYPE}-{names.DATASET}-*"
    return source if own in source else f"{source},{own}"


def _query(options: BackfillOptions, resume_time: int | None) -> dict:
    time_range: dict = {"format": "strict_date_optional_time||epoch_millis"}
    if options.since:
        time_range["gte"] = options.since
    if options.until:
        time_range["lt"] = options.until
    filters: list[dict] = [options.query or kernel_lines_query(options.fields)]
    if len(time_range) > 1:
        filters.append({"range": {options.fields.time: time_range}})
    if resume_time is not None:
        resume = {"gte": resume_time, "format": "epoch_millis"}
        filters.append({"range": {options.fields.time: resume}})
    return {"bool": {"filter": filters}}


def _job_key(options: BackfillOptions) -> str:
    spec = {
        "source": options.source,
        "fields": options.fields.__dict__,
        "since": options.since,
        "until": options.until,
        "query": options.query,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _load_state(path: Path | None, key: str) -> dict | None:
    if path is None or not path.exists():
        return None
    state = orjson.loads(path.read_bytes())
    if state.get("version") != STATE_VERSION or state.get("job") != key:
        raise ValueError(f"{path} belongs to another backfill (use another --state or --restart)")
    return state


def _save_state(path: Path | None, state: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(state))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def to_record(source: dict, fields: SourceFields):
    shape = ShapeOptions(message_key=fields.message, host_key=fields.host, time_key=fields.time)
    record = from_record(source, source="backfill", options=shape)
    if record is None:
        return None
    if fields.program and "program" not in record.fields:
        value = source
        for part in fields.program.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):  # ECS process.name, nested keys from_record leaves alone
            record.fields["program"] = value
            record.fields["is_kernel"] = kernel_origin(record.fields)
    return record


class Backfill:
    def __init__(
        self,
        client: Elasticsearch,
        emit: Callable[[dict], None],
        flush: Callable[[], object],
        options: BackfillOptions,
    ) -> None:
        self.client = client
        self.emit = emit
        self.flush = flush
        self.options = options
        self.stats = BackfillStats()
        self._key = _job_key(options)

    def run(self) -> BackfillStats:
        opts = self.options
        state = None if opts.restart else _load_state(opts.state_path, self._key)
        if state and state.get("done"):
            self.stats.already_done = True
            return self.stats
        resume_time = state["time"] if state else None
        pipeline = (
            Pipeline.restore(state["pipeline"], opts.pipeline) if state else Pipeline(opts.pipeline)
        )
        if state:
            self.stats.resumed_from = resume_time
            self.stats.scanned = state.get("scanned", 0)
        pending: list[dict] = []  # the hits of one time value, fed when the next value starts
        pending_time = None
        for page in self._pages(_query(opts, resume_time)):
            for hit in page:
                self.stats.scanned += 1
                t = hit["sort"][0]
                if pending and t != pending_time:
                    self._feed(pipeline, pending)
                    pending = []
                pending_time = t
                pending.append(hit)
            self.flush()
            if pending:
                self._checkpoint(pending_time, pipeline, done=False)
        self._feed(pipeline, pending)
        self._emit_all(pipeline.finish())
        self.flush()
        self._checkpoint(pending_time, pipeline, done=True)
        return self.stats

    def _feed(self, pipeline: Pipeline, hits: list[dict]) -> None:
        for hit in hits:
            record = to_record(hit.get("_source") or {}, self.options.fields)
            if record is None:
                continue
            self.stats.records += 1
            self._emit_all(pipeline.feed(record))

    def _emit_all(self, docs: list[dict]) -> None:
        for doc in docs:
            self.stats.reports += 1
            self.emit(doc)

    def _checkpoint(self, time_value, pipeline: Pipeline, done: bool) -> None:
        state = {
            "version": STATE_VERSION,
            "job": self._key,
            "source": self.options.source,
            "time": time_value,
            "pipeline": pipeline.snapshot(),
            "scanned": self.stats.scanned,
            "done": done,
        }
        _save_state(self.options.state_path, state)

    def _pages(self, query: dict):
        opts = self.options
        pit = self.client.open_point_in_time(
            index=source_expression(opts.source),
            keep_alive=opts.keep_alive,
            ignore_unavailable=True,
        ).body["id"]
        search_after = None
        try:
            while True:
                resp = self.client.search(
                    pit={"id": pit, "keep_alive": opts.keep_alive},
                    query=query,
                    sort=[
                        {opts.fields.time: {"order": "asc", "unmapped_type": "date"}},
                        {"_shard_doc": "asc"},
                    ],
                    size=opts.page_size,
                    search_after=search_after,
                    track_total_hits=False,
                ).body
                pit = resp.get("pit_id", pit)
                hits = resp["hits"]["hits"]
                if not hits:
                    return
                yield hits
                search_after = hits[-1]["sort"]
        finally:
            self.client.close_point_in_time(id=pit)
