"""Order from the kernel's stamps, and reports still open to late lines.

A line carrying the kernel's monotonic stamp (kmsg `usec`, `[ s.us]`, Fluent Bit kmsg
`sec`/`usec`, journal `_SOURCE_MONOTONIC_TIMESTAMP`) has a place in its host's stream that
does not depend on how it travelled. When such a line arrives behind a later one of its host
(a shipper retried an older chunk, two connections raced), or right after a report of its
host was closed by a wall-clock bound, the host's recent lines are put back in kernel order
and reassembled again; reports that changed are emitted again under the id they were
emitted under. Lines without a kernel stamp keep arrival order.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from oom_enricher.model import LogLine, ReportBlock
from oom_enricher.reassembly.open_report import (
    line_from_dict,
    line_identity,
    line_to_dict,
    stream_seconds,
)


@dataclass
class EmittedReport:
    """A report already emitted, kept (bounded) so late lines can still amend it."""

    event_id: str
    lines: list[LogLine]
    wall_closed: bool  # closed by a wall-clock bound: the stream may still continue it
    closed_at: float = field(default_factory=time.monotonic)
    # Not emitted yet: a report without its kill, whose id would change if the kill came
    # late, waits (bounded) for it.
    held: ReportBlock | None = None
    # `signature(lines)`, computed when an amendment is first compared with it: almost every
    # report is kept and dropped again without one, and a report's lines never change.
    _signature: str | None = field(default=None, repr=False, compare=False)

    @property
    def signature(self) -> str:
        if self._signature is None:
            self._signature = signature(self.lines)
        return self._signature

    @property
    def last_seconds(self) -> float | None:
        """Stream time (wall clock, else kernel stamp) of its last stamped line."""
        return next((s for s in map(stream_seconds, reversed(self.lines)) if s is not None), None)

    def snapshot(self) -> dict:
        state = {
            "event_id": self.event_id,
            "lines": [line_to_dict(line) for line in self.lines],
            "wall_closed": self.wall_closed,
        }
        if self.held is not None:
            state["held"] = {
                "reason": self.held.incomplete_reason,
                "unit_notice": self.held.unit_notice,
            }
        return state

    @classmethod
    def restore(cls, state: dict, now: float) -> EmittedReport:
        lines = [line_from_dict(item) for item in state["lines"]]
        record = cls(state["event_id"], lines, state["wall_closed"], now)
        if (held := state.get("held")) is not None:
            host = next((line.host for line in lines), None)
            record.held = ReportBlock(
                host,
                lines,
                complete=held["reason"] is None,
                incomplete_reason=held["reason"],
                unit_notice=held["unit_notice"],
            )
        return record


def signature(lines: Iterable[LogLine]) -> str:
    """What a report's content is, for telling whether an amendment changed anything."""
    digest = hashlib.blake2b(digest_size=16)
    for line in lines:
        digest.update(repr(line_identity(line) or line.message).encode("utf-8", "replace"))
    return digest.hexdigest()


def kernel_order(groups: Iterable[Iterable[LogLine]]) -> list[LogLine]:
    """Lines of one host from several places, deduplicated and sorted by kernel stamp.

    An unstamped line (a continuation, a bare paste inside a stamped stream) keeps its place
    after the stamped line it followed in its own group.
    """
    keyed: list[tuple[tuple, int, LogLine]] = []
    seen: set = set()
    arrival = 0
    for group in groups:
        key: tuple = (float("-inf"), -1)
        for line in group:
            identity = line_identity(line)
            if identity is not None:
                if identity in seen:
                    continue  # delivered twice (a shipper's retry)
                seen.add(identity)
            if line.monotonic is not None:
                key = (line.monotonic, line.seq if line.seq is not None else -1)
            keyed.append((key, arrival, line))
            arrival += 1
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [line for _, _, line in keyed]


def best_match(lines: list[LogLine], candidates: list[EmittedReport]) -> EmittedReport | None:
    """The emitted report sharing most stamped lines with `lines`, if any."""
    mine = {line_identity(line) for line in lines} - {None}
    best: tuple[int, EmittedReport] | None = None
    for candidate in candidates:
        shared = len(mine & {line_identity(line) for line in candidate.lines})
        if shared and (best is None or shared > best[0]):
            best = (shared, candidate)
    return best[1] if best else None
