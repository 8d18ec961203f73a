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


_NON_ASCII = b"[\\x80-\\xff]"


class MarkerFinder:
    """Line starts of marker lines, and of lines with non-ASCII bytes (to count bad UTF-8)."""

    def __init__(self, needles: tuple[bytes, ...] = SKIM_NEEDLES, use_hyperscan: bool = True):
        self.needles = needles
        self._db = _compile(needles) if use_hyperscan and hyperscan is not None else None
        self.non_ascii_lines: list[int] = []  # filled by the last line_starts() call

    @property
    def engine(self) -> str:
        return "hyperscan" if self._db is not None else "bytes.find"

    def line_starts(self, data, start: int = 0) -> list[int]:
        """Sorted offsets of the starts of lines at or after `start` that contain a needle."""
        if self._db:
            ends, non_ascii = self._hyperscan_ends(data, start)
        else:
            ends, non_ascii = (
                list(self._find_ends(data, start)),
                self._non_ascii_fallback(data, start),
            )
        self.non_ascii_lines = self._starts(data, start, non_ascii)
        return self._starts(data, start, ends)

    @staticmethod
    def _starts(data, start: int, ends) -> list[int]:
        return sorted({data.rfind(b"\n", start, end) + 1 or start for end in ends})

    def _hyperscan_ends(self, data, start: int) -> tuple[list[int], list[int]]:
        ends: list[int] = []
        non_ascii: list[int] = []
        marker_ids = len(self.needles)

        def on_match(match_id: int, _from: int, to: int, _flags: int, _ctx) -> None:
            (ends if match_id < marker_ids else non_ascii).append(start + to)

        view = memoryview(data)[start:] if start else data
        self._db.scan(view, match_event_handler=on_match)
        return ends, non_ascii

    @staticmethod
    def _non_ascii_fallback(data, start: int) -> list[int]:
        chunk = bytes(data[start:])
        if chunk.isascii():
            return []
        return [start + index + 1 for index, byte in enumerate(chunk) if byte >= 0x80]

    def _find_ends(self, data, start: int) -> Iterator[int]:
        for needle in self.needles:
            position = data.find(needle, start)
            while position != -1:
                yield position + len(needle)
                position = data.find(needle, position + 1)


def _compile(needles: tuple[bytes, ...]):
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [hyperscan_literal(needle) for needle in needles] + [_NON_ASCII]
    ids = list(range(len(expressions)))
    # SINGLEMATCH: one report per pattern and line is not needed; a byte class match per
    # non-ASCII byte is cheap enough since the callback only appends an offset.
    database.compile(expressions=expressions, ids=ids, elements=len(expressions))
    return database


def hyperscan_literal(needle: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in needle)
