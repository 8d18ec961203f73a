"""Wall-clock times from line prefixes, made UTC.

RFC 3164 and `dmesg -T` stamps carry no zone, and RFC 3164 carries no year: the zone
comes from an option and the year is inferred so that a stream crossing New Year does
not jump back eleven months.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

MONTHS = {
    name: index
    for index, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def zone_from_name(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    return ZoneInfo(name)


@dataclass
class YearInference:
    """Chooses the year for month/day stamps.

    The first stamp takes the reference year, or the year before when that would put it
    more than a month after the reference (logs are read after they were written). Later
    stamps follow the stream: a step from December back to January moves to the next year.
    """

    reference: datetime = field(default_factory=lambda: datetime.now(UTC))
    _year: int | None = None
    _month: int | None = None

    def year_for(self, month: int) -> int:
        if self._year is None:
            year = self.reference.year
            if month > self.reference.month + 1:
                year -= 1
        else:
            year = self._year
            if self._month is not None and month < self._month and self._month - month > 6:
                year += 1
            elif self._month is not None and month > self._month and month - self._month > 6:
                year -= 1  # an older line arrived late; do not move the stream's year
                return year
        self._year, self._month = year, month
        return year

    def snapshot(self) -> dict:
        return {"year": self._year, "month": self._month}

    def restore(self, state: dict) -> None:
        self._year, self._month = state.get("year"), state.get("month")


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


def from_epoch_micros(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)
