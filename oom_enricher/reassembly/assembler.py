"""Per-host state machine: an interleaved stream of kernel lines -> one block per OOM event."""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from oom_enricher.model import LogLine, ReportBlock
from oom_enricher.reassembly.bounds import Bounds
from oom_enricher.reassembly.markers import (
    Marker,
    classify,
    is_report_shaped,
    looks_cut,
    unit_notice,
)
from oom_enricher.reassembly.open_report import (
    BODY,
    TAIL,
    OpenReport,
    line_from_dict,
    line_to_dict,
    stream_seconds,
)

_ELISION = {"...", "…", "[...]", "[…]"}
_SUMMARY_PID = re.compile(r"[,:]pid=(\d+)")
_TAIL_KINDS = {Marker.GROUP, Marker.EXITING, Marker.REAPED}


class Assembler:
    """Feed lines in arrival order; completed blocks come back from `feed`, `tick`, `finish`."""

    def __init__(self, bounds: Bounds | None = None, clock=time.monotonic) -> None:
        self.bounds = bounds or Bounds()
        self._clock = clock
        self._open: OrderedDict[str, OpenReport] = OrderedDict()
        self._recent: deque[LogLine] = deque(maxlen=self.bounds.lookback_lines)
        self._recent_victims: OrderedDict[str, set[int]] = OrderedDict()
        # Where a report without its header looks for its earlier lines: the recent-line
        # ring by default; a reader that skips lines supplies the lines it skipped instead.
        self.lookback_source: Callable[[], Iterable[LogLine]] | None = None

    @property
    def open_hosts(self) -> int:
        return len(self._open)

    def has_open(self, host: str | None) -> bool:
        return (host or "") in self._open

    def oldest_open_age(self) -> float:
        now = self._clock()
        return max((now - report.last_wall for report in self._open.values()), default=0.0)

    def low_water(self) -> int | None:
        """The lowest `LogLine.position` still held (open reports and the look-back ring):
        a durable log may drop everything below it, and replaying from it rebuilds this state."""
        held = [line.position for line in self._recent if line.position is not None]
        for report in self._open.values():
            held.extend(line.position for line in report.lines if line.position is not None)
        return min(held, default=None)

    def feed(self, line: LogLine) -> list[ReportBlock]:
        if line.is_kernel is False:
            self._note_userspace(line)
            return []
        if not line.message.strip():
            return []  # blank pr_cont leftovers carry nothing
        key = line.host or ""
        found = classify(line.message)
        report = self._open.get(key)
        done: list[ReportBlock] = []
        if report is not None and report.is_duplicate(line):
            return []  # an at-least-once shipper delivered this stamped line twice
        if report is not None and len(report.lines) >= self.bounds.max_lines:
            done.append(self._close(key, "max_lines"))  # emit what was collected, flagged
            report = None
        if report is None:
            return done + self._feed_idle(key, line, found)
        if report.phase == BODY:
            self._feed_body(key, report, line, found, done)
        else:
            self._feed_tail(key, report, line, found, done)
        self._check_stream_age(key, line, done)
        return done

    def tick(self, now: float | None = None) -> list[ReportBlock]:
        """Close reports idle for too long in wall-clock time (a server calls this often).

        `now` is a reading of the assembler's clock (time.monotonic by default), not epoch time.
        """
        now = self._clock() if now is None else now
        done: list[ReportBlock] = []
        for key, report in list(self._open.items()):
            idle = now - report.last_wall
            if report.phase == TAIL and idle >= self.bounds.tail_grace:
                done.append(self._close(key))
            elif idle >= self.bounds.max_wall_age:
                done.append(self._close(key, "max_wall_age"))
        return done

    def finish(self) -> list[ReportBlock]:
        """End of input: every report still open comes out."""
        return [
            self._close(key, None if report.phase == TAIL else "end_of_input")
            for key, report in list(self._open.items())
        ]

    # -- states ---------------------------------------------------------------------------

    def _feed_idle(self, key: str, line: LogLine, found) -> list[ReportBlock]:
        if found is None:  # every marker kind opens a report on a host with none in progress
            self._recent.append(line)
            return []
        marker, match = found
        if marker is Marker.REAPED and int(match["pid"]) in self._recent_victims.get(key, ()):
            return []  # a late reaper line of a report already emitted
        done: list[ReportBlock] = []
        self._begin(key, line, marker, match, done)
        return done

    def _feed_body(self, key: str, report: OpenReport, line: LogLine, found, done) -> None:
        if found is not None and found[0] is Marker.START:
            done.append(self._close(key, "next_report_began"))
            self._begin(key, line, *found, done)
            return
        self._append(key, report, line)
        if found is not None:
            self._apply(report, *found)

    def _feed_tail(self, key: str, report: OpenReport, line: LogLine, found, done) -> None:
        marker, match = found if found is not None else (None, None)
        if marker in _TAIL_KINDS or self._same_event(report, marker, match):
            self._append(key, report, line)
            self._apply(report, marker, match)
            return
        if marker is not None:
            done.append(self._close(key))
            self._begin(key, line, marker, match, done)
            return
        report.tail_other_lines += 1
        if self._tail_expired(report, line):
            done.append(self._close(key))
            self._recent.append(line)

    def _same_event(self, report: OpenReport, marker, match) -> bool:
        if marker is Marker.KILLED:
            return report.group_kill or int(match["pid"]) in report.victim_pids
        if marker is Marker.SUMMARY:
            pid = _SUMMARY_PID.search(match.string)
            return pid is not None and int(pid.group(1)) in report.victim_pids
        return False

    def _tail_expired(self, report: OpenReport, line: LogLine) -> bool:
        if report.tail_other_lines > self.bounds.tail_max_lines:
            return True
        stamp = report.seconds(line)
        return (
            stamp is not None
            and report.tail_time is not None
            and stamp - report.tail_time > self.bounds.tail_grace
        )

    # -- transitions ----------------------------------------------------------------------

    def _begin(self, key: str, line: LogLine, marker, match, done: list[ReportBlock]) -> None:
        if len(self._open) >= self.bounds.max_open_hosts:
            oldest = next(iter(self._open))
            done.append(self._close(oldest, "max_open_hosts"))
        report = OpenReport(host=line.host, has_start=marker is Marker.START)
        if not report.has_start:
            room = self.bounds.max_lines // 2  # leave room for the rest of the report
            for earlier in self._look_back(line)[-room:]:
                report.add(earlier, report.last_wall)
        self._open[key] = report
        self._append(key, report, line)
        self._apply(report, marker, match)

    def _append(self, key: str, report: OpenReport, line: LogLine) -> None:
        report.add(line, self._clock())
        self._open.move_to_end(key)
        text = line.message.strip()
        if text in _ELISION and line.rule is None:  # a bare `...` line: the author cut lines
            report.flag("elided_lines")
        elif looks_cut(line.message):
            report.flag("truncated_line")

    def _apply(self, report: OpenReport, marker, match) -> None:
        if marker in (Marker.KILLED, Marker.SUMMARY) and looks_cut(match.string, marker):
            report.flag("truncated_line")
        if marker is Marker.KILLED:
            report.victim_pids.add(int(match["pid"]))
            self._enter_tail(report)
        elif marker is Marker.NO_KILLABLE:
            self._enter_tail(report)
        elif marker is Marker.GROUP:
            report.group_kill = True
        elif marker is Marker.REAPED:
            if report.phase == BODY:
                report.flag("kill_line_missing")
                report.victim_pids.add(int(match["pid"]))
                self._enter_tail(report)
        elif marker is Marker.SUPPRESSED:
            report.flag("kill_line_ratelimited")

    def _enter_tail(self, report: OpenReport) -> None:
        if report.phase != TAIL:
            report.phase = TAIL
            report.tail_time = report.last_time
            report.tail_other_lines = 0

    def _close(self, key: str, reason: str | None = None) -> ReportBlock:
        report = self._open.pop(key)
        if report.victim_pids:
            self._recent_victims[key] = set(report.victim_pids)
            self._recent_victims.move_to_end(key)
            while len(self._recent_victims) > self.bounds.recent_victim_hosts:
                self._recent_victims.popitem(last=False)
        return report.to_block(reason)

    def _check_stream_age(self, key: str, line: LogLine, done: list[ReportBlock]) -> None:
        report = self._open.get(key)
        stamp = report.seconds(line) if report is not None else None
        if report is None or stamp is None or report.first_time is None:
            return
        if stamp - report.first_time > self.bounds.max_stream_age:
            done.append(self._close(key, "max_stream_age"))

    def _look_back(self, line: LogLine) -> list[LogLine]:
        """Recent lines of the same host that belong to this report's unseen beginning."""
        found: list[LogLine] = []
        recent = list(self.lookback_source()) if self.lookback_source else self._recent
        later = line
        for earlier in reversed(recent):
            if earlier.host != line.host:
                continue
            if not is_report_shaped(earlier.message):
                break
            gap = _seconds_between(earlier, later)
            if gap is not None and gap > self.bounds.lookback_gap:
                break  # a report prints its lines together: this one belongs to something else
            if earlier.timestamp is not None or earlier.monotonic is not None:
                later = earlier
            found.append(earlier)
            if earlier.message.startswith(("CPU: ", "Pid: ")):
                break
        if found and self.lookback_source is None:
            kept = {id(item) for item in found}
            self._recent = deque(
                (item for item in self._recent if id(item) not in kept), maxlen=self._recent.maxlen
            )
        return found[::-1]

    def _note_userspace(self, line: LogLine) -> None:
        unit = unit_notice(line.message)
        if unit is None:
            return
        report = self._open.get(line.host or "")
        if report is not None and report.phase == TAIL and report.unit_notice is None:
            report.unit_notice = unit

    # -- persistence ----------------------------------------------------------------------

    def snapshot(self) -> dict:
        return {
            "open": {key: report.snapshot() for key, report in self._open.items()},
            "recent_victims": {key: sorted(pids) for key, pids in self._recent_victims.items()},
            # the look-back ring, so a report whose header is missing keeps its earlier lines
            "recent": [line_to_dict(line) for line in self._recent],
        }

    def restore(self, state: dict) -> None:
        self._open = OrderedDict(
            (key, OpenReport.restore(item)) for key, item in state.get("open", {}).items()
        )
        now = self._clock()
        for report in self._open.values():
            report.last_wall = now
        self._recent_victims = OrderedDict(
            (key, set(pids)) for key, pids in state.get("recent_victims", {}).items()
        )
        self._recent = deque(
            (line_from_dict(item) for item in state.get("recent", [])),
            maxlen=self.bounds.lookback_lines,
        )


def _seconds_between(earlier: LogLine, later: LogLine) -> float | None:
    """Seconds from one line to another on a clock both carry (wall or kernel), else None."""
    if earlier.timestamp is not None and later.timestamp is not None:
        return (later.timestamp - earlier.timestamp).total_seconds()
    if earlier.monotonic is not None and later.monotonic is not None:
        return later.monotonic - earlier.monotonic
    return None
