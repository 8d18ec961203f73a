"""Where report documents come from: JSON Lines files, or the Elasticsearch data streams."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_INDEX_PATTERN = "logs-oom_enricher.oom-*"
# Bulky fields the report never reads; leaving them out keeps a 30-day scan cheap.
_SOURCE_EXCLUDES = ["event.original", "message", "oom.tasks", "oom.memcg_stats"]
_DURATION = re.compile(r"^(\d+)([mhdw])$")


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `2w`, `90m` -> timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration like 30d, 12h, 2w or 90m: {text!r}")
    amount, unit = int(match.group(1)), match.group(2)
    return {
        "m": timedelta(minutes=amount),
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
        "w": timedelta(weeks=amount),
    }[unit]


def read_jsonl(paths: list[Path]) -> Iterator[dict]:
    """Documents from JSON Lines files (`oom-enricher parse` output); `-` reads stdin."""
    for path in paths:
        if str(path) == "-":
            yield from _parse_lines(sys.stdin, "-")
        else:
            with path.open(encoding="utf-8") as handle:
                yield from _parse_lines(handle, str(path))


def _parse_lines(lines: Iterable[str], name: str) -> Iterator[dict]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}:{number}: not JSON: {exc.msg}") from exc
        if isinstance(doc, dict):
            yield doc


def search_elasticsearch(
    client, since: datetime, until: datetime | None = None, index: str = DEFAULT_INDEX_PATTERN
) -> Iterator[dict]:
    """Every document with `since <= @timestamp < until`, via scroll (official client)."""
    from elasticsearch import helpers

    bounds = {"gte": _iso(since)}
    if until is not None:
        bounds["lt"] = _iso(until)
    query = {"query": {"range": {"@timestamp": bounds}}, "sort": ["_doc"]}
    for hit in helpers.scan(
        client,
        index=index,
        query=query,
        size=1000,
        _source_excludes=_SOURCE_EXCLUDES,
        ignore_unavailable=True,
        allow_no_indices=True,
    ):
        yield hit["_source"]


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
