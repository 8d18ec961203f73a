"""The whole flow in one object: lines or shipped records in, enriched documents out."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oom_enricher.model import LogLine, ReportBlock, ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer, NormalizeOptions
from oom_enricher.normalize.pasted_text import PasteReader, PasteShape, head_lines
from oom_enricher.reassembly.assembler import Assembler
from oom_enricher.reassembly.bounds import Bounds

if TYPE_CHECKING:
    from oom_enricher.enrich.repeats import RepeatFilter


@dataclass
class PipelineOptions:
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    bounds: Bounds = field(default_factory=Bounds)


@dataclass
class PipelineStats:
    lines: int = 0
    reports: int = 0
    incomplete: int = 0
    replaced_characters: int = 0  # undecodable bytes turned into U+FFFD in documents


class Pipeline:
    def __init__(
        self,
        options: PipelineOptions | None = None,
        clock=time.monotonic,
        *,
        live: bool = False,
        once: bool = False,
    ) -> None:
        """`live`: fed by shippers as lines happen (serve), not reading a finished input.
        `once`: reading a finished input, each kill once (enrich.repeats): the same report
        twice, or a piece of one quoted again, gives one document."""
        self.options = options or PipelineOptions()
        self.normalizer = LineNormalizer(self.options.normalize)
        self.assembler = Assembler(self.options.bounds, clock, live=live)
        self.stats = PipelineStats()
        self._once = once and not live
        self._repeats: RepeatFilter | None = None  # made with the first report, as enrich is

    def feed_line(self, raw: str) -> list[dict]:
        self.stats.lines += 1
        return self._feed_lines(self.normalizer.normalize(raw))

    def feed(self, record: ShippedRecord) -> list[dict]:
        self.stats.lines += 1
        return self._feed_lines(self.normalizer.normalize_record(record))

    def feed_text(self, head: list[str], rest: Iterable[str]) -> Iterator[dict]:
        """The lines of one input: its first lines (read to tell its shape), then the rest.

        A plain log is fed line by line; a pasted one (mail, quoting, wrapping, JSON export,
        one host named on some lines) record by record as its medium is undone.
        """
        reader = PasteReader()
        shape = reader.sniff(head)
        lines = itertools.chain(head, rest)
        if shape.is_paste:
            yield from self.feed_pasted(reader, shape, lines)
            return
        for raw in lines:
            yield from self.feed_line(raw)

    def feed_pasted(self, reader: PasteReader, shape: PasteShape, lines: Iterable[str]):
        for record in reader.records(lines, shape):
            yield from self.feed(record)

    def normalize_record(self, record: ShippedRecord, position: int | None) -> list[LogLine]:
        """The lines of one record, each carrying the durable `position` of the record."""
        self.stats.lines += 1
        lines = self.normalizer.normalize_record(record)
        for line in lines:
            line.position = position
        return lines

    def feed_blocks(self, lines: Iterable[LogLine]) -> list[ReportBlock]:
        """Lines into reassembly; the blocks it completed (documents come from `documents`)."""
        blocks: list[ReportBlock] = []
        for line in lines:
            blocks.extend(self.assembler.feed(line))
        return blocks

    def feed_normalized(self, line: LogLine) -> list[dict]:
        blocks = self.assembler.feed(line)
        return self._documents(blocks) if blocks else []  # most lines complete nothing

    def _feed_lines(self, lines: list[LogLine]) -> list[dict]:
        return self._documents(self.feed_blocks(lines))

    def settle(self) -> list[dict]:
        """Documents of reports that lines which arrived out of kernel order completed or
        amended; call after each batch (tick and finish settle too)."""
        return self._documents(self.assembler.settle())

    def release_held(self) -> list[dict]:
        """Documents of reports closed without their kill that wait for it (at shutdown)."""
        return self._documents(self.assembler.release_held())

    def tick(self, now: float | None = None) -> list[dict]:
        """Emit reports whose wall-clock bounds tripped; `now` is time.monotonic() by default."""
        return self._documents(self.assembler.tick(now))

    def finish(self) -> list[dict]:
        docs = self._documents(self.assembler.finish())
        if self._repeats is not None:
            docs += self._counted(self._repeats.flush())
        return docs

    def snapshot(self) -> dict:
        return {"assembler": self.assembler.snapshot(), "normalizer": self.normalizer.snapshot()}

    @classmethod
    def restore(
        cls,
        snapshot: dict,
        options: PipelineOptions | None = None,
        clock=time.monotonic,
        *,
        live: bool = False,
    ) -> Pipeline:
        pipeline = cls(options, clock, live=live)
        pipeline.assembler.restore(snapshot.get("assembler", {}))
        pipeline.normalizer.restore(snapshot.get("normalizer", {}))
        return pipeline

    def documents(self, blocks: list[ReportBlock]) -> list[dict]:
        return self._documents(blocks)

    def _documents(self, blocks: list[ReportBlock]) -> list[dict]:
        if not blocks:
            return []
        # imported with the first report: reading a log that holds none never needs them
        from oom_enricher.enrich.document import build_document
        from oom_enricher.enrich.surrogates import clean_document

        docs = [build_document(block) for block in blocks]
        for doc in docs:
            self.stats.replaced_characters += clean_document(doc)
        if self._once:
            if self._repeats is None:
                from oom_enricher.enrich.repeats import RepeatFilter

                self._repeats = RepeatFilter()
            repeats = self._repeats
            pairs = zip(docs, blocks, strict=True)
            docs = [given for doc, block in pairs for given in repeats.pass_on(doc, block)]
        return self._counted(docs)

    def _counted(self, docs: list[dict]) -> list[dict]:
        self.stats.reports += len(docs)
        self.stats.incomplete += sum(1 for doc in docs if not doc["oom"]["complete"])
        return docs


def documents_from_lines(
    lines: Iterable[str], options: PipelineOptions | None = None
) -> Iterator[dict]:
    pipeline = Pipeline(options, once=True)
    stream = iter(lines)
    yield from pipeline.feed_text(head_lines(stream), stream)
    yield from pipeline.finish()
