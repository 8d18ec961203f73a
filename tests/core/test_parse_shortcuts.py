"""The shortcuts of report parsing give the facts the plain way gives.

A plain task row is read by one regex and one orjson call instead of TASK_ROW and
`_row_values`; these tests parse the corpus and generated task tables both ways and compare
every fact and the parse state after each line.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.parsing import report_parser
from oom_enricher.parsing.facts import ReportFacts
from oom_enricher.parsing.line_rules import RULES, TASK_LAYOUTS, ParseState, match_rule
from oom_enricher.reassembly.markers import ELISION, is_elision
from tests.corpus_cases import corpus_cases


def _without_shortcuts(monkeypatch) -> None:
    monkeypatch.setattr(report_parser, "take_plain_row", lambda facts, state, text: False)


def _parse_both_ways(messages: list[str]) -> tuple[list, list]:
    """(facts and state after each line) with the shortcuts, then without them."""
    runs = []
    for shortcuts in (True, False):
        with pytest.MonkeyPatch.context() as monkeypatch:
            if not shortcuts:
                _without_shortcuts(monkeypatch)
            facts, state, seen = ReportFacts(), ParseState(), []
            for message in messages:
                report_parser.parse_line(facts, state, message)
                seen.append((repr(facts), repr(state)))
            runs.append(seen)
    return runs[0], runs[1]


def test_corpus_reports_parse_as_without_shortcuts():
    for case in corpus_cases():
        normalizer = LineNormalizer()
        messages = [
            line.message
            for raw in case.log.read_text(encoding="utf-8", errors="replace").split("\n")
            for line in normalizer.normalize(raw)
        ]
        quick, plain = _parse_both_ways(messages)
        assert quick == plain, case.name


# Values at the edges of the plain-row regex: leading zeros and signs (which JSON refuses),
# 18 and 19 digits (orjson reads more as a float), other scripts' digits, words, cut marks.
PLAIN_VALUES = st.integers(-1000, 10**9).map(str)
VALUES = st.one_of(
    PLAIN_VALUES,
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["0", "-0", "00", "007", "-007", "+5", "٣", "1٣", "x", "12kB", "1.5", "1e3"]),
    st.sampled_from(["9" * 18, "-" + "9" * 18, "9" * 19, "-" + "9" * 19, str(2**64), "9" * 25]),
    st.sampled_from(["...", "…", ">", "5>", "-"]),
)
SPACES = st.one_of(
    st.just(" "), st.sampled_from(["  ", "\t", " \t ", "\u2003", "\x1c", "\n", " \n "])
)
NAMES = st.sampled_from(
    ["stress", "Web Content", "kworker/0:1", "…", "...", ">", "a>", "x \t", "", "0", "\u2003y"]
)
ENDS = st.sampled_from(["", " ", "\n", " \nrest", "\t\nrest"])


@st.composite
def task_rows(draw, columns: int) -> str:
    """Mostly a row of the header's column count and plain values (the rows the shortcut
    may take), with one value or the pid at an edge now and then."""
    pid = draw(st.one_of(st.integers(0, 10**5).map(str), st.integers(0, 10**20).map(str)))
    count = draw(st.one_of(st.just(columns), st.integers(0, 12)))
    values = draw(st.lists(PLAIN_VALUES, min_size=count, max_size=count))
    if values and draw(st.booleans()):
        values[draw(st.integers(0, count - 1))] = draw(VALUES)
    if draw(st.integers(0, 9)) == 0:
        pid = draw(st.sampled_from(["007", "٣", "x", "9" * 18, "9" * 19, str(2**64), "9" * 25]))
    line = "[" + draw(st.sampled_from(["", " ", "  ", "\t"])) + pid + "]" + draw(SPACES)
    for value in values:
        line += value + draw(SPACES)
    return line + draw(NAMES) + draw(ENDS)


HEADER_COLUMNS = [
    ("[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name", 8),
    ("[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name", 7),
    (
        "[ pid ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes"
        " swapents oom_score_adj name",
        10,
    ),
    ("[ pid ]   uid  tgid total_vm      rss cpu oom_adj name", 6),
    ("[ pid ]   uid  tgid total_vm      rss swapents pid name name", 8),  # repeated keys
    ("[ pid ]   uid  tgid total_vm      rss swapents", 6),  # no name column
]


@st.composite
def task_tables(draw) -> list[str]:
    header, columns = draw(st.sampled_from(HEADER_COLUMNS))
    rows = draw(st.lists(task_rows(columns), max_size=8))
    return rows if draw(st.booleans()) else [header, *rows]  # headerless: columns inferred


@settings(max_examples=500, deadline=None)
@given(task_tables())
def test_task_rows_parse_as_without_shortcuts(messages):
    quick, plain = _parse_both_ways(messages)
    assert quick == plain


@pytest.mark.parametrize("count", sorted(TASK_LAYOUTS))
def test_a_plain_row_of_each_layout_takes_the_shortcut(count, monkeypatch):
    """The rows the kernel prints are the ones the shortcut reads (else it would save nothing)."""
    row = "[ 1234]" + "     12" * count + " java"
    facts, state = ReportFacts(), ParseState()
    report_parser.parse_line(facts, state, row)  # headerless: columns by the layout
    monkeypatch.setattr(report_parser, "on_task_row", None)  # the plain way would fail now
    report_parser.parse_line(facts, state, row.replace("1234", "1235"))
    assert [task["pid"] for task in facts.tasks] == [1234, 1235]
    assert facts.tasks[1] == {**facts.tasks[0], "pid": 1235}


# Every character an elision (markers.ELISION, case-insensitive) can hold
ELISION_CHARACTERS = set(".…:[]()<>-snipedSNIPED")
ELISIONS = ["...", "…", ":", "[...]", "[ … ]", "(...snipped...)", "<snip>", "-- snip --", "[snip]"]


def test_no_rule_matches_an_elision():
    """parse_line looks an unopened line up in the rules before the elision test: a rule's
    match must mean the line is no elision."""
    assert all(ELISION.fullmatch(text) for text in ELISIONS)
    for rule in RULES:
        if rule.name in ("task-row-headerless", "pid-line"):
            # `]` and `Pid: ` are an elision's characters, but a pid is a digit, which no
            # elision has
            assert r"(?P<pid>\d+)" in rule.pattern.pattern
        elif rule.name == "trace-frame-cut":
            # `[<` is an elision's too, but a name follows its `>] `, which no elision has
            assert rule.pattern.pattern.startswith(r"\[<[0-9a-f]+>\] (?:\? )?(?P<fn>[A-Za-z_]")
        elif rule.name == "trace-frame-decoded":
            # ` (` is an elision's too, but a source file's `.c:N` follows, which none has
            assert r"\.[chS]:\d+" in rule.pattern.pattern
        elif rule.name == "task-header":
            assert "total_vm" in rule.pattern.pattern  # its literal `pid` is an elision's
        else:
            assert set(rule.needle) - ELISION_CHARACTERS - set(" \t"), rule.name
    for text in ELISIONS:
        assert match_rule(text) is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=sorted(ELISION_CHARACTERS | {" ", "\t", "\u2003", "0"}), max_size=20))
def test_a_line_made_of_elision_characters_parses_as_without_shortcuts(text):
    if is_elision(text.strip()):
        assert match_rule(text.strip()) is None
    quick, plain = _parse_both_ways([text, "[ pid ]   uid  tgid total_vm      rss swapents", text])
    assert quick == plain
