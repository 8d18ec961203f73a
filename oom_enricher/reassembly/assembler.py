"""Per-host state machine: an interleaved stream of kernel lines -> one block per OOM event."""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from oom_enricher import kernel_lines
from oom_enricher.model import LogLine, ReportBlock
from oom_enricher.reassembly.amend import EmittedReport, best_match, kernel_order, signature
from oom_enricher.reassembly.bounds import Bounds
from oom_enricher.reassembly.markers import (
    Marker,
    classify_line,
    has_skim_needle,
    is_authors_elision,
    is_elision,
    is_report_shaped,
    looks_cut,
    unit_notice,
)
from oom_enricher.reassembly.open_report import (
    BODY,
    TAIL,
    OpenReport,
    line_from_dict,
    line_identity,
    line_to_dict,
    stream_seconds,
)
from oom_enricher.reassembly.report_id import compute_event_id, kill_key, kill_keyed

_SUMMARY_PID = re.compile(r"[,:]pid=(\d+)")
# Lines with no prefix of their own: bare text, or indented under a prefixed line (an
# author's `...` aligned with the messages above it).
_AUTHORED = (None, "continuation")


def _authors_elision(report: OpenReport, message: str) -> bool:
    """The report's newest line (just added) is an elision its author wrote."""
    previous = report.lines[-2].message if len(report.lines) > 1 else None
    return is_authors_elision(message, previous)


_TAIL_KINDS = {Marker.GROUP, Marker.EXITING, Marker.REAPED, Marker.PANIC}
_WHOLE_EVENTS = {Marker.START, Marker.UB_KILLED}  # lines an event begins with


def _ratelimit_notice(report: OpenReport) -> LogLine | None:
    """The report's last line when it is a ratelimit notice and the report killed nothing
    (`oom_kill_process: N callbacks suppressed` before a header, kernels 3.x-6.x)."""
    if not report.lines or report.victim_pids:
        return None
    last = report.lines[-1]
    found = classify_line(last)  # classified when it was fed: the marker is kept on the line
    return last if found is not None and found[0] is Marker.SUPPRESSED else None


def _holds(report: OpenReport, marker: Marker) -> bool:
    for line in report.lines:
        found = classify_line(line)
        if found is not None and found[0] is marker:
            return True
    return False


def _next_event_begins(report: OpenReport, marker: Marker) -> bool:
    """oom_kill_process prints one summary (4.19+) and, before 5.1, one choice (`Kill process
    N (x) score S or sacrifice child`) per event: a second summary begins the next event
    (`grep oom-kill`), and so does a choice right after a choice (`grep "Out of memory"`).
    A choice after the lines of a body is that body's: the first was quoted before it."""
    if marker is Marker.SUMMARY:
        return _holds(report, marker)
    if marker is not Marker.SELECTED or not report.lines:
        return False
    last = classify_line(report.lines[-1])
    return last is not None and last[0] is Marker.SELECTED


def _lines_within(lines: list[LogLine], held: list[LogLine]) -> bool:
    """Every line is one of `held` by its text, with no stamp later than theirs: a line the
    kernel printed again carries a later stamp, while a paste that quotes lines again gives
    them none (or the stamp of the line before them)."""
    texts = {line.message.strip() for line in held}
    newest_stamp = max(
        (line.monotonic for line in held if line.monotonic is not None), default=None
    )
    newest_time = max((line.timestamp for line in held if line.timestamp is not None), default=None)
    for line in lines:
        if line.message.strip() not in texts:
            return False
        if line.monotonic is not None and (newest_stamp is None or line.monotonic > newest_stamp):
            return False
        if line.timestamp is not None and (newest_time is None or line.timestamp > newest_time):
            return False
    return True


class Assembler:
    """Feed lines in arrival order; completed blocks come back from `feed`, `settle`, `tick`,
    `finish`. A block whose id was emitted before amends that document; a block with
    `supersedes` replaces the documents emitted under those ids (its id changed when a late
    kill line came, or it joined fragments emitted on their own)."""

    def __init__(
        self,
        bounds: Bounds | None = None,
        clock=time.monotonic,
        *,
        amendable: bool = True,
        live: bool = False,
    ) -> None:
        self.bounds = bounds or Bounds()
        self._clock = clock
        self._amendable = amendable
        # Reports emitted but still open to late lines, per host, oldest first.
        self._emitted: OrderedDict[str, list[EmittedReport]] = OrderedDict()
        self._emitted_lines = 0
        # When tick next has work among the emitted reports, computed again only after they
        # changed: next_deadline runs after every batch, over every host watched.
        self._emitted_due: float | None = None
        self._emitted_changed = True
        self._newest: dict[str, float] = {}  # newest kernel stamp seen per host
        # Hosts with lines that arrived out of kernel order, waiting for `settle`.
        self._late: dict[str, list[LogLine]] = {}
        # Stamped lines of such hosts that no report took, for putting them back in order.
        self._spare: dict[str, deque[LogLine]] = {}
        self._released: list[ReportBlock] = []  # held reports pushed out by a bound
        # Fed live by shippers (serve): only then can a report's kill still come later, so a
        # report closed without it waits; a file read once in order holds nothing back.
        self._live = live
        self.superseded_fragments = 0  # emitted fragments merged into another report
        self._open: OrderedDict[str, OpenReport] = OrderedDict()
        self._recent: deque[LogLine] = deque(maxlen=self.bounds.lookback_lines)
        self._recent_victims: OrderedDict[str, set[int]] = OrderedDict()
        # Where a report without its header looks for its earlier lines: the recent-line
        # ring by default; a reader that skips lines supplies the lines it skipped instead.
        self.lookback_source: Callable[[], Iterable[LogLine]] | None = None
        # Told what each call of `lookback_source` gave the report (often nothing): lines a
        # reader skipped are in no durable log, so the reader keeps the ones a report took.
        self.lookback_taken: Callable[[list[LogLine]], None] | None = None

    @property
    def open_hosts(self) -> int:
        return len(self._open)

    def open_keys(self):
        """The keys (hosts, "" for none) that have a report in progress: a live view."""
        return self._open.keys()

    def watched_keys(self) -> set[str]:
        """Keys whose next lines can matter: a report in progress, lines waiting to be put in
        kernel order, or a report emitted and still open to late lines."""
        return set(self._open) | set(self._late) | set(self._emitted)

    def has_late(self) -> bool:
        """Lines of some host wait to be put in kernel order."""
        return bool(self._late)

    def remembers_victim_of(self, key: str) -> bool:
        """A kill of this key is remembered (its reaper line continues it, not a new report)."""
        return key in self._recent_victims

    def memories(self) -> tuple[dict[str, set[int]], dict[str, float]]:
        """Copies of the per-host memories a fresh start lacks: victims, newest kernel stamp."""
        victims = {key: set(pids) for key, pids in self._recent_victims.items()}
        return victims, dict(self._newest)

    def only_amendable(self, key: str) -> bool:
        """The key's reports are all emitted and open only to late lines: no report is in
        progress and no line waits to be put in kernel order."""
        return key in self._emitted and key not in self._open and key not in self._late

    def only_amendable_keys(self) -> set[str]:
        """The keys for which `only_amendable` holds."""
        return self._emitted.keys() - self._open.keys() - self._late.keys()

    def has_open(self, host: str | None) -> bool:
        key = host or ""
        return key in self._open or key in self._late

    def oldest_open_age(self) -> float:
        now = self._clock()
        return max((now - report.last_wall for report in self._open.values()), default=0.0)

    def low_water(self) -> int | None:
        """The lowest `LogLine.position` still held (open reports and the look-back ring):
        a durable log may drop everything below it, and replaying from it rebuilds this state."""
        groups: list[Iterable[LogLine]] = [
            self._recent,
            *self._late.values(),
            *self._spare.values(),
        ]
        groups.extend(report.lines for report in self._open.values())
        groups.extend(r.lines for reports in self._emitted.values() for r in reports)
        held = [line.position for group in groups for line in group if line.position is not None]
        return min(held, default=None)

    def feed(self, line: LogLine) -> list[ReportBlock]:
        done = self._feed(line)
        if self._released:
            done.extend(self._released)
            self._released.clear()
        return done

    def _feed(self, line: LogLine) -> list[ReportBlock]:
        if line.is_kernel is False:
            self._note_userspace(line)
            return []
        message = line.message
        if not message or message.isspace():
            return []  # blank pr_cont leftovers carry nothing
        key = line.host or ""
        late = self._late.get(key) if self._late else None
        if late is not None:  # the host is being put back in order: keep its lines together
            late.append(line)
            return self._settle_host(key) if len(late) >= self.bounds.max_lines else []
        newest = self._newest.get(key)  # the same for both: nothing in between notes a stamp
        stamp = line.monotonic
        # `_is_late` is False without an older stamp or an emitted report (most lines)
        if (
            (stamp is not None and newest is not None and stamp < newest) or key in self._emitted
        ) and self._is_late(key, line, newest):
            self._late[key] = [*self._arrived_ahead(line), line]
            return self._settle_host(next(iter(self._late))) if self._too_many_late() else []
        found = classify_line(line)
        report = self._open.get(key)
        if report is None and found is not None and (ahead := self._arrived_ahead(line)):
            self._late[key] = [*ahead, line]  # its later lines came first: put them in order
            return []
        if stamp is not None:
            self._note_stamp(key, stamp, newest)
        if report is None:
            return self._feed_idle(key, line, found)
        if report.is_duplicate(line):
            return []  # an at-least-once shipper delivered this stamped line twice
        done: list[ReportBlock] = []
        if len(report.lines) >= self.bounds.max_lines:
            self._close_into(done, key, "max_lines")  # emit what was collected, flagged
            return done + self._feed_idle(key, line, found)
        reason = self._out_of_reach(report, line)
        if reason is not None:
            # A line this far from the report's lines is no part of it (the author cut the
            # lines between two events, the stream stopped mid-report): it is read afresh.
            # A killed report only waited for reaper lines: it ends whole.
            self._close_into(done, key, None if report.phase == TAIL else reason)
            return done + self._feed_idle(key, line, found)
        if report.phase == BODY and found is None:
            self._append(key, report, line)  # a line of a report's body (most lines read)
        elif report.phase == BODY:
            self._feed_body(key, report, line, found, done)
        else:
            self._feed_tail(key, report, line, found, done)
        return done

    def tick(self, now: float | None = None) -> list[ReportBlock]:
        """Close reports idle for too long in wall-clock time (a server calls this often).

        `now` is a reading of the assembler's clock (time.monotonic by default), not epoch time.
        """
        now = self._clock() if now is None else now
        done = self.settle()
        # Sums, not differences: the same arithmetic as next_deadline(), so a tick at that
        # deadline closes (releases, expires) what it names.
        for key, report in list(self._open.items()):
            if report.phase == TAIL and now >= report.last_wall + self.bounds.tail_grace:
                self._close_into(done, key, wall=True)
            elif now >= report.last_wall + self.bounds.max_wall_age:
                self._close_into(done, key, "max_wall_age", wall=True)
        due = self._emitted_soonest()
        if due is not None and now >= due:
            self._expire_emitted(now)
            for records in self._emitted.values():
                for record in records:
                    if (
                        record.held is not None
                        and now >= record.closed_at + self.bounds.hold_unkilled
                    ):
                        done.append(record.held)
                        record.held = None
            self._emitted_changed = True
        return done + self._take_released()

    def next_deadline(self) -> float | None:
        """When `tick` will next have work (assembler clock): the earliest last line plus the
        reaper grace (killed reports) or plus max_wall_age (the others), a held unkilled
        report's release, an emitted report's amendment window running out, or now when late
        lines or released reports wait."""
        if self._late or self._released:
            return self._clock()
        tail, body = self.bounds.tail_grace, self.bounds.max_wall_age
        times = [r.last_wall + (tail if r.phase == TAIL else body) for r in self._open.values()]
        due = self._emitted_soonest()
        if due is not None:
            times.append(due)
        return min(times, default=None)

    def _emitted_soonest(self) -> float | None:
        """The earliest amendment window's end or held report's release."""
        if self._emitted_changed:
            window, hold = self.bounds.amend_window, self.bounds.hold_unkilled
            times = []
            for records in self._emitted.values():
                if records:
                    times.append(records[0].closed_at + window)
                times.extend(r.closed_at + hold for r in records if r.held is not None)
            self._emitted_due, self._emitted_changed = min(times, default=None), False
        return self._emitted_due

    def finish(self) -> list[ReportBlock]:
        """End of input: every report still open comes out."""
        done = self.settle()
        for key, report in list(self._open.items()):
            self._close_into(done, key, None if report.phase == TAIL else "end_of_input")
        return done + self.release_held()

    def release_held(self) -> list[ReportBlock]:
        """Emit the reports still waiting for their kill (a server stopping)."""
        done: list[ReportBlock] = []
        for records in self._emitted.values():
            for record in records:
                if record.held is not None:
                    done.append(record.held)
                    record.held = None
        self._emitted_changed = True
        return done + self._take_released()

    def _take_released(self) -> list[ReportBlock]:
        released, self._released = self._released, []
        return released

    def settle(self) -> list[ReportBlock]:
        """Put hosts that received lines out of kernel order back in order (a server calls
        this after each batch); returns the reports that this completed or amended."""
        done: list[ReportBlock] = []
        while self._late:
            done.extend(self._settle_host(next(iter(self._late))))
        return done + self._take_released()

    # -- states ---------------------------------------------------------------------------

    def _feed_idle(self, key: str, line: LogLine, found) -> list[ReportBlock]:
        if found is None:  # every marker kind opens a report on a host with none in progress
            self._recent.append(line)
            if key in self._emitted:
                self._keep_spare(key, line)
            return []
        marker, match = found
        if marker is Marker.REAPED and int(match["pid"]) in self._recent_victims.get(key, ()):
            return []  # a late reaper line of a report already emitted
        if marker is Marker.PANIC and not has_skim_needle(line.message):
            self._recent.append(line)  # a panic with no report before it is no OOM report
            return []
        done: list[ReportBlock] = []
        self._begin(key, line, marker, match, done)
        return done

    def _feed_body(self, key: str, report: OpenReport, line: LogLine, found, done) -> None:
        if found is not None and found[0] is Marker.START:
            notice = _ratelimit_notice(report)
            if notice is None:
                self._close_into(done, key, "next_report_began")
            else:
                # The kernel prints the notice on the call it lets through: the notice
                # heads this header's report, it was no report of its own.
                del self._open[key]
            self._begin(key, line, *found, done, notice)
            return
        if found is not None and _next_event_begins(report, found[0]):
            self._close_into(done, key)
            self._begin(key, line, *found, done)
            return
        self._append(key, report, line)
        if found is not None:
            self._apply(report, *found)

    def _feed_tail(self, key: str, report: OpenReport, line: LogLine, found, done) -> None:
        marker, match = found if found is not None else (None, None)
        if marker is Marker.REAPED and not self._same_event(report, marker, match):
            self._close_into(done, key)  # the reaper of another kill's victim
            done.extend(self._feed_idle(key, line, found))
            return
        if marker in _TAIL_KINDS or self._same_event(report, marker, match):
            self._append(key, report, line)
            self._apply(report, marker, match)
            return
        if marker is None and _in_panic_dump(report) and is_report_shaped(line.message):
            self._append(key, report, line)  # the panic's own dump: `CPU:`, trace, offsets
            return
        if (
            marker is None
            and report.group_kill
            and line.rule in _AUTHORED
            and is_authors_elision(line.message, report.lines[-1].message)
        ):
            self._append(key, report, line)  # `...` among a group's kills: kills left out
            return
        if marker is not None:
            self._close_into(done, key)
            self._begin(key, line, marker, match, done)
            return
        report.tail_other_lines += 1
        self._keep_spare(key, line)
        if self._tail_expired(report, line):
            self._close_into(done, key)
            self._recent.append(line)

    def _same_event(self, report: OpenReport, marker, match) -> bool:
        if marker is Marker.KILLED:
            return report.group_kill or int(match["pid"]) in report.victim_pids
        if marker is Marker.REAPED:
            return report.group_kill or int(match["pid"]) in report.victim_pids
        if marker is Marker.UB_KILLED:
            return False  # each beancounter kill line is an event of its own
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

    def _begin(
        self,
        key: str,
        line: LogLine,
        marker,
        match,
        done: list[ReportBlock],
        notice: LogLine | None = None,
    ) -> None:
        """`notice`: a ratelimit notice printed right before this line, which heads it."""
        if len(self._open) >= self.bounds.max_open_hosts:
            oldest = next(iter(self._open))
            self._close_into(done, oldest, "max_open_hosts")
        report = OpenReport(host=line.host, has_start=marker in _WHOLE_EVENTS)
        if notice is not None:
            report.add(notice, report.last_wall)
        if not report.has_start:
            room = self.bounds.max_lines // 2  # leave room for the rest of the report
            for earlier in self._look_back(line)[-room:]:
                report.add(earlier, report.last_wall)
                if earlier.rule in _AUTHORED and _authors_elision(report, earlier.message):
                    report.flag("elided")
        self._open[key] = report
        self._append(key, report, line)
        self._apply(report, marker, match)

    def _append(self, key: str, report: OpenReport, line: LogLine) -> float | None:
        """The line added to the host's report; its seconds on the report's clock."""
        seconds = report.add(line, self._clock())
        self._open.move_to_end(key)
        message = line.message
        if line.rule in _AUTHORED and _authors_elision(report, message):
            report.flag("elided")  # `...`: the author cut lines
        # without a marker only a line ending in `>` (and white space) can look cut: most
        # lines skip the call
        elif (message.endswith(">") or message[-1:].isspace()) and looks_cut(message):
            report.flag("truncated_line")
        return seconds

    def _apply(self, report: OpenReport, marker, match) -> None:
        if marker in (Marker.KILLED, Marker.SUMMARY) and looks_cut(match.string, marker):
            report.flag("truncated_line")
        if marker is Marker.KILLED:
            report.victim_pids.add(int(match["pid"]))
            self._enter_tail(report)
        elif marker is Marker.UB_KILLED:
            report.victim_pids.add(int(match["pid"] or match["ve_pid"]))
            self._enter_tail(report)
        elif marker in (Marker.NO_KILLABLE, Marker.PANIC):
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

    def _close_into(
        self, done: list[ReportBlock], key: str, reason: str | None = None, *, wall: bool = False
    ) -> None:
        """Close the host's report; it goes to `done` unless it repeats what was emitted."""
        report = self._open.pop(key)
        if report.victim_pids:
            self._recent_victims[key] = set(report.victim_pids)
            self._recent_victims.move_to_end(key)
            while len(self._recent_victims) > self.bounds.recent_victim_hosts:
                self._recent_victims.popitem(last=False)
        block = report.to_block(reason)
        record = None
        if report.emitted_ids:
            self._drop_emitted(key, set(report.emitted_ids))  # this report replaces them
        elif not self._live and self._repeats_emitted(key, block):
            return
        if self._amendable and any(stream_seconds(line) is not None for line in block.lines):
            # Kept for late lines: only stamped lines can be placed into it later.
            block.event_id = compute_event_id(block.host, block.lines)
            record = EmittedReport(block.event_id, block.lines, wall, self._clock())
            if report.emitted_signature is None and self._should_hold(block):
                record.held = block
            self._keep_emitted(key, record)
            if record.held is not None:
                return
        if report.emitted_signature is not None:
            # it continues a report emitted before: emitted again only if its lines changed
            content = record.signature if record is not None else signature(block.lines)
            if content == report.emitted_signature:
                return
        done.append(block)

    def _repeats_emitted(self, key: str, block: ReportBlock) -> bool:
        """A report that only repeats lines of an emitted report of the same kill adds nothing
        to its document (a paste that quotes the kill lines again, with or without stamps)."""
        earlier = self._emitted.get(key)
        key_of_kill = kill_key(block.lines) if earlier else None
        if key_of_kill is None:
            return False
        for record in earlier:
            record_key = kill_key(record.lines) or ""
            # a repeat without stamps has no time window: its pid names the kill
            same_kill = record_key == key_of_kill or record_key.startswith(key_of_kill + " @")
            if same_kill and _lines_within(block.lines, record.lines):
                return True
        return False

    def _should_hold(self, block: ReportBlock) -> bool:
        return (
            self._live
            and not block.supersedes  # documents it replaces are out: replace them now
            and self.bounds.hold_unkilled > 0
            and not kill_keyed(block.lines)
        )

    def _keep_spare(self, key: str, line: LogLine) -> None:
        if self._amendable and stream_seconds(line) is not None:
            spare = self._spare.get(key)
            if spare is None:
                spare = self._spare[key] = deque(maxlen=self.bounds.lookback_lines)
            spare.append(line)

    # -- kernel order and late lines ------------------------------------------------------

    def _is_late(self, key: str, line: LogLine, newest: float | None) -> bool:
        """Whether a line must be placed by its stamp, or reassembled with the host's last
        report, rather than appended (`newest`: the host's newest kernel stamp)."""
        stamp = line.monotonic
        if stamp is not None and newest is not None and stamp < newest:
            return newest - stamp <= self.bounds.amend_window  # further back: a new boot
        reports = self._emitted.get(key)
        if reports and reports[-1].wall_closed:
            # Closed by the wall clock, not by the stream (the lines came slowly): the stream
            # rules decide whether this line still continues it.
            last, now = reports[-1].last_seconds, stream_seconds(line)
            return last is not None and now is not None and now - last <= self.bounds.max_stream_age
        return False

    def _arrived_ahead(self, line: LogLine) -> list[LogLine]:
        """Lines of the host, kernel-stamped after this one, that arrived before it: a racing
        connection or a shipper's retry delivered them first, and serve may have left them
        undecoded (no report was open) or they may have left the look-back ring since."""
        if not self._live or self.lookback_source is None or line.monotonic is None:
            return []
        stamp, host = line.monotonic, line.host
        ahead = sorted(
            (
                earlier
                for earlier in self.lookback_source()
                if earlier.host == host
                and earlier.monotonic is not None
                and 0 < earlier.monotonic - stamp <= self.bounds.amend_window
            ),
            key=lambda earlier: earlier.monotonic,
        )
        # A report prints its lines together: past a gap the lines belong to a later report,
        # whose own first line may not have come yet, and must not be glued to this one.
        taken: list[LogLine] = []
        for later in ahead:
            if later.monotonic - stamp > self.bounds.lookback_gap:
                break
            taken.append(later)
            stamp = later.monotonic
        if self.lookback_taken is not None:
            self.lookback_taken(taken)
        return taken

    def _note_stamp(self, key: str, stamp: float, newest: float | None) -> None:
        """`newest`: the host's newest kernel stamp before this one."""
        if newest is None:
            if len(self._newest) >= self.bounds.max_open_hosts:
                self._newest.pop(next(iter(self._newest)))
            self._newest[key] = stamp
        elif stamp > newest or newest - stamp > self.bounds.amend_window:
            self._newest[key] = stamp

    def _too_many_late(self) -> bool:
        return len(self._late) > self.bounds.max_open_hosts

    def _settle_host(self, key: str) -> list[ReportBlock]:
        """Reassemble the host's held lines in kernel order, as if they had come in order."""
        late = self._late.pop(key)
        old = self._emitted.pop(key, [])
        self._emitted_changed = True
        self._emitted_lines -= sum(len(record.lines) for record in old)
        report = self._open.pop(key, None)
        spare = self._spare.pop(key, ())
        ring = [line for line in self._recent if (line.host or "") == key]
        if ring:
            self._recent = deque(
                (line for line in self._recent if (line.host or "") != key),
                maxlen=self._recent.maxlen,
            )
        pool = kernel_order(
            [*(record.lines for record in old), report.lines if report else [], spare, ring, late]
        )
        # Stream rules only: the wall-clock bounds already had their say on arrival.
        sub = Assembler(self.bounds, clock=lambda: 0.0, amendable=False)
        fresh = [block for line in pool for block in sub.feed(line)]
        done: list[ReportBlock] = []
        kept: list[EmittedReport] = []
        now = self._clock()
        # A block takes the record emitted under its own id. A record whose id did not rest
        # on a kill (emitted before its kill came) is continued by the block sharing most
        # lines with it; its document is replaced by the block's, under the block's own id.
        reopened = sub._open.get(key)
        open_id = compute_event_id(reopened.host, reopened.lines) if reopened else None

        def inheritable() -> list[EmittedReport]:
            return [record for record in old if not kill_keyed(record.lines)]

        def take(lines: list[LogLine], own: str | None) -> EmittedReport | None:
            match = next((record for record in old if record.event_id == own), None)
            # emitted keyed on a later kill line of this report, before its first came
            match = match or next((r for r in old if _holds_key_of(lines, r)), None)
            match = match or best_match(lines, inheritable())
            if match is not None:
                old.remove(match)
            return match

        def fragments(lines: list[LogLine]) -> list[str]:
            """Ids of emitted fragments of this report, which its document replaces."""
            ids = []
            while (merged := best_match(lines, inheritable())) is not None:
                old.remove(merged)
                if merged.held is None:  # emitted under its own id already
                    self.superseded_fragments += 1
                    ids.append(merged.event_id)
            return ids

        for block in fresh:
            own = block.event_id = compute_event_id(block.host, block.lines)
            match = take(block.lines, own)
            record = EmittedReport(own, block.lines, False, now)
            emitted = match is not None and match.held is None
            if emitted and match.event_id != own:
                block.supersedes.append(match.event_id)
            block.supersedes.extend(fragments(block.lines))
            if not emitted and self._should_hold(block):
                record.held = block
                record.closed_at = match.closed_at if match else now
            elif not emitted or block.supersedes or record.signature != match.signature:
                done.append(block)
            kept.append(record)
        if reopened is not None:
            # The records it continues stay until it closes, so settling the host again
            # before then finds them again; closing replaces them (`_close_into`).
            match = take(reopened.lines, open_id)
            if match is not None and match.held is None:
                reopened.emitted_ids.append(match.event_id)
                reopened.emitted_signature = match.signature
                kept.append(match)
            before = list(old)
            reopened.emitted_ids.extend(fragments(reopened.lines))
            kept.extend(record for record in before if record not in old and record.held is None)
            reopened.last_wall = now
            self._open[key] = reopened
        # Records of kills no block holds any more stay as emitted.
        for record in old + kept:
            self._keep_emitted(key, record)
        self._recent.extend(sub._recent)
        placed = {id(line) for block in fresh for line in block.lines}
        placed.update(id(line) for line in reopened.lines) if reopened else None
        for line in pool:
            if id(line) not in placed:
                self._keep_spare(key, line)
        if key in sub._recent_victims:
            self._recent_victims[key] = sub._recent_victims[key]
        stamps = [line.monotonic for line in pool if line.monotonic is not None]
        if stamps:
            self._newest[key] = max(stamps)
        return done

    def _keep_emitted(self, key: str, record: EmittedReport) -> None:
        self._emitted_changed = True
        self._emitted.setdefault(key, []).append(record)
        self._emitted.move_to_end(key)
        self._emitted_lines += len(record.lines)
        while self._emitted_lines > self.bounds.amend_max_lines or (
            len(self._emitted) > self.bounds.recent_victim_hosts
        ):
            oldest_key = next(iter(self._emitted))
            records = self._emitted[oldest_key]
            dropped = records.pop(0)
            self._emitted_lines -= len(dropped.lines)
            if dropped.held is not None:
                self._released.append(dropped.held)
            if not records:
                del self._emitted[oldest_key]
                self._spare.pop(oldest_key, None)

    def _drop_emitted(self, key: str, ids: set[str]) -> None:
        self._emitted_changed = True
        records = self._emitted.get(key, [])
        for record in [r for r in records if r.event_id in ids and r.held is None]:
            records.remove(record)
            self._emitted_lines -= len(record.lines)
        if key in self._emitted and not records:
            del self._emitted[key]

    def _expire_emitted(self, now: float) -> None:
        self._emitted_changed = True
        for key in list(self._emitted):
            records = self._emitted[key]
            while records and now >= records[0].closed_at + self.bounds.amend_window:
                dropped = records.pop(0)
                self._emitted_lines -= len(dropped.lines)
                if dropped.held is not None:
                    self._released.append(dropped.held)
            if not records:
                del self._emitted[key]
                if key not in self._open:
                    self._spare.pop(key, None)

    def _out_of_reach(self, report: OpenReport, line: LogLine) -> str | None:
        """Why the line cannot belong to the report (None: it may)."""
        seconds = report.seconds(line)
        if self._past_stream_age(report, seconds):
            return "max_stream_age"
        return "stream_gap" if self._past_body_gap(report, line, seconds) else None

    def _past_body_gap(self, report: OpenReport, line: LogLine, seconds: float | None) -> bool:
        """A line of a report still in its body this long after the report's last line, by
        the kernel's stamps when both carry one (a shipper's times may be its own)."""
        if report.phase != BODY or not report.lines:
            return False
        last = report.lines[-1]
        if line.monotonic is not None and last.monotonic is not None:
            past = line.monotonic - last.monotonic > self.bounds.body_gap
        else:
            past = (
                seconds is not None
                and report.last_time is not None
                and seconds - report.last_time > self.bounds.body_gap
            )
        return past and not _goes_on_with_the_task_dump(last, line)

    def _past_stream_age(self, report: OpenReport, seconds: float | None) -> bool:
        """Whether a line at `seconds` on the report's clock is too far from its first: past
        it, or before it (a paste that puts an earlier event's lines after this header)."""
        first = report.first_time
        if seconds is None or first is None:
            return False
        return abs(seconds - first) > self.bounds.max_stream_age

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
            if earlier.rule == "continuation" and is_elision(earlier.message):
                # the author's cut, indented: its stamp is the line's before, and the time
                # across a cut tells nothing
                later = None
                found.append(earlier)
                continue
            gap = None if later is None else _seconds_between(earlier, later)
            if (
                gap is not None
                and gap > self.bounds.lookback_gap
                and not _goes_on_with_the_task_dump(earlier, later)
            ):
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
        if self.lookback_source is not None and self.lookback_taken is not None:
            self.lookback_taken(found[::-1])
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
            "emitted": {
                key: [record.snapshot() for record in records]
                for key, records in self._emitted.items()
            },
            "late": {
                key: [line_to_dict(line) for line in lines] for key, lines in self._late.items()
            },
            "newest": self._newest,
            "spare": {
                key: [line_to_dict(line) for line in lines] for key, lines in self._spare.items()
            },
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
        self._emitted, self._emitted_lines = OrderedDict(), 0
        self._emitted_changed = True
        for key, records in state.get("emitted", {}).items():
            for item in records:
                self._keep_emitted(key, EmittedReport.restore(item, now))
        self._late = {
            key: [line_from_dict(item) for item in lines]
            for key, lines in state.get("late", {}).items()
        }
        self._newest = dict(state.get("newest", {}))
        self._spare = {
            key: deque((line_from_dict(item) for item in lines), maxlen=self.bounds.lookback_lines)
            for key, lines in state.get("spare", {}).items()
        }


def _holds_key_of(lines: list[LogLine], record: EmittedReport) -> bool:
    """Whether `lines` hold a kill line of an emitted kill-keyed record (it was keyed on a
    later kill line of this report, before the first came)."""
    if not kill_keyed(record.lines):
        return False
    kills = {
        line_identity(line)
        for line in record.lines
        if (found := classify_line(line)) is not None
        and found[0] in (Marker.KILLED, Marker.SUMMARY)
    } - {None}
    return any(line_identity(line) in kills for line in lines)


PANIC_DUMP_LINES = 64  # panic() prints its CPU line and stack: a few dozen lines


def _in_panic_dump(report: OpenReport) -> bool:
    """Whether the report's lines end with the kernel's panic line and, at most, the dump
    that panic() printed right after it."""
    if report.tail_other_lines:
        return False  # another line came between: the dump is over
    for line in reversed(report.lines[-PANIC_DUMP_LINES:]):
        found = classify_line(line)
        if found is not None:
            # before 4.19 the panic's own text says nothing was left to kill
            return found[0] is Marker.PANIC or (
                found[0] is Marker.NO_KILLABLE and "Kernel panic - not syncing:" in line.message
            )
    return False


def _seconds_between(earlier: LogLine, later: LogLine) -> float | None:
    """Seconds from one line to another on a clock both carry (wall or kernel), else None."""
    if earlier.timestamp is not None and later.timestamp is not None:
        return (later.timestamp - earlier.timestamp).total_seconds()
    if earlier.monotonic is not None and later.monotonic is not None:
        return later.monotonic - earlier.monotonic
    return None


def _goes_on_with_the_task_dump(last: LogLine, line: LogLine) -> bool:
    """A task row, or the kill, after a row: the kernel prints task rows only inside a report,
    so a dump whose printing stalled (a slow console, a logger behind it) is still the one
    report, however long the stall."""
    if not kernel_lines.TASK_ROW_START.match(last.message):
        return False
    if kernel_lines.TASK_ROW_START.match(line.message):
        return True
    found = classify_line(line)
    return found is not None and found[0] in (Marker.SELECTED, Marker.KILLED, Marker.SUMMARY)
