"""Drive a Pipeline over a byte buffer, decoding only the lines that can matter.

The common case is millions of lines that belong to no OOM report. While no report is in
progress the skimmer jumps from one marker line to the next (MarkerFinder); while reports
are in progress it visits only the lines of their hosts, found by searching for the host
name as it stands in a syslog prefix, or every line when the lines name no host. The
assembler sees the same lines of every host that has a report in progress as it would
line by line, so the documents are the same.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

from oom_enricher.model import LogLine
from oom_enricher.pipeline import Pipeline
from oom_enricher.skimming.host_cursors import HostCursors
from oom_enricher.skimming.marker_finder import MarkerFinder
from oom_enricher.sources.file_reader import MAX_LINE_BYTES, ReadStats, cap_line, decode_block

# Prefix rules whose lines carry the host as ` host ` right after the time stamp.
_HOST_IN_PREFIX = {"bsd-syslog", "iso-syslog", "rfc5424", "journal-monotonic"}
LOOKBACK_LINES = 512
_INDENT = (ord(" "), ord("\t"))  # the first byte of a line that continues the one before
_PROGRESS_STEP = 8 << 20


@dataclass
class SkimStats:
    lines_decoded: int = 0
    jumps: int = 0


class Skimmer:
    def __init__(
        self,
        pipeline: Pipeline,
        finder: MarkerFinder | None = None,
        stats: ReadStats | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ):
        self.pipeline = pipeline
        self.max_line_bytes = max_line_bytes
        self.finder = finder or MarkerFinder()
        self.read_stats = stats or ReadStats()
        self.stats = SkimStats()
        # a bound method, so that a deep copy of the skimmer asks its own assembler
        self._cursors = HostCursors(self._host_open)
        self._data = b""
        self._line_start = 0
        # The host of the line just read while its report is open, as `_follow_host` gives
        # it: its next line is most often the next line (see `_next_position`).
        self._follow: tuple[str, bytes, int] | None = None
        # The records of the line being read (a line that holds several glued records) and
        # how many of them were fed before the current one: those are looked back at too.
        self._glued: tuple[list[LogLine], int] = ([], 0)

    def documents(
        self, data, start: int = 0, end: int | None = None, progress=None
    ) -> Iterator[dict]:
        """Documents of the complete lines in data[start:end]; the caller calls finish()."""
        end = len(data) if end is None else end
        self._data = data
        self.pipeline.assembler.lookback_source = self._lookback
        hits = iter(self.finder.line_starts(data, start, end))
        next_hit = next(hits, end)
        position = reported = start
        self._cursors.new_buffer()
        self._follow = None
        while position < end:
            target = self._next_position(data, position, next_hit, end)
            if target >= end:
                break
            if target > position:
                self.stats.jumps += 1
                self.pipeline.normalizer.forget_previous()
                target = _record_start(data, target, position)
            position, docs = self._visit(data, target, end)
            if docs:
                yield from docs
            while next_hit < position:
                next_hit = next(hits, end)
            if progress is not None and position - reported > _PROGRESS_STEP:
                reported = position
                progress(position, end)
        self.pipeline.assembler.lookback_source = None

    def _next_position(self, data, position: int, next_hit: int, end: int) -> int:
        follow = self._follow
        if follow is not None:
            # The line at `position` holds the needle of an open host (the one just read,
            # whose next line is often the next line, at the same place in its prefix):
            # nothing is nearer, and the search over every open host is skipped.
            reach = position + follow[2]
            if reach <= end:
                head = data[position:reach]
                if head.endswith(follow[1]) and b"\n" not in head:
                    return position
        if not self.pipeline.assembler.open_hosts:
            return next_hit
        if data[position] in _INDENT:  # (a byte as an int: no slice made)
            return position  # continues the line just read (dmesg / journalctl continuation)
        if self._cursors.every_line_needed():
            return position  # lines without a host in their prefix: read them all
        return min(next_hit, self._cursors.nearest(data, position, end))

    def _visit(self, data, position: int, end: int) -> tuple[int, list[dict]]:
        """The line starting at `position` read and fed: where the next line starts, and the
        documents it completed (a list, not a generator: this runs for every line read)."""
        stop = data.find(b"\n", position, end)
        after = stop + 1
        if stop == -1:  # the last line has no newline: nothing follows it
            stop = after = end
        self._line_start = position
        raw = bytes(data[position:stop])
        if stop - position > self.max_line_bytes:
            raw = cap_line(raw, self.max_line_bytes, self.read_stats)
        raw = self._decode(raw)
        lines = self.pipeline.normalizer.normalize(raw.removesuffix("\r"))
        self.pipeline.stats.lines += 1
        if len(lines) == 1:
            return after, self._feed(lines[0], position)
        docs: list[dict] = []
        for index, line in enumerate(lines):
            self._glued = (lines, index)  # sliced only when looked back at (rare)
            docs += self._feed(line, position)
        self._glued = ([], 0)
        return after, docs

    def _feed(self, line: LogLine, position: int) -> list[dict]:
        """One normalised line of the line starting at `position` into reassembly."""
        docs = self.pipeline.feed_normalized(line)
        self._remember_needle(line)
        return docs

    def _host_open(self, key: str) -> bool:
        return self.pipeline.assembler.has_open(key or None)

    def _decode(self, raw: bytes) -> str:
        """Lines are decoded only when read; undecodable bytes become U+FFFD and are counted."""
        self.stats.lines_decoded += 1
        return decode_block(raw, self.read_stats)

    def _remember_needle(self, line: LogLine) -> None:
        key = line.host or ""
        # `_host_open`, not the assembler's own view: a split worker follows only some hosts
        # (the cursors drop the others when they next look at them)
        if not self._host_open(key):
            self._cursors.forget(key)
            self._follow = None
        elif line.host and line.rule in _HOST_IN_PREFIX:
            if self._follow is None or self._follow[0] != key:
                self._follow = self._follow_host(key, line)
        else:
            self._cursors.track(key, None)
            self._follow = None

    def _follow_host(self, key: str, line: LogLine) -> tuple[str, bytes, int] | None:
        """The host tracked by its needle; (key, needle, where the needle ends in the line),
        which `_next_position` looks for at the same place in the next line."""
        needle = self._cursors.needle(key)
        if needle is None:
            needle = f" {line.host} ".encode()
            self._cursors.track(key, needle)
        # an index into the text: the bytes' own where the prefix is ASCII (the look is
        # only a first test, which finds nothing elsewhere)
        at = line.raw.find(f" {line.host} ")
        return None if at == -1 else (key, needle, at + len(needle))

    def _lookback(self) -> list[LogLine]:
        """The lines before the current one, normalised afresh (the skimmer never read them)."""
        data, end = self._data, self._line_start
        begin = end
        for _ in range(LOOKBACK_LINES):
            if begin <= 0:
                break
            begin = data.rfind(b"\n", 0, begin - 1) + 1
        normalizer = copy.deepcopy(self.pipeline.normalizer)
        normalizer.forget_previous()
        lines: list[LogLine] = []
        for raw in bytes(data[begin:end]).decode("utf-8", "replace").split("\n"):
            if raw:
                lines.extend(normalizer.normalize(raw.removesuffix("\r")))
        glued, fed = self._glued
        return lines + glued[:fed]


def _record_start(data, target: int, floor: int) -> int:
    """An indented continuation line is read from the line that opened its record."""
    while target > floor and data[target] in _INDENT:
        previous = data.rfind(b"\n", floor, target - 1) + 1 or floor
        if previous >= target:
            break
        target = previous
    return target
