"""Skim one big regular file with several processes; the documents come out byte for byte as
one process writes them.

The file is cut at line starts into one segment per worker. Every worker owns the documents
emitted while it reads its own segment, so the merged output is in emission order. Worker 0
starts with the true (empty) state; worker k starts cold at its cut, which is exact unless a
report was in progress there, or a per-host memory of the bytes before the cut (recent victims,
newest kernel stamp, stream year) would have decided a line differently. So a worker, at the
end of its segment, keeps its state in a forked copy of itself and follows the reports still
in progress past the cut (only their hosts' lines) until they close: those documents are its
own. The parent
then checks the next worker's record against that: no report of a followed host began before
the line that closed it, no reaper line was taken for a new report whose victim the true state
remembers, no kernel stamp went back, no host's year was carried over New Year. If a check
fails, the worker holding the true state reads the next segment itself from its copy (exact,
as slow as one process) and the next worker's output is dropped.

Documents travel through spool files (a worker's memory stays bounded by its reassembly
bounds); each is framed by its emission offset, so the parent merges the followed reports'
documents into the next segment's at the lines that closed them.
"""

from __future__ import annotations

import logging
import math
import mmap
import os
import stat
import struct
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from heapq import merge

import orjson

from oom_enricher.model import LogLine
from oom_enricher.normalize.pasted_text import SNIFF_BYTES, PasteReader, head_of_bytes
from oom_enricher.normalize.timestamps import YearInference, journal_end
from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.reassembly.markers import Marker, classify_line
from oom_enricher.skimming.skimmer import Skimmer
from oom_enricher.sources.compressed_files import MAGIC_BYTES, codec_of
from oom_enricher.sources.file_reader import MAX_LINE_BYTES, ProgressCallback, ReadStats
from oom_enricher.sources.text_encoding import MARK_BYTES, marked_codec

MAX_JOBS = 8
_FRAME = struct.Struct("<qqI")  # emission offset, order among documents at end of input, length
_NO_CLOSE = -1  # a followed report still open at the end of input
FOLLOW_WINDOW = 4 << 20
EVENTS_SPAN = 64 << 20  # how far past its cut a worker remembers which lines it counted
MAX_EVENTS = 100_000
MAX_TRACKED_HOSTS = 100_000  # hosts a worker's record keeps for the checks (a fleet's worth)
_log = logging.getLogger(__name__)


def default_jobs() -> int:
    """The CPUs this process may run on, capped: more workers than that only contend."""
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    count = len(available) if available else os.cpu_count() or 1
    return max(1, min(count, MAX_JOBS))


def splittable(path: str, jobs: int, min_bytes: int) -> bool:
    """Whether `path` is a regular file big enough to split, read as a log (not a paste)."""
    import multiprocessing

    if jobs < 2 or path == "-" or "fork" not in multiprocessing.get_all_start_methods():
        return False  # workers start as forks of this process: no imports, no pickling
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size < max(min_bytes, 1):
            return False
        with open(path, "rb") as stream, _mapped(stream) as data:
            if marked_codec(data[:MARK_BYTES]) is not None or codec_of(data[:MAGIC_BYTES]):
                return False  # read through a decoder (or a decompressor), by one process
            head = head_of_bytes(data, len(data) <= SNIFF_BYTES)
    except (OSError, ValueError):
        return False  # the single-process reader reports why
    return not PasteReader().sniff(head).is_paste


def cut_points(data, jobs: int) -> list[int]:
    """Segment starts: 0, then line starts near equal shares."""
    size, cuts = len(data), [0]
    for index in range(1, jobs):
        cut = _line_start_after(data, size * index // jobs)
        if cut < size and cut > cuts[-1]:
            cuts.append(cut)
    return cuts


def _line_starts_at(data, offsets: list[int]) -> list[int]:
    starts = [0]
    for offset in sorted(offsets):
        cut = _line_start_after(data, offset - 1) if offset > 0 else 0
        if starts[-1] < cut < len(data):
            starts.append(cut)
    return starts


def _line_start_after(data, offset: int) -> int:
    """The first line start after `offset` that is not an indented line (which continues
    the line before it), or the end of data."""
    size = len(data)
    if offset >= size:
        return size
    cut = data.find(b"\n", offset) + 1
    while 0 < cut < size and data[cut : cut + 1] in (b" ", b"\t"):
        cut = data.find(b"\n", cut) + 1
    return cut if cut > 0 else size


@dataclass
class SplitStats:
    segments: int = 0
    reread: int = 0  # segments a check refused, read again by the worker before them


@dataclass
class SplitResult:
    """What a worker read in one segment, and what the next segment's check needs."""

    segment: int
    docs_path: str
    follow_path: str
    documents: int = 0
    stats: ReadStats = field(default_factory=ReadStats)
    # the next worker's side (from a cold start)
    first_open: dict[str, int] = field(default_factory=dict)  # host -> first line it opened at
    cold_reaped: list[tuple[str, int]] = field(default_factory=list)  # (host, pid)
    min_stamp: dict[str, float] = field(default_factory=dict)
    max_open: int = 0
    late_seen: bool = False
    overflow: bool = False  # more hosts than the checks keep (then the segment is read again)
    # Lines cut or with undecodable bytes, by offset, near the segment start (cold) or in the
    # follow (holder): a line both read is counted once.
    line_events: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    events_until: int = 0  # line_events is complete below this offset
    follow_events: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    # the holder's side: reports followed past the segment end, and the state they leave
    closed_at: dict[str, tuple[int, bool]] = field(default_factory=dict)  # (offset, consumed)
    victims: dict[str, set[int]] = field(default_factory=dict)
    newest: dict[str, float] = field(default_factory=dict)
    years: dict[str, tuple[int, int]] = field(default_factory=dict)
    error: str | None = None


class _SplitSkimmer(Skimmer):
    """A skimmer that records its decisions that rest on state from before its start, and can
    follow only the reports in progress at its segment end."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.record = SplitResult(0, "", "")
        self.follow: set[str] | None = None  # None: read every host; else only these
        self._host_cap = MAX_TRACKED_HOSTS
        self._counted = (0, 0, 0)
        self._events: dict[int, tuple[int, int, int]] = {}
        self._events_until = 0

    def _decode(self, raw: bytes) -> str:
        text = super()._decode(raw)
        stats = self.read_stats
        now = (stats.lines_cut, stats.bytes_cut, stats.replaced_chars)
        if now != self._counted:
            position = self._line_start
            if position < self._events_until and len(self._events) < MAX_EVENTS:
                self._events[position] = (
                    now[0] - self._counted[0],
                    now[1] - self._counted[1],
                    now[2] - self._counted[2],
                )
            elif position < self._events_until:
                self._events_until = position  # bounded: the rest is not deduplicated
            self._counted = now
        return text

    def events_until(self) -> int:
        return self._events_until

    def start_counting(
        self, stats: ReadStats, start: int, until: int, events: dict | None = None
    ) -> None:
        """Count read problems in `stats`, remembering those of lines in [start, until) in
        `events` (by default the record's line_events)."""
        self.read_stats = stats
        self._counted = (0, 0, 0)
        self._events = self.record.line_events if events is None else events
        self._events_until = until

    def _host_open(self, key: str) -> bool:
        if self.follow is not None and key not in self.follow:
            return False
        return super()._host_open(key)

    def _next_position(self, data, position: int, next_hit: int, end: int) -> int:
        if self.follow is not None and not self.follow:
            return end  # every followed report closed
        return super()._next_position(data, position, next_hit, end)

    def _feed(self, line: LogLine, position: int) -> list[dict]:
        line.position = position
        key = line.host or ""
        if self.follow is not None:
            return self._feed_followed(key, line, position)
        assembler, record = self.pipeline.assembler, self.record
        if not assembler.has_open(line.host):
            found = classify_line(line)
            if (
                found is not None
                and found[0] is Marker.REAPED
                and not assembler.remembers_victim_of(key)
            ):
                record.cold_reaped.append((key, int(found[1]["pid"])))
        if line.monotonic is not None and line.monotonic < record.min_stamp.get(key, math.inf):
            record.min_stamp[key] = line.monotonic
        if len(record.min_stamp) + len(record.cold_reaped) > self._host_cap:
            record.overflow = True  # bounded: the check refuses rather than remember more
            record.min_stamp.clear()
            record.cold_reaped.clear()
        docs = super()._feed(line, position)
        if key not in record.first_open and assembler.has_open(line.host):
            record.first_open[key] = position
            if len(record.first_open) > self._host_cap:
                record.overflow = True
                record.first_open.clear()
        # plain comparisons: this runs for every line a worker reads
        open_hosts = assembler.open_hosts
        if open_hosts > record.max_open:
            record.max_open = open_hosts
        if not record.late_seen and assembler.has_late():
            record.late_seen = True
        return docs

    def _feed_followed(self, key: str, line: LogLine, position: int) -> list[dict]:
        if key not in self.follow:
            return []
        blocks = self.pipeline.feed_blocks([line])
        mine = [block for block in blocks if (block.host or "") == key]
        if mine or not self.pipeline.assembler.has_open(line.host):
            # closed without a document (it repeated one): count the line as consumed, the
            # stricter check
            consumed = not mine or any(item is line for block in mine for item in block.lines)
            self.record.closed_at[key] = (position, consumed)
            self.follow.discard(key)
        self.record.late_seen = self.record.late_seen or self.pipeline.assembler.has_late()
        self._remember_needle(line)
        return self.pipeline.documents(blocks)


def _mapped(stream) -> mmap.mmap:
    return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)


class _Spool:
    """Framed documents in a file: (emission offset, end-of-input order, JSON bytes)."""

    def __init__(self, path: str, option: int) -> None:
        self.path, self._option = path, option
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.count = 0

    def write(self, doc: dict, offset: int, order: int = 0) -> None:
        body = orjson.dumps(doc, option=self._option)
        self._file.write(_FRAME.pack(offset, order, len(body)) + body)
        self.count += 1

    def close(self) -> None:
        self._file.close()


def _frames(path: str) -> Iterator[tuple[int, int, bytes]]:
    with open(path, "rb") as stream:
        while header := stream.read(_FRAME.size):
            offset, order, length = _FRAME.unpack(header)
            yield offset, order, stream.read(length)


@dataclass
class _Job:
    path: str
    options: PipelineOptions
    max_line_bytes: int
    option: int  # orjson options of the output
    cuts: list[int]
    spool_dir: str
    modified: datetime | None


def _worker(job: _Job, segment: int, conn, progress) -> None:
    try:
        with open(job.path, "rb") as stream, _mapped(stream) as data:
            _serve_segments(job, segment, conn, progress, data)
    except BaseException:  # noqa: BLE001 - the parent reports it
        conn.send(SplitResult(segment, "", "", error=traceback.format_exc()))
    finally:
        conn.close()


def _serve_segments(job: _Job, segment: int, conn, progress, data) -> None:
    pipeline = Pipeline(job.options)
    pipeline.normalizer.set_file_time(job.modified)
    skimmer = _SplitSkimmer(pipeline, None, ReadStats(), job.max_line_bytes)
    while True:
        result = _read_segment(job, segment, skimmer, data, progress)
        if segment + 1 == len(job.cuts):  # the last segment: nothing to follow
            conn.send(result)
            _command(conn)
            return
        if not _keep_state_and_follow(job, segment, skimmer, data, result, conn):
            return
        segment += 1  # this is the copy kept at the cut, told to read on


def _keep_state_and_follow(job: _Job, segment: int, skimmer, data, result, conn) -> bool:
    """Keep the state at the segment end in a forked copy of this process (copy-on-write:
    instant, whatever the size of the state), follow the reports in progress and send the
    result. True in the copy when it is to read the next segment; False where all is done."""
    readable, writable = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(writable)
        command = os.read(readable, 1)
        os.close(readable)
        if command == b"c":
            return True
        os._exit(0)
    os.close(readable)
    _follow(skimmer, data, job.cuts[segment + 1], result, job.option)
    conn.send(result)
    command = _command(conn)
    os.write(writable, b"c" if command == "continue" else b"s")
    os.close(writable)
    if command != "continue":
        os.waitpid(child, 0)
    return False


def _command(conn) -> str:
    try:
        return conn.recv()
    except EOFError:
        return "stop"  # the parent is gone or done


def _read_segment(job: _Job, segment: int, skimmer: _SplitSkimmer, data, progress):
    """Segment `segment` read on from the skimmer's state (and, the last, finished)."""
    cuts = job.cuts
    start = cuts[segment]
    end = cuts[segment + 1] if segment + 1 < len(cuts) else len(data)
    name = f"{segment}-{os.getpid()}.jsonl"
    skimmer.record = result = SplitResult(
        segment,
        os.path.join(job.spool_dir, f"segment-{name}"),
        os.path.join(job.spool_dir, f"follow-{name}"),
    )
    skimmer.start_counting(result.stats, start, start + EVENTS_SPAN)
    docs = _Spool(result.docs_path, job.option)
    reported = 0

    def on_progress(done: int, _total) -> None:
        nonlocal reported
        progress.value += done - start - reported
        reported = done - start

    for doc in skimmer.documents(data, start, end, progress=on_progress):
        docs.write(doc, skimmer._line_start)
    on_progress(end, None)
    result.events_until = skimmer.events_until()
    if end == len(data):
        _finish(skimmer, docs, end, keys=None)
    docs.close()
    result.documents = docs.count
    return result


def _follow(skimmer: _SplitSkimmer, data, start: int, result: SplitResult, option: int) -> None:
    assembler = skimmer.pipeline.assembler
    skimmer.follow = set(assembler.open_keys())
    spool = _Spool(result.follow_path, option)
    # the next worker counts these lines too: only those it did not read are added
    skimmer.start_counting(ReadStats(), start, len(data), result.follow_events)
    position = start
    while skimmer.follow and position < len(data):
        # in windows: the marker search of one call covers its whole range
        stop = _line_start_after(data, position + FOLLOW_WINDOW)
        for doc in skimmer.documents(data, position, stop):
            spool.write(doc, skimmer._line_start)
        position = stop
    if skimmer.follow:  # still open at the end of input
        _finish(skimmer, spool, len(data), keys=set(skimmer.follow))
        for key in skimmer.follow:
            result.closed_at[key] = (_NO_CLOSE, True)
    spool.close()
    # The per-host memories the checks compare with a fresh start.
    result.victims, result.newest = assembler.memories()
    result.years = skimmer.pipeline.normalizer.stream_years()


def _finish(skimmer: _SplitSkimmer, spool: _Spool, end: int, keys: set[str] | None) -> None:
    """End of input: reports still open come out in the order their last lines were read."""
    blocks = skimmer.pipeline.assembler.finish()
    kept = [block for block in blocks if keys is None or (block.host or "") in keys]
    for block in kept:
        # the assembler keeps open reports in the order of their last lines
        last = max((line.position for line in block.lines if line.position is not None), default=-1)
        for doc in skimmer.pipeline.documents([block]):
            spool.write(doc, end, last)


def _inconsistency(holder: SplitResult, cold: SplitResult, job: _Job) -> str | None:
    """Why the cold start of `cold` may have read its segment otherwise than the true state
    would have, or None."""
    bounds = job.options.bounds
    if cold.overflow:
        return "more hosts than the checks keep"
    next_cut = job.cuts[cold.segment + 1] if cold.segment + 1 < len(job.cuts) else None
    for key, (offset, consumed) in holder.closed_at.items():
        if next_cut is not None and (offset == _NO_CLOSE or offset >= next_cut):
            return f"a report of {key!r} runs past the next segment"
        began = cold.first_open.get(key)
        if began is not None and (
            offset == _NO_CLOSE or began < offset or (began == offset and consumed)
        ):
            return f"a report of {key!r} was in progress at the cut"
    if holder.late_seen or cold.late_seen:
        return "lines out of kernel order"
    if len(holder.closed_at) + cold.max_open >= bounds.max_open_hosts:
        return "too many reports in progress"
    for key, pid in cold.cold_reaped:
        if pid in holder.victims.get(key, ()):
            return f"a reaper line of {key!r} follows a kill before the cut"
    for key, stamp in cold.min_stamp.items():
        newest = holder.newest.get(key)
        if newest is not None and stamp < newest and newest - stamp <= bounds.amend_window:
            return f"a kernel stamp of {key!r} goes back across the cut"
    if not _years_cold(holder.years, job):
        return "a host's stream crossed New Year"
    return None


def _years_cold(years: dict[str, tuple[int, int]], job: _Job) -> bool:
    """Whether every host's stream year is the one a first stamp of its month would take."""
    reference = job.options.normalize.reference_time or job.modified
    for key, (year, month) in years.items():
        if YearInference(reference=reference).year_for(month, 1, key) != year:
            return False
    return True


def split_documents(
    path: str,
    out,
    jobs: int,
    options: PipelineOptions | None = None,
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    json_option: int = orjson.OPT_APPEND_NEWLINE,
    split_stats: SplitStats | None = None,
    cuts: list[int] | None = None,
) -> int:
    """Write the documents of `path` to the binary stream `out`, read by `jobs` processes
    (or cut at the line starts at or after the offsets `cuts`); returns how many were
    written."""
    stats_out = split_stats if split_stats is not None else SplitStats()
    options = options or PipelineOptions()
    stats = stats if stats is not None else ReadStats()
    with open(path, "rb") as stream, _mapped(stream) as data:
        size = len(data)
        cuts = cut_points(data, jobs) if cuts is None else _line_starts_at(data, cuts)
        modified = journal_end(head_of_bytes(data, size <= SNIFF_BYTES)) or datetime.fromtimestamp(
            os.fstat(stream.fileno()).st_mtime, UTC
        )
    stats.bytes_read += size
    import multiprocessing  # only a split file starts processes
    import tempfile

    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="oom-enricher-split-") as spool_dir:
        job = _Job(path, options, max_line_bytes, json_option, cuts, spool_dir, modified)
        done = [context.Value("q", 0, lock=False) for _ in cuts]
        workers, conns = [], []
        for index in range(len(cuts)):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_worker, args=(job, index, child_end, done[index]), daemon=True
            )
            process.start()
            child_end.close()
            workers.append(process)
            conns.append(parent_end)
        finished = False
        try:
            written, reread = _merge(job, conns, done, size, out, stats, progress)
            stats_out.segments, stats_out.reread = len(cuts), reread
            finished = True
            return written
        finally:
            for conn in conns:
                conn.close()  # a worker waiting for a command stops
            for process in workers:
                if not finished:
                    process.kill()  # a closed pipe downstream, an error: no more work
                process.join()


class SplitError(RuntimeError):
    """A reading process failed or ended without its result."""


def _receive(conn, done, size: int, progress) -> SplitResult:
    while not conn.poll(0.25):
        if progress is not None:
            progress(sum(value.value for value in done), size)
    try:
        result = conn.recv()
    except EOFError:
        raise SplitError("a reading process ended without its result") from None
    if result.error:
        _log.debug("reading process failed:\n%s", result.error)
        raise SplitError(f"a reading process failed: {result.error.strip().splitlines()[-1]}")
    return result


def _merge(job: _Job, conns, done, size: int, out, stats: ReadStats, progress) -> tuple[int, int]:
    written = reread = 0
    holder_conn = conns[0]
    holder = _receive(holder_conn, done, size, progress)
    written += _write(out, _frames(holder.docs_path))
    _add_stats(stats, holder.stats)
    for index in range(1, len(job.cuts)):
        cold = _receive(conns[index], done, size, progress)
        reason = _inconsistency(holder, cold, job)
        if reason is None:
            holder_conn.send("stop")
            frames = merge(
                _frames(holder.follow_path),
                _frames(cold.docs_path),
                key=lambda frame: frame[:2],
            )
            written += _write(out, frames)
            _add_unread_events(stats, holder, cold)
            holder, holder_conn = cold, conns[index]
        else:
            # one log line per segment read again; the count is in the return value
            _log.info("segment %d read again from the state before it: %s", index, reason)
            reread += 1
            conns[index].send("stop")
            holder_conn.send("continue")
            holder = _receive(holder_conn, done, size, progress)
            written += _write(out, _frames(holder.docs_path))
        _add_stats(stats, holder.stats)
    holder_conn.send("stop")
    return written, reread


def _write(out, frames) -> int:
    count = 0
    for _offset, _order, body in frames:
        out.write(body)
        count += 1
    return count


def _add_unread_events(total: ReadStats, holder: SplitResult, cold: SplitResult) -> None:
    """Read problems of the lines the holder's follow read and the next worker did not."""
    for offset, (cut, dropped, replaced) in holder.follow_events.items():
        if offset < cold.events_until and offset not in cold.line_events:
            total.lines_cut += cut
            total.bytes_cut += dropped
            total.replaced_chars += replaced


def _add_stats(total: ReadStats, part: ReadStats) -> None:
    total.replaced_chars += part.replaced_chars
    total.lines_cut += part.lines_cut
    total.bytes_cut += part.bytes_cut
