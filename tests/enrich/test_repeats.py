"""Each kill once when reading a finished input (oom_enricher.enrich.repeats)."""

from __future__ import annotations

from oom_enricher.enrich.repeats import _Remembered
from oom_enricher.pipeline import documents_from_lines
from tests.core.pasted_reports import stamped


def test_two_different_pieces_are_both_given():
    """Two hosts' headers, each an incomplete report of its own: neither holds the other's
    lines, so both are kills."""
    pieces = stamped("web1")[:2] + stamped("web2")[:2]
    docs = list(documents_from_lines(pieces))
    assert sorted(doc["host"]["name"] for doc in docs) == ["web1", "web2"]


def test_a_piece_is_given_when_no_report_holds_it():
    """A report's first lines, then another host's whole report: the piece is held until the
    next report, which does not hold it, and is given before it, in the input's order."""
    lines = stamped("web1")[:3] + stamped("web2")
    docs = list(documents_from_lines(lines))
    assert [(doc["host"]["name"], doc["oom"]["complete"]) for doc in docs] == [
        ("web1", False),
        ("web2", True),
    ]


def test_what_is_remembered_is_bounded():
    remembered = _Remembered(4)
    for key in range(10):
        remembered.add(frozenset([key]))
    assert 9 in remembered and 8 in remembered
    assert 0 not in remembered and 5 not in remembered
