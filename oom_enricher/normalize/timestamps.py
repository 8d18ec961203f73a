"""Wall-clock times from line prefixes, made UTC.

RFC 3164 and `dmesg -T` stamps carry no zone, and RFC 3164 carries no year: the zone
comes from an option and the year is inferred per host, so that a stream crossing New Year
does not jump back eleven months and no stamp lands in the future.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

MONTHS = {
    name: index
    for index, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


# journalctl's first line gives the span of the export: `-- Logs begin at Mon 2020-01-13
# 10:23:45 UTC, end at ... --` (systemd before 246), `-- Journal begins at ..., ends at ... --`
# (246 and later).
JOURNAL_BOUNDS = re.compile(
    r"-- (?:Logs begin|Journal begins) at .*?, ends? at \w+ "
    r"(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d) (?P<clock>\d\d:\d\d:\d\d)"
)


def journal_end(head: list[str]) -> datetime | None:
    """When a journalctl export ends, from its bounds line in the head of a file (or of a
    message it was pasted into): none of its month/day stamps is later. Its zone is not
    read: year inference allows a day either way."""
    for line in head:
        m = JOURNAL_BOUNDS.search(line) if "-- " in line else None
        if m is not None:
            hour, minute, second, _ = parse_clock(m["clock"])
            try:
                return datetime(
                    int(m["year"]), int(m["month"]), int(m["day"]), hour, minute, second, tzinfo=UTC
                )
            except ValueError:
                return None
    return None


def zone_from_name(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    return ZoneInfo(name)


MAX_FUTURE = timedelta(days=1)  # clocks disagree; a log line is never dated further ahead
YEAR_HOSTS = 4096  # hosts whose stream year is remembered


@dataclass
class YearInference:
    """Chooses the year of month/day stamps, per host stream.

    A host's first stamp takes the year that puts it at most a day after the reference (logs
    are read after they were written). Later stamps of the same host follow its stream: a
    step from December back to January moves to the next year, a line months older than the
    last (arrived late) goes to the year before, and no stamp is ever put more than a day
    after the reference. Only the host's own stamps count: other hosts' dates in the same
    file or connection never move its year.

    `reference` is the file's modification time (parse), the end of `--year` (which then
    wins), or None for the clock at each stamp: the time a line is received (serve).
    """

    reference: datetime | None = None
    _hosts: OrderedDict[str, tuple[int, int]] = field(default_factory=OrderedDict)
    # The last answer per host, with all it depended on: the lines of one report share their
    # date, so with a fixed reference the answer repeats (the clock as reference moves).
    _runs: dict[str, tuple[tuple, int, bool]] = field(default_factory=dict, repr=False)

    def year_for(self, month: int, day: int = 1, host: str | None = None) -> int:
        key = host or ""
        last = self._hosts.get(key)
        if self.reference is None:
            return self._infer(key, last, month, day, datetime.now(UTC))
        inputs = (month, day, last, self.reference)
        run = self._runs.get(key)
        if run is not None and run[0] == inputs:
            if run[2]:
                self._hosts.move_to_end(key)  # what remembering the same state again does
            return run[1]
        year = self._infer(key, last, month, day, self.reference)
        if last is not None and self._hosts.get(key) == last:
            # The call left the host's state as it was: the same inputs give the same answer,
            # and remember (move to the end) only when this one did.
            if len(self._runs) >= YEAR_HOSTS:
                self._runs.clear()
            self._runs[key] = (inputs, year, (year, month) == last)
        return year

    def _infer(
        self, key: str, last: tuple[int, int] | None, month: int, day: int, reference: datetime
    ) -> int:
        if last is None:
            year = reference.year
        else:
            year, last_month = last
            if month < last_month and last_month - month > 6:
                year += 1
            elif month > last_month and month - last_month > 6:
                year -= 1  # an older line arrived late; do not move the stream's year
        if _future(year, month, day, reference):
            year -= 1
        if last is None or year > last[0] or (year == last[0] and month >= last[1]):
            self._remember(key, year, month)
        return year

    def _remember(self, key: str, year: int, month: int) -> None:
        self._hosts[key] = (year, month)
        self._hosts.move_to_end(key)
        if len(self._hosts) > YEAR_HOSTS:
            self._hosts.popitem(last=False)

    def per_host(self) -> dict[str, tuple[int, int]]:
        """A copy of the (year, month) each host's stream is at."""
        return dict(self._hosts)

    def snapshot(self) -> dict:
        return {"hosts": {key: list(value) for key, value in self._hosts.items()}}

    def restore(self, state: dict) -> None:
        self._hosts = OrderedDict(
            (key, (int(value[0]), int(value[1]))) for key, value in state.get("hosts", {}).items()
        )


def _future(year: int, month: int, day: int, reference: datetime) -> bool:
    try:
        stamp = datetime(year, month, min(day, 28) if month == 2 else day, tzinfo=UTC)
    except ValueError:
        return False
    return stamp - MAX_FUTURE > reference


def parse_clock(text: str) -> tuple[int, int, int, int]:
    """`hh:mm:ss[.ffffff]` -> (h, m, s, microseconds)."""
    clock, _, fraction = text.partition(".")
    hour, minute, second = (int(part) for part in clock.split(":"))
    micros = int((fraction + "000000")[:6]) if fraction else 0
    return hour, minute, second, micros


def local_to_utc(year: int, month: int, day: int, clock: str, zone: tzinfo) -> datetime | None:
    try:
        hour, minute, second, micros = parse_clock(clock)
        local = datetime(year, month, day, hour, minute, second, micros, tzinfo=zone)
    except ValueError:
        return None
    return local.astimezone(UTC)


def parse_iso(text: str, zone: tzinfo) -> datetime | None:
    """RFC 3339 / ISO-8601 with up to nanosecond fractions; no offset means `zone`."""
    text = text.replace(",", ".")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + (rest[:digits] + "000000")[:6] + rest[digits:]
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]  # journalctl short-iso prints +0000
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=zone)
    return stamp.astimezone(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def epoch_micros(stamp: datetime) -> int:
    return (stamp - EPOCH) // timedelta(microseconds=1)
