"""Localized weekday and month abbreviations in time stamps, from glibc's locale data.

`dmesg -T` writes `%a %b %e %H:%M:%S %Y` and `journalctl -o short` writes `%b %d %H:%M:%S`
in the LC_TIME of the host (`[mar. déc.  1 20:17:50 2026]`, `[火 12月  1 20:17:50 2026]`).
The names of every UTF-8 glibc locale are data (locale_time_names.json, written by
scripts/generate-locale-table); this module only looks them up.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class LocaleNames:
    # folded name -> months it means, most locales' meaning first (`jan` is January in most
    # locales and June in a few)
    months: dict[str, tuple[int, ...]]
    # (folded weekday name, folded month name) as one locale writes them together -> the
    # (month, weekday) they mean there (weekday 0 is Monday, as date.weekday()), most
    # locales' meaning first
    pairs: dict[tuple[str, str], tuple[tuple[int, int], ...]]


def fold(name: str) -> str:
    return name.strip().casefold()


@cache
def locale_names() -> LocaleNames:
    text = resources.files(__package__).joinpath("locale_time_names.json").read_text("utf-8")
    table = json.loads(text)["locales"]
    month_votes: dict[str, Counter] = {}
    pair_votes: dict[tuple[str, str], Counter] = {}
    for names in table.values():
        for number, month in enumerate(names["abmon"], 1):
            month_votes.setdefault(fold(month), Counter())[number] += 1
            for sunday_first, day in enumerate(names["abday"]):
                meaning = (number, (sunday_first - 1) % 7)
                pair_votes.setdefault((fold(day), fold(month)), Counter())[meaning] += 1
    return LocaleNames(months=_by_votes(month_votes), pairs=_by_votes(pair_votes))


def _by_votes(votes: dict) -> dict:
    return {key: tuple(value for value, _ in count.most_common()) for key, count in votes.items()}


def month_number(name: str) -> int | None:
    """The month a stamp without a weekday names (the meaning most locales give it)."""
    months = locale_names().months.get(fold(name))
    return months[0] if months else None


def dated_month(names: str, year: int, day: int) -> int | None:
    """The month of `<weekday> <month>` (as `dmesg -T` writes them) on `day` of `year`.

    The weekday settles which month an ambiguous name means and where a name with spaces
    (`de gen.`, `Aso Lua`) ends: the split must be one locale's pair, and the date must fall
    on that weekday.
    """
    pairs = locale_names().pairs
    words = names.split()
    for cut in range(1, len(words)):
        pair = (fold(" ".join(words[:cut])), fold(" ".join(words[cut:])))
        for number, weekday in pairs.get(pair, ()):
            try:
                if date(year, number, day).weekday() == weekday:
                    return number
            except ValueError:
                continue
    return None
