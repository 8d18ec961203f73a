"""A report still receiving lines: its lines, phase and what makes it incomplete."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from oom_enricher.model import LogLine, ReportBlock
from oom_enricher.normalize.multiline import RSYSLOG_NEWLINE

BODY = "body"  # header, trace, memory figures, task table
TAIL = "tail"  # after the kill: reaper, group kills, systemd notice


@dataclass
class OpenReport:
    host: str | None
    lines: list[LogLine] = field(default_factory=list)
    has_start: bool = True
    phase: str = BODY
    victim_pids: set[int] = field(default_factory=set)
    group_kill: bool = False
    reasons: list[str] = field(default_factory=list)
    tail_other_lines: int = 0
    first_time: float | None = None  # stream seconds (wall clock or monotonic) of first line
    last_time: float | None = None
    tail_time: float | None = None  # stream seconds when the kill line arrived
    # The clock of those stream seconds, from the first stamped line: a paste that mixes
    # syslog lines (wall clock) with bare dmesg lines (seconds since boot) never compares them.
    wall_clock: bool | None = None
    last_wall: float = field(default_factory=time.monotonic)
    unit_notice: str | None = None
    # Continuing a report already emitted (a late line reopened it): the ids it was emitted
    # under (its document replaces those that differ from its own), and what it held then,
    # so closing it again with nothing new emits nothing.
    emitted_ids: list[str] = field(default_factory=list)
    emitted_signature: str | None = None
    _seen: set | None = field(default=None, repr=False)
    # The newest stamp of each identity kind held: a line stamped later than all of them
    # can be no duplicate, so in-order streams never build `_seen` (memory per report).
    _newest: dict | None = field(default=None, repr=False)
    # The last wall-clock stamp converted to seconds: the lines of one report share their
    # second's datetime (the normalizer converts each stamp once), and each line asks twice.
    _stamp: object = field(default=None, repr=False, compare=False)
    _stamp_seconds: float = field(default=0.0, repr=False, compare=False)

    def add(self, line: LogLine, wall: float) -> float | None:
        """Add the line; its seconds on this report's clock (None without a stamp of it)."""
        self.lines.append(line)
        self.last_wall = wall
        if self._newest is not None:
            _note_newest(self._newest, identity_stamp(line))
        if self.wall_clock is None and (line.timestamp or line.monotonic) is not None:
            # The kernel's own stamp where a line has both: a syslog daemon's time is when
            # it wrote the line, which a backlog can put minutes after the kernel printed it.
            self.wall_clock = line.monotonic is None
        stamp = self.seconds(line)
        if stamp is not None:
            if self.first_time is None:
                self.first_time = stamp
            self.last_time = stamp
        return stamp

    def seconds(self, line: LogLine) -> float | None:
        """The line's stream seconds on this report's clock, or None when it has no stamp of it."""
        if self.wall_clock is None:
            return stream_seconds(line)
        if self.wall_clock:
            stamp = line.timestamp
            if stamp is None:
                return None
            if stamp is not self._stamp:
                self._stamp, self._stamp_seconds = stamp, stamp.timestamp()
            return self._stamp_seconds
        return line.monotonic

    def is_duplicate(self, line: LogLine) -> bool:
        """A line with a kernel sequence number or stamp that this report already holds."""
        stamp = identity_stamp(line)
        if stamp is None:
            return False  # unstamped lines may repeat legitimately (stack frames)
        newest = self._newest
        if newest is None:
            newest = self._newest = {}
            for held in self.lines:
                _note_newest(newest, identity_stamp(held))
        later = _note_newest(newest, stamp)
        if later and self._seen is None:
            return False
        identity = (*stamp, line.message.strip())
        seen = self._seen  # built once a line comes no later than the newest held
        if seen is None:
            seen = self._seen = {line_identity(held) for held in self.lines}
        if not later and identity in seen:
            return True
        seen.add(identity)
        return False

    def flag(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def to_block(self, closing_reason: str | None = None) -> ReportBlock:
        if closing_reason:
            self.flag(closing_reason)
        if not self.has_start:
            self.flag("missing_start")
        if self.phase != TAIL:
            self.flag("missing_kill")
        return ReportBlock(
            host=self.host,
            lines=self.lines,
            complete=not self.reasons,
            incomplete_reason=self.reasons[0] if self.reasons else None,
            unit_notice=self.unit_notice,
            supersedes=list(self.emitted_ids),
        )

    def snapshot(self) -> dict:
        return {
            "host": self.host,
            "lines": [line_to_dict(line) for line in self.lines],
            "has_start": self.has_start,
            "phase": self.phase,
            "victim_pids": sorted(self.victim_pids),
            "group_kill": self.group_kill,
            "reasons": self.reasons,
            "tail_other_lines": self.tail_other_lines,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "tail_time": self.tail_time,
            "wall_clock": self.wall_clock,
            "unit_notice": self.unit_notice,
            "emitted_ids": self.emitted_ids,
            "emitted_signature": self.emitted_signature,
        }

    @classmethod
    def restore(cls, state: dict) -> OpenReport:
        report = cls(host=state["host"])
        report.lines = [line_from_dict(item) for item in state["lines"]]
        report.has_start = state["has_start"]
        report.phase = state["phase"]
        report.victim_pids = set(state["victim_pids"])
        report.group_kill = state["group_kill"]
        report.reasons = list(state["reasons"])
        report.tail_other_lines = state["tail_other_lines"]
        report.first_time = state["first_time"]
        report.last_time = state["last_time"]
        report.tail_time = state["tail_time"]
        report.wall_clock = state.get("wall_clock")
        report.unit_notice = state["unit_notice"]
        earlier = state.get("event_id")  # written by versions that kept the first id
        report.emitted_ids = list(state.get("emitted_ids", [earlier] if earlier else []))
        report.emitted_signature = state.get("emitted_signature")
        return report


def line_identity(line: LogLine) -> tuple | None:
    stamp = identity_stamp(line)
    return None if stamp is None else (*stamp, line.message.strip())


def _note_newest(newest: dict, stamp: tuple | None) -> bool:
    """Keeps the newest stamp of each kind; whether `stamp` was later than all of its kind."""
    if stamp is None:
        return False
    kind, value = stamp
    held = newest.get(kind)
    if held is None or value > held:
        newest[kind] = value
        return True
    return False


def identity_stamp(line: LogLine) -> tuple | None:
    """The kind and value of the stamp that, with its text, tells the line apart."""
    if line.seq is not None:
        return ("seq", line.seq)
    if line.monotonic is not None:
        return ("mono", line.monotonic)
    stamp = line.timestamp
    # A line's own wall-clock stamp finer than the second tells it apart as a kernel stamp
    # does; a second-resolution stamp, a shipper's record time or the stamp of a line folded
    # with others is shared by lines that may repeat legitimately (stack frames).
    if (
        stamp is not None
        and stamp.microsecond
        and line.rule in _OWN_FINE_WALL_STAMP
        and RSYSLOG_NEWLINE not in line.raw
        and "\n" not in line.raw
    ):
        return ("wall", stamp)
    return None


# Prefix rules whose every line carries its own sub-second wall-clock stamp.
_OWN_FINE_WALL_STAMP = frozenset({"iso-syslog", "rfc5424", "facility-level-iso", "dmesg-iso"})


def stream_seconds(line: LogLine) -> float | None:
    if line.timestamp is not None:
        return line.timestamp.timestamp()
    return line.monotonic


def line_to_dict(line: LogLine) -> dict:
    return {
        "message": line.message,
        "host": line.host,
        "timestamp": line.timestamp.isoformat() if line.timestamp else None,
        "monotonic": line.monotonic,
        "is_kernel": line.is_kernel,
        "program": line.program,
        "raw": line.raw,
        "seq": line.seq,
        "rule": line.rule,
        "position": line.position,
    }


def line_from_dict(item: dict) -> LogLine:
    from datetime import datetime

    stamp = item.get("timestamp")
    return LogLine(
        message=item["message"],
        host=item.get("host"),
        timestamp=datetime.fromisoformat(stamp) if stamp else None,
        monotonic=item.get("monotonic"),
        is_kernel=item.get("is_kernel"),
        program=item.get("program"),
        raw=item.get("raw", ""),
        seq=item.get("seq"),
        rule=item.get("rule"),
        position=item.get("position"),
    )
