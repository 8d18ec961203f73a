"""Skim files (memory-mapped) and streams (in large chunks) through one Pipeline."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

from oom_enricher.normalize.pasted_text import SNIFF_BYTES, PasteReader, head_of_bytes
from oom_enricher.normalize.timestamps import journal_end
from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.skimming.marker_finder import MarkerFinder
from oom_enricher.skimming.skimmer import Skimmer
from oom_enricher.sources.compressed_files import modified_time, open_input
from oom_enricher.sources.file_reader import (
    MAX_LINE_BYTES,
    ProgressCallback,
    ReadStats,
    cap_line,
    skip_to_line_end,
    stream_lines,
)
from oom_enricher.sources.text_encoding import as_utf8

CHUNK_BYTES = 16 << 20
CONTEXT_BYTES = 256 << 10  # kept from the previous chunk for look-back


def skim_documents(
    paths: list[str],
    options: PipelineOptions | None = None,
    stats: ReadStats | None = None,
    progress: ProgressCallback | None = None,
    finder: MarkerFinder | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[dict]:
    """Documents of all inputs read as one stream ("-" is stdin)."""
    stats = stats if stats is not None else ReadStats()
    pipeline = Pipeline(options, once=True)
    skimmer = Skimmer(pipeline, finder, stats, max_line_bytes)
    for path in paths or ["-"]:
        try:
            with open_input(path) as stream:
                pipeline.normalizer.set_file_time(modified_time(stream))
                yield from _skim_stream(skimmer, as_utf8(stream), stats, progress)
        except OSError as error:
            stats.errors.append(f"{path}: {error.strerror or error}")
    yield from pipeline.finish()


def _skim_stream(skimmer: Skimmer, stream, stats: ReadStats, progress) -> Iterator[dict]:
    mapped = _map(stream)
    if mapped is not None:
        with mapped:
            reader = PasteReader()
            head = head_of_bytes(mapped, len(mapped) <= SNIFF_BYTES)
            _note_journal_end(skimmer, head)
            shape = reader.sniff(head)
            if shape.is_paste:
                lines = stream_lines(mapped, stats, progress, len(mapped), skimmer.max_line_bytes)
                yield from skimmer.pipeline.feed_pasted(reader, shape, lines)
                return
            stats.bytes_read += len(mapped)
            yield from skimmer.documents(mapped, progress=progress)
        return
    first = stream.read(CHUNK_BYTES)
    reader = PasteReader()
    head = head_of_bytes(first, len(first) < CHUNK_BYTES)
    _note_journal_end(skimmer, head)
    shape = reader.sniff(head)
    if shape.is_paste:
        lines = stream_lines(
            _Replayed(first, stream), stats, progress, None, skimmer.max_line_bytes
        )
        yield from skimmer.pipeline.feed_pasted(reader, shape, lines)
        return
    yield from _skim_chunks(skimmer, _Replayed(first, stream), stats, progress)


def _note_journal_end(skimmer: Skimmer, head: list[str]) -> None:
    """A journalctl export says when it ends: a closer bound for its stamps' year than the
    file's modification time (a copy made years later)."""
    end = journal_end(head)
    if end is not None:
        skimmer.pipeline.normalizer.set_file_time(end)


class _Replayed:
    """A stream whose first bytes were already read to tell its shape."""

    def __init__(self, first: bytes, stream) -> None:
        self._first, self._stream = first, stream

    def read(self, size: int) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        return self._stream.read(size)


def _map(stream) -> mmap.mmap | None:
    try:
        if os.fstat(stream.fileno()).st_size == 0:
            return None
        return mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None  # a pipe, a terminal or an empty file


def _skim_chunks(skimmer: Skimmer, stream, stats: ReadStats, progress) -> Iterator[dict]:
    context = b""  # bytes already skimmed, kept so a report can look back before this chunk
    pending = b""  # an unfinished last line
    cutting = False  # inside a line already cut to the cap: skip to its end
    while True:
        chunk = stream.read(CHUNK_BYTES)
        stats.bytes_read += len(chunk)
        if progress and chunk:
            progress(stats.bytes_read, None)
        if cutting and chunk:
            chunk, cutting = skip_to_line_end(chunk, stats)
            if cutting:
                continue
        data = context + pending + chunk
        cut = len(data) if not chunk else data.rfind(b"\n") + 1
        if cut > len(context):
            yield from skimmer.documents(data, len(context), cut)
        if not chunk:
            return
        context = data[max(0, cut - CONTEXT_BYTES) : cut]
        pending = data[cut:]
        if len(pending) > skimmer.max_line_bytes:
            pending, cutting = cap_line(pending, skimmer.max_line_bytes, stats), True
