"""Per-host reassembly: interleaving, foreign lines, look-alikes, bounds, persistence."""

from __future__ import annotations

import itertools

import orjson
import pytest

from oom_enricher.model import LogLine
from oom_enricher.pipeline import Pipeline, PipelineOptions, documents_from_lines
from oom_enricher.reassembly.assembler import Assembler
from oom_enricher.reassembly.bounds import Bounds
from tests.core.report_lines import memcg_report, syslog


def docs_of(lines: list[str], bounds: Bounds | None = None) -> list[dict]:
    return list(documents_from_lines(lines, PipelineOptions(bounds=bounds or Bounds())))


def victims(doc: dict) -> list[int]:
    return [victim["pid"] for victim in doc["oom"]["victims"]]


def test_simultaneous_reports_on_two_hosts_come_out_separate_and_complete():
    a = [syslog("a", 10 + i / 100, text) for i, text in enumerate(memcg_report("alpha", 1, 11))]
    b = [syslog("b", 10 + i / 100, text) for i, text in enumerate(memcg_report("beta", 2, 22))]
    mixed = [line for pair in itertools.zip_longest(a, b) for line in pair if line]
    docs = docs_of(mixed)
    assert sorted((doc["host"]["name"], victims(doc)[0]) for doc in docs) == [("a", 11), ("b", 22)]
    assert all(doc["oom"]["complete"] for doc in docs)
    assert all(doc["oom"]["tasks_count"] == 1 for doc in docs)


def test_back_to_back_reports_on_one_host():
    lines = [syslog("a", 1 + i / 100, t) for i, t in enumerate(memcg_report("x", 1, 11))]
    lines += [syslog("a", 1.5 + i / 100, t) for i, t in enumerate(memcg_report("y", 2, 22))]
    docs = docs_of(lines)
    assert [victims(doc) for doc in docs] == [[11], [22]]
    assert [doc["oom"]["complete"] for doc in docs] == [True, True]


def test_foreign_lines_of_the_same_host_inside_a_report_are_skipped():
    report = memcg_report("x", 1, 11)
    lines = [syslog("a", 1, report[0]), syslog("a", 1, "e1000e: eth0 NIC Link is Up")]
    lines += [syslog("a", 1, "sshd[9]: Accepted publickey", tag="sshd[9]")]
    lines += [syslog("a", 1.1, text) for text in report[1:]]
    (doc,) = docs_of(lines)
    assert doc["oom"]["complete"] is True
    assert "sshd" not in doc["event"]["original"]


def test_userspace_killers_never_make_or_join_a_report():
    lines = [
        syslog(
            "a", 1, "Killed /user.slice/app.scope due to memory pressure", tag="systemd-oomd[5]"
        ),
        syslog("a", 1, 'sending SIGKILL to process 77 uid 0 "firefox"', tag="earlyoom[6]"),
        syslog("a", 1, "Out of memory: Killed process 77 (firefox)", tag="earlyoom[6]"),
        syslog("a", 1, "Memory cgroup out of memory: Killed process 5 (x)", tag="npd.sh[7]"),
    ]
    assert docs_of(lines) == []
    report = [syslog("a", 2, text) for text in memcg_report("x", 1, 11)]
    lines = report[:5] + lines + report[5:]
    (doc,) = docs_of(lines)
    assert victims(doc) == [11]


def test_systemd_unit_notice_attributes_the_kill():
    lines = [syslog("a", 1, text) for text in memcg_report("x", 1, 11)]
    lines.append(
        syslog(
            "a",
            1,
            "web.service: A process of this unit has been killed by the OOM killer.",
            tag="systemd[1]",
        )
    )
    (doc,) = docs_of(lines)
    assert doc["systemd"]["unit"] == "web.service"


def test_rate_limited_header_still_yields_marked_reports():
    lines = [
        syslog("a", 1, "oom_kill_process: 1520 callbacks suppressed"),
        syslog(
            "a", 1, "Memory cgroup out of memory: Killed process 5 (x) total-vm:1kB, anon-rss:1kB"
        ),
        syslog(
            "a", 1.1, "Memory cgroup out of memory: Killed process 6 (y) total-vm:1kB, anon-rss:1kB"
        ),
    ]
    docs = docs_of(lines)
    assert [victims(doc) for doc in docs] == [[5], [6]]
    assert [doc["oom"]["complete"] for doc in docs] == [False, False]
    assert docs[0]["oom"]["incomplete_reason"] == "kill_line_ratelimited"
    assert docs[1]["oom"]["incomplete_reason"] == "missing_start"


def test_a_ratelimit_notice_before_a_header_heads_that_report():
    # The kernel prints the notice on the call it lets through, right before its header.
    lines = [syslog("a", 5, "oom_kill_process: 16 callbacks suppressed")]
    lines += [syslog("a", 5 + i / 100, t) for i, t in enumerate(memcg_report("java", 7, 8))]
    (doc,) = docs_of(lines)
    assert victims(doc) == [8]
    assert doc["oom"]["trigger"]["name"] == "java"
    assert doc["oom"]["complete"] is True


def test_stream_that_begins_mid_report_recovers_the_lines_before_its_first_marker():
    report = memcg_report("x", 1, 11)
    noise = [syslog("b", 1, "unrelated line")]
    lines = noise + [syslog("a", 1, text) for text in report[1:]]  # header missing
    (doc,) = docs_of(lines)
    assert doc["oom"]["complete"] is False
    assert doc["oom"]["incomplete_reason"] == "missing_start"
    assert doc["oom"]["trigger"]["pid"] == 1  # from the CPU line, found by looking back
    assert doc["oom"]["memory"]["usage_bytes"] == 102400 * 1024


def test_oom_group_first_victim_printed_twice_is_listed_once():
    group = "Tasks in /k/c.scope are going to be killed due to memory.oom.group set"
    kill = "Memory cgroup out of memory: Killed process {} (w) total-vm:8kB, anon-rss:4kB"
    lines = memcg_report("w", 1, 11)[:-1] + [
        kill.format(11),
        group,
        kill.format(12),
        kill.format(11),
        kill.format(13),
    ]
    (doc,) = docs_of([syslog("a", 1, text) for text in lines])
    assert victims(doc) == [11, 12, 13]
    assert doc["oom"]["cgroup"]["group_kill_path"] == "/k/c.scope"


def test_an_authors_elision_among_a_groups_kills_says_kills_were_left_out():
    """A paste of a memory.oom.group kill that lists a few kills, then `...` for the rest:
    the report said it was complete."""
    group = "Tasks in /k/c.scope are going to be killed due to memory.oom.group set"
    kill = "Memory cgroup out of memory: Killed process {} (w) total-vm:8kB, anon-rss:4kB"
    lines = [f"[{n:12.6f}] {x}" for n, x in enumerate(memcg_report("w", 1, 11)[:-1], 1)]
    lines += [f"[  20.000001] {kill.format(11)}", f"[  20.000002] {group}"]
    lines += [f"[  20.000003] {kill.format(12)}", "...", "(more processes, left out here)"]
    (doc,) = documents_from_lines(lines)
    assert victims(doc) == [11, 12]
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (False, "elided")


def test_max_lines_bound_emits_flagged_report():
    report = memcg_report("x", 1, 11)
    rows = [
        f"[{n:7d}]     0 {n:5d}       10       10    4096        0          0 filler"
        for n in range(200, 260)
    ]
    lines = report[:10] + rows + report[10:]
    first, rest = docs_of([syslog("a", 1, text) for text in lines], Bounds(max_lines=30))
    assert first["oom"]["complete"] is False
    assert first["oom"]["incomplete_reason"] == "max_lines"
    assert first["oom"]["lines_count"] == 30
    # the lines after the bound are not dropped: the kill comes out as a headerless report
    assert rest["oom"]["incomplete_reason"] == "missing_start"
    assert [victim["pid"] for victim in rest["oom"]["victims"]] == [11]


def test_max_open_hosts_bound_evicts_the_oldest_report_flagged():
    heads = [syslog(f"h{n}", 1, memcg_report("x", n, n + 100)[0]) for n in range(5)]
    docs = docs_of(heads, Bounds(max_open_hosts=3))
    reasons = sorted(doc["oom"]["incomplete_reason"] for doc in docs)
    assert len(docs) == 5  # nothing dropped
    assert reasons.count("max_open_hosts") == 2


def test_stream_age_bound_closes_a_report_whose_end_never_comes():
    report = memcg_report("x", 1, 11)
    lines = [syslog("a", 1, report[0]), syslog("a", 500, report[1])]
    docs = docs_of(lines, Bounds(max_stream_age=120))
    assert [doc["oom"]["incomplete_reason"] for doc in docs] == ["max_stream_age"]


def test_wall_clock_bound_via_tick():
    now = [0.0]
    assembler = Assembler(Bounds(max_wall_age=30, tail_grace=2), clock=lambda: now[0])
    assembler.feed(LogLine(message=memcg_report()[0], host="a", is_kernel=True))
    now[0] = 10.0
    assert assembler.tick() == []
    now[0] = 31.0
    (block,) = assembler.tick()
    assert (block.complete, block.incomplete_reason) == (False, "max_wall_age")


def test_killed_report_waits_for_its_reaper_then_closes_complete_on_tick():
    now = [0.0]
    assembler = Assembler(Bounds(tail_grace=2), clock=lambda: now[0])
    for text in memcg_report():
        assert assembler.feed(LogLine(message=text, host="a", is_kernel=True)) == []
    reaper = "oom_reaper: reaped process 101 (stress), now anon-rss:0kB, file-rss:0kB"
    assert assembler.feed(LogLine(message=reaper, host="a", is_kernel=True)) == []
    now[0] = 2.5
    (block,) = assembler.tick()
    assert block.complete and block.lines[-1].message == reaper


def test_snapshot_and_restore_mid_report_loses_nothing():
    report = [syslog("a", 1, text) for text in memcg_report("x", 1, 11)]
    whole = docs_of(report)
    first = Pipeline()
    for line in report[:7]:
        assert first.feed_line(line) == []
    saved = orjson.loads(orjson.dumps(first.snapshot()))  # survives JSON on disk
    second = Pipeline.restore(saved)
    resumed = [doc for line in report[7:] for doc in second.feed_line(line)] + second.finish()
    assert len(resumed) == 1
    assert resumed[0]["event"]["id"] == whole[0]["event"]["id"]
    assert resumed[0]["oom"]["victims"] == whole[0]["oom"]["victims"]
    assert resumed[0]["oom"]["complete"] is True


def test_hosts_without_a_report_cost_no_state():
    assembler = Assembler()
    for n in range(10_000):
        assembler.feed(LogLine(message="eth0: link up", host=f"h{n}", is_kernel=True))
    assert assembler.open_hosts == 0
    assert len(assembler.snapshot()["open"]) == 0


def test_event_id_is_stable_across_shippers_and_arrival_order():
    report = memcg_report("x", 1, 11)
    via_syslog = docs_of([syslog("a", 1 + i / 1000, t) for i, t in enumerate(report)])
    via_rfc5424 = docs_of(
        [
            f"<4>1 2026-11-25T10:00:01Z a kernel - - - [{1 + i / 1000:12.6f}] {t}"
            for i, t in enumerate(report)
        ]
    )
    assert via_syslog[0]["event"]["id"] == via_rfc5424[0]["event"]["id"]


def test_lines_delivered_twice_are_taken_once():
    report = [syslog("a", 1 + i / 1000, text) for i, text in enumerate(memcg_report("x", 1, 11))]
    doubled = [line for line in report for _ in (0, 1)]
    (once,) = docs_of(report)
    (twice,) = docs_of(doubled)
    assert twice["oom"]["tasks_count"] == once["oom"]["tasks_count"] == 1
    assert twice["oom"]["lines_count"] == once["oom"]["lines_count"]
    assert twice["event"]["id"] == once["event"]["id"]


def test_restore_keeps_the_look_back_lines_of_a_headerless_report():
    report = [syslog("a", 1 + i / 1000, t) for i, t in enumerate(memcg_report("x", 1, 11))]
    body, end = report[1:11], report[11:]  # no header; the summary arrives after a restart
    first = Pipeline()
    for line in body:
        assert first.feed_line(line) == []
    second = Pipeline.restore(orjson.loads(orjson.dumps(first.snapshot())))
    resumed = [doc for line in end for doc in second.feed_line(line)] + second.finish()
    uninterrupted = docs_of(body + end)
    assert resumed[0]["oom"]["lines_count"] == uninterrupted[0]["oom"]["lines_count"] == 12
    assert resumed[0]["oom"]["trigger"]["pid"] == 1


def test_shipped_records_continue_lines_only_within_one_record():
    from oom_enricher.model import ShippedRecord

    pipeline = Pipeline()
    pipeline.feed(ShippedRecord("Nov 25 10:00:01 a kernel: anon 1\n   file 2", host="a"))
    lines = pipeline.normalizer.normalize_record(ShippedRecord("   stray indent", host="b"))
    assert lines[0].host == "b"


def test_a_bare_elision_line_in_shipped_records_marks_the_report():
    from oom_enricher.model import ShippedRecord

    report = memcg_report("x", 1, 11)
    pipeline = Pipeline()
    docs = []
    for text in report[:3] + ["..."] + report[3:]:
        docs += pipeline.feed(ShippedRecord(text, host="a"))
    docs += pipeline.finish()
    assert docs[0]["oom"]["incomplete_reason"] == "elided"


def test_a_kill_line_cut_at_a_fixed_width_marks_the_report():
    report = memcg_report("x", 1, 11)
    report[-1] = report[-1][:120]  # a terminal 120 columns wide
    (doc,) = docs_of([syslog("a", 1, text) for text in report])
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (False, "truncated_line")
    assert [victim["pid"] for victim in doc["oom"]["victims"]] == [11]


def test_low_water_is_the_oldest_position_of_a_report_still_open():
    assembler = Assembler()
    report = memcg_report("alpha", 1, 11)
    assert assembler.low_water() is None
    for position, text in enumerate(report[:3], start=100):
        assembler.feed(LogLine(message=text, host="a", is_kernel=True, position=position))
    assert assembler.low_water() == 100
    for position, text in enumerate(report[3:], start=103):
        assembler.feed(LogLine(message=text, host="a", is_kernel=True, position=position))
    assert assembler.finish()
    assert assembler.low_water() is None


def test_bare_ellipsis_joining_another_files_report():
    """A bare `...` with no host of its own (the sender's name filled in) must not be glued
    by look-back into a headerless report of that host 30 s later."""
    from datetime import UTC, datetime, timedelta

    from oom_enricher.model import ShippedRecord

    start = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    pipeline = Pipeline()
    assert pipeline.feed(ShippedRecord(message="...", host="peer", time=start)) == []
    later = start + timedelta(seconds=30)
    docs = []
    for n, text in enumerate(memcg_report("x", 1, 11)[6:]):  # memory figures onwards
        record = ShippedRecord(message=text, host="peer", time=later + timedelta(microseconds=n))
        docs += pipeline.feed(record)
    (doc,) = docs + pipeline.finish()
    assert doc["@timestamp"] == "2026-11-25T10:00:30.000000Z"
    assert "..." not in doc["event"]["original"].split("\n")
    assert doc["oom"]["lines_count"] == 7


@pytest.mark.parametrize("padding", ["", "   ", "\t"])
def test_a_pager_cut_line_padded_with_white_space_still_marks_the_report(padding):
    report = memcg_report("x", 1, 11)
    report.insert(8, "Node 0 active_anon:108496kB inactive_anon:0kB sec_paget>")
    (doc,) = docs_of([text + padding for text in report])
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (False, "truncated_line")
    assert victims(doc) == [11]


def test_white_space_after_a_complete_line_claims_no_cut():
    (doc,) = docs_of([text + "   " for text in memcg_report("x", 1, 11)])
    assert doc["oom"]["complete"] is True
