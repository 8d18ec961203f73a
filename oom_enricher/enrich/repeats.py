"""Each kill once when reading a finished input: repeats and pieces of a report are no kills.

A post may show the same report twice, quote its first lines before or after the whole
report to explain them, and rotated logs read together may overlap. The same document is
given once; an incomplete report all of whose records another document of the run holds
is a piece of it, not a kill of its own. A report is held until the next one is given, so a
piece quoted before its report is also told (the order of documents stays the input's).
Live (serve), a report given again is an amendment or a resend, which sinks settle by its
`event.id`: this filter is for finished inputs only.
"""

from __future__ import annotations

import hashlib

import orjson

from oom_enricher.model import ReportBlock
from oom_enricher.reassembly.markers import classify_line, is_report_shaped

MAX_REMEMBERED = 1 << 17  # documents and records remembered (about 10 MB), the oldest forgotten


class _Remembered:
    """Keys in two generations: when the newer is full the older is forgotten whole, so
    memory stays bounded and every step costs O(1)."""

    def __init__(self, most: int) -> None:
        self._half = max(most // 2, 1)
        self._newer: set[int] = set()
        self._older: set[int] = set()

    def __contains__(self, key: int) -> bool:
        return key in self._newer or key in self._older

    def holds_all(self, keys: frozenset[int]) -> bool:
        return all(key in self for key in keys)

    def add(self, keys: frozenset[int]) -> None:
        self._newer |= keys
        if len(self._newer) >= self._half:
            self._older, self._newer = self._newer, set()


class RepeatFilter:
    def __init__(self, max_remembered: int = MAX_REMEMBERED) -> None:
        self._given = _Remembered(max_remembered)
        # an incomplete report, its key and its records
        self._held: tuple[dict, int, frozenset[int]] | None = None

    def pass_on(self, doc: dict, block: ReportBlock) -> list[dict]:
        """The documents to give now: the held one unless this one holds all its records,
        then this one unless it was given before or is a piece of one given."""
        key = _digest_of(doc)
        records = frozenset(_record_keys(block))
        out = self._release(records)
        if key in self._given or (_incomplete(doc) and records and self._given.holds_all(records)):
            return out
        if _incomplete(doc):
            self._held = (doc, key, records)
            return out
        self._remember(records | {key})
        return [*out, doc]

    def flush(self) -> list[dict]:
        """The held report, at the input's end."""
        return self._release(frozenset())

    def _release(self, records: frozenset[int]) -> list[dict]:
        if self._held is None:
            return []
        (doc, key, held), self._held = self._held, None
        if records and held and held <= records:
            return []  # a piece of the report that follows it
        self._remember(held | {key})
        return [doc]

    def _remember(self, keys: frozenset[int]) -> None:
        self._given.add(keys)


def _record_keys(block: ReportBlock) -> list[int]:
    """Its report lines by their line and their text (records glued onto one line share the
    line); not an author's words a bare paste took in (`The full log:`)."""
    # hash(): the filter lives in one process (each `parse --jobs` worker has its own)
    return [
        hash((line.raw, line.message))
        for line in block.lines
        if classify_line(line) is not None or is_report_shaped(line.message)
    ]


def _digest_of(doc: dict) -> int:
    return _digest(orjson.dumps({**doc, "event": _without_created(doc["event"])}))


def _without_created(event: dict) -> dict:
    return {key: value for key, value in event.items() if key != "created"}


def _incomplete(doc: dict) -> bool:
    return not doc["oom"]["complete"]


def _digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest())
