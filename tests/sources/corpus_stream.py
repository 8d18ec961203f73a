"""Corpus reports as a shipper would send them, and what a pipeline makes of them."""

from __future__ import annotations

import re
from pathlib import Path

from oom_enricher.model import ShippedRecord
from oom_enricher.pipeline import Pipeline, documents_from_lines

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SYSLOG_KERNEL = re.compile(
    r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (?P<host>\S+) kernel: (?P<msg>.*)$"
)
SYSLOG_CASES = ("007", "013", "025", "037")


def corpus_log(prefix: str) -> Path:
    (path,) = CORPUS.glob(f"{prefix}-*.log")
    return path


def kernel_lines(prefix: str) -> list[tuple[str, str, str]]:
    """(original line, host, message after `kernel: `) of the kernel lines of a syslog file."""
    out = []
    for line in corpus_log(prefix).read_text(errors="replace").splitlines():
        m = SYSLOG_KERNEL.match(line)
        if m:
            out.append((line, m["host"], m["msg"]))
    return out


def projection(docs: list[dict]) -> list[tuple]:
    """What must survive any transport: per host, the kill facts of each report."""
    rows = []
    for d in docs:
        oom = d["oom"]
        victims = tuple((v.get("pid"), v.get("name")) for v in oom.get("victims") or [])
        rows.append(
            (
                oom["trigger"]["name"],
                victims,
                oom["complete"],
                oom.get("lines_count"),
                oom.get("scope"),
                oom.get("limit_hit"),
            )
        )
    return sorted(rows, key=repr)


def offline_documents(lines: list[str]) -> list[dict]:
    return list(documents_from_lines(lines))


def pipeline_documents(records: list[ShippedRecord]) -> list[dict]:
    pipeline = Pipeline()
    docs: list[dict] = []
    for r in records:
        docs.extend(pipeline.feed(r))
    docs.extend(pipeline.finish())
    return docs
