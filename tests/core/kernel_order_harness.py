"""A serve-like feeder with a controlled clock: chunks of shipped records delivered at chosen
times, ticks every second, restarts from the snapshot; and the facts compared per report."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from bench.fleet_log import report_templates
from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.reassembly.assembler import Assembler
from oom_enricher.sources.record_shapes import from_record

TEMPLATES = report_templates()
STREAM_ENDED = {"end_of_input": "stream ended", "max_wall_age": "stream ended"}
NOISE = ["eth0: link up", "EXT4-fs (sda1): re-mounted", "usb 1-1: new high-speed USB device"]


def kmsg_records(
    host: str, templates: list[list[str]], first_seq: int = 1, gap_usec: int = 30_000_000
) -> list[dict]:
    """One host's kernel stream as Fluent Bit kmsg records: reports 30 s apart in kernel
    time (`gap_usec`), each line 40 µs after the previous, a few other kernel lines between
    reports."""
    records: list[dict] = []
    seq, usec = first_seq, 1_000_000_000
    for index, template in enumerate(templates):
        for text in [NOISE[index % 3], NOISE[(index + 1) % 3], *template]:
            records.append(
                {
                    "priority": 6,
                    "sequence": seq,
                    "sec": usec // 1_000_000,
                    "usec": usec % 1_000_000,
                    "msg": text,
                    "host": host,
                }
            )
            seq, usec = seq + 1, usec + 40
        usec += gap_usec
    return records


def in_order(records: list[dict]) -> list[dict]:
    pipeline = Pipeline()
    docs = [doc for record in records for doc in pipeline.feed(shipped(record))]
    return docs + pipeline.finish()


def shipped(record: dict):
    result = from_record(record, event_time=1_764_000_000.0)
    assert result is not None
    return result


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ServeLike:
    """What `serve` does with forward batches: feed, settle, tick every second, persist."""

    options: PipelineOptions = field(default_factory=PipelineOptions)
    clock: Clock = field(default_factory=Clock)
    docs: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pipeline = self._new_pipeline()

    def _new_pipeline(self) -> Pipeline:
        pipeline = Pipeline(self.options)
        pipeline.assembler = Assembler(self.options.bounds, clock=self.clock, live=True)
        return pipeline

    def advance_to(self, when: float) -> None:
        while self.clock.now + 1.0 <= when:
            self.clock.now += 1.0
            self.docs.extend(self.pipeline.tick())
        self.clock.now = max(self.clock.now, when)

    def deliver(self, chunk: list[dict]) -> None:
        for record in chunk:
            self.docs.extend(self.pipeline.feed(shipped(record)))
        self.docs.extend(self.pipeline.settle())

    def restart(self) -> None:
        """SIGTERM and start again: the state goes through its JSON file."""
        saved = orjson.loads(orjson.dumps(self.pipeline.snapshot()))
        self.pipeline = self._new_pipeline()
        self.pipeline.assembler.restore(saved["assembler"])
        self.pipeline.normalizer.restore(saved["normalizer"])

    def close(self) -> list[dict]:
        self.advance_to(self.clock.now + 300)
        self.docs.extend(self.pipeline.finish())
        return self.docs


# A report's tail (kill line, no header) lands while the report before it still lacks its
# kill: emitted alone, taken into that report, given back when its header and the first
# report's kill come. (seconds after 1000, chunk index) of 30-record chunks of one host.
GIVEN_BACK_PLAN = [(0, 0), (0.5, 1), (2, 4), (2.5, 5), (3, 6), (3.5, 7), (4, 2), (4, 8), (4.5, 3)]


def given_back_stream(host: str = "node-0") -> list[dict]:
    # 5 s apart: a report without its kill takes lines only this close (Bounds.body_gap)
    return kmsg_records(host, [TEMPLATES[2], TEMPLATES[3], TEMPLATES[0]], gap_usec=5_000_000)


def chunks_of(records: list[dict], size: int) -> list[list[dict]]:
    return [records[start : start + size] for start in range(0, len(records), size)]


def last_versions(docs: list[dict]) -> dict[str, dict]:
    final: dict[str, dict] = {}
    for doc in docs:
        final[doc["event"]["id"]] = doc
    return final


def superseded_away(docs: list[dict]) -> dict[str, dict]:
    """What a reader applying the documents in order keeps: each document replaces the
    earlier versions of its own id and of the ids it names in `event.supersedes`; a later
    document under a superseded id (a fragment given back its own report) stands again."""
    final: dict[str, dict] = {}
    for doc in docs:
        for earlier in doc["event"].get("supersedes", []):
            final.pop(earlier, None)
        final[doc["event"]["id"]] = doc
    return final


def facts(doc: dict) -> dict:
    oom = doc["oom"]
    return {
        "host": doc["host"].get("name"),
        "victims": [victim["pid"] for victim in oom["victims"]],
        "tasks_count": oom["tasks_count"],
        "lines_count": oom["lines_count"],
        "memory": oom.get("memory"),
        "limit_hit": oom["limit_hit"],
        "complete": oom["complete"],
        # A report still missing its kill when input stops: parse says end_of_input, serve
        # says max_wall_age; both mean the stream said nothing more.
        "incomplete_reason": STREAM_ENDED.get(oom["incomplete_reason"], oom["incomplete_reason"]),
    }


def by_id(docs: dict[str, dict] | list[dict]) -> dict[str, dict]:
    items = docs.values() if isinstance(docs, dict) else docs
    return {doc["event"]["id"]: facts(doc) for doc in items}
