"""Find the lines that may hold an OOM marker, at the speed of grep.

Hyperscan matches all needles in one pass (x86-64 wheels); elsewhere one `bytes.find` pass
per needle does the same work more slowly.
"""

from __future__ import annotations

from collections.abc import Iterator

from oom_enricher.reassembly.markers import SKIM_NEEDLES

try:  # optional: the wheel exists for x86-64 only
    import hyperscan
except ImportError:  # pragma: no cover - exercised on other architectures
    hyperscan = None


class MarkerFinder:
    """Line starts of the lines that contain a marker needle."""

    def __init__(self, needles: tuple[bytes, ...] = SKIM_NEEDLES, use_hyperscan: bool = True):
        self.needles = needles
        self._db = _compile(needles) if use_hyperscan and hyperscan is not None else None

    @property
    def engine(self) -> str:
        return "hyperscan" if self._db is not None else "bytes.find"

    def line_starts(self, data, start: int = 0, end: int | None = None) -> list[int]:
        """Sorted offsets of the starts of lines in data[start:end] that contain a needle
        (`end` is a line start, or the end of data)."""
        end = len(data) if end is None else end
        if self._db:
            ends = self._hyperscan_ends(data, start, end)
        else:
            ends = self._find_ends(data, start, end)
        return self._starts(data, start, ends)

    @staticmethod
    def _starts(data, start: int, ends) -> list[int]:
        return sorted({data.rfind(b"\n", start, end) + 1 or start for end in ends})

    def _hyperscan_ends(self, data, start: int, end: int) -> list[int]:
        ends: list[int] = []

        def on_match(_id: int, _from: int, to: int, _flags: int, _ctx) -> None:
            ends.append(start + to)

        view = memoryview(data)[start:end] if start or end < len(data) else data
        self._db.scan(view, match_event_handler=on_match)
        return ends

    def _find_ends(self, data, start: int, end: int) -> Iterator[int]:
        for needle in self.needles:
            position = data.find(needle, start, end)
            while position != -1:
                yield position + len(needle)
                position = data.find(needle, position + 1, end)


def _compile(needles: tuple[bytes, ...]):
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [hyperscan_literal(needle) for needle in needles]
    database.compile(expressions=expressions, ids=list(range(len(needles))), elements=len(needles))
    return database


def hyperscan_literal(needle: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in needle)
