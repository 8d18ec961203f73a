"""`dmesg -T` stamps in the LC_TIME of every glibc locale."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest

from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.normalize.locale_time import dated_month
from tests.core.pasted_reports import FACTS, REPORT, facts, read_every_way

TABLE = json.loads(
    resources.files("oom_enricher.normalize").joinpath("locale_time_names.json").read_text()
)["locales"]


def human(stamp: str) -> list[str]:
    return [f"[{stamp}] {line}" for line in REPORT]


# Written as util-linux dmesg -T prints `%a %b %e %H:%M:%S %Y` under each LC_TIME.
@pytest.mark.parametrize(
    ("locale", "stamp"),
    [
        ("fr_FR", "mar. déc.  1 20:17:50 2026"),
        ("de_DE", "Di Dez  1 20:17:50 2026"),
        ("ru_RU", "Вт дек  1 20:17:50 2026"),
        ("es_ES", "mar dic  1 20:17:50 2026"),
        ("ja_JP", "火 12月  1 20:17:50 2026"),  # month number and the month character
        ("zh_CN", "二 12月  1 20:17:50 2026"),
        ("ko_KR", "화 12월  1 20:17:50 2026"),
        ("ca_ES", "dt. de des.  1 20:17:50 2026"),  # a month name with a space
        ("mn_MN", "Мя 12-р сар  1 20:17:50 2026"),
        ("ar_EG", "ث ديس  1 20:17:50 2026"),
        ("pt_BR", "ter dez  1 20:17:50 2026"),
        ("en_US", "Tue Dec  1 20:17:50 2026"),
    ],
)
def test_dmesg_human_stamp_in_locale(locale, stamp, tmp_path, monkeypatch):
    (line,) = LineNormalizer().normalize(human(stamp)[0])
    assert line.rule == "dmesg-T"
    assert line.timestamp.isoformat() == "2026-12-01T20:17:50+00:00"
    assert line.message == REPORT[0]
    docs = read_every_way(tmp_path, "\n".join(human(stamp)) + "\n", monkeypatch)
    assert len(docs) == 1
    assert facts(docs[0]) == dict(FACTS, host=None)
    assert docs[0]["@timestamp"] == "2026-12-01T20:17:50.000000Z"


def meanings(stamp: str, year: int, day: int) -> set[int]:
    """Months that some locale means by these two names on a date of that weekday."""
    found = set()
    for names in TABLE.values():
        for month, name in enumerate(names["abmon"], 1):
            on = date(year, month, day)
            written = f"{names['abday'][(on.weekday() + 1) % 7]} {name}"
            if written.casefold().split() == stamp.casefold().split():
                found.add(month)
    return found


def test_every_locale_month_on_its_weekday():
    # each locale's own names for the 12th of every month of 2025 read back as that month,
    # unless another locale writes the same two names for another month on the same weekday
    # (`Ne Jan`: Sunday January in sk_SK, Thursday June in st_ZA; both fall on a 12th in 2025)
    ambiguous = 0
    for locale, names in TABLE.items():
        for month in range(1, 13):
            day = date(2025, month, 12)
            weekday = names["abday"][(day.weekday() + 1) % 7]
            stamp = f"{weekday} {names['abmon'][month - 1]}"
            found = dated_month(stamp, 2025, 12)
            if found != month:
                assert len(meanings(stamp, 2025, 12)) > 1, (locale, stamp, found)
                ambiguous += 1
    assert ambiguous <= 6


def test_month_name_meaning_two_months_is_settled_by_the_weekday():
    # `jan` is January in English and June in some locales; the weekday tells which
    assert dated_month("Mon jan", 2025, 6) == 1
    assert dated_month("Thu Jun", 2025, 12) == 6


def test_stamp_whose_names_are_in_no_locale_stays_text():
    raw = "[Foo Bar  1 20:17:50 2026] x invoked oom-killer: gfp_mask=0x0"
    (line,) = LineNormalizer().normalize(raw)
    assert (line.rule, line.message) == (None, raw)


def test_table_covers_every_glibc_locale_family():
    assert len(TABLE) >= 300
    for locale in ("ja_JP", "zh_CN", "zh_TW", "ko_KR", "fr_FR", "de_DE", "ru_RU", "tr_TR"):
        assert len(TABLE[locale]["abmon"]) == 12 and len(TABLE[locale]["abday"]) == 7
