"""A report in progress: telling a line the shipper delivered twice from a new one."""

from __future__ import annotations

from oom_enricher.model import LogLine
from oom_enricher.reassembly.open_report import OpenReport


def kernel_line(mono: float, text: str, seq: int | None = None) -> LogLine:
    return LogLine(text, "node-1", None, mono, True, None, text, seq, "dmesg")


def fed(report: OpenReport, line: LogLine) -> bool:
    """Whether the report took the line (False: a duplicate)."""
    if report.is_duplicate(line):
        return False
    report.add(line, 0.0)
    return True


def test_lines_in_kernel_order_keep_no_identity_set():
    # 10,000 hosts mid-report: the set of every held line's identity cost ~3 kB per report
    report = OpenReport("node-1")
    assert all(fed(report, kernel_line(100 + i / 1000, f"line {i}")) for i in range(200))
    assert report._seen is None


def test_a_line_delivered_again_after_later_ones_is_a_duplicate():
    report = OpenReport("node-1")
    for i in range(10):
        fed(report, kernel_line(100 + i, f"line {i}"))
    assert not fed(report, kernel_line(105, "line 5"))
    assert fed(report, kernel_line(105, "another line printed at 105"))
    assert fed(report, kernel_line(111, "line 11"))
    assert not fed(report, kernel_line(111, "line 11"))
    assert len(report.lines) == 12


def test_a_resent_line_of_the_look_back_is_a_duplicate():
    # lines a report took by looking back were added without being checked
    report = OpenReport("node-1", has_start=False)
    report.add(kernel_line(50, "Call Trace:", seq=7), 0.0)
    assert fed(report, kernel_line(51, "Mem-Info:", seq=8))
    assert not fed(report, kernel_line(50, "Call Trace:", seq=7))
    assert fed(report, kernel_line(50, "Call Trace:", seq=9))


def test_a_restored_report_still_tells_duplicates():
    report = OpenReport("node-1")
    for i in range(3):
        fed(report, kernel_line(10 + i, f"line {i}", seq=i))
    restored = OpenReport.restore(report.snapshot())
    assert not fed(restored, kernel_line(12, "line 2", seq=2))
    assert fed(restored, kernel_line(13, "line 3", seq=3))
