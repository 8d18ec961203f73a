"""Line normalisation: every prefix shape, zones, years, folded records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oom_enricher.model import ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer, NormalizeOptions

REF = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def one(raw: str, **options):
    lines = LineNormalizer(NormalizeOptions(reference_time=REF, **options)).normalize(raw)
    assert len(lines) == 1
    return lines[0]


@pytest.mark.parametrize(
    ("raw", "host", "stamp", "mono", "message"),
    [
        (
            "Nov 25 10:00:00 web1 kernel: [ 123.456789] Out of memory: Killed process 1 (a)",
            "web1",
            "2026-11-25T10:00:00+00:00",
            123.456789,
            "Out of memory: Killed process 1 (a)",
        ),
        (
            "Nov  5 10:00:00 web1 kernel: Killed process 1 (a)",
            "web1",
            "2026-11-05T10:00:00+00:00",
            None,
            "Killed process 1 (a)",
        ),
        (
            "<4>Nov 25 10:00:00 web1 kernel: x invoked oom-killer: gfp_mask=0xcc0",
            "web1",
            "2026-11-25T10:00:00+00:00",
            None,
            "x invoked oom-killer: gfp_mask=0xcc0",
        ),
        (
            "<4>1 2026-11-25T10:00:00.123456+01:00 web1 kernel - - - [ 5.000001] memory: usage 1kB",
            "web1",
            "2026-11-25T09:00:00.123456+00:00",
            5.000001,
            "memory: usage 1kB",
        ),
        (
            '<4>1 2026-11-25T10:00:00Z web1 kernel - - [meta x="1"] Killed process 1 (a)',
            "web1",
            "2026-11-25T10:00:00+00:00",
            None,
            "Killed process 1 (a)",
        ),
        (
            "2026-11-25T10:00:00.000001+00:00 web1 kernel: [ 8.5] oom-kill:constraint=X",
            "web1",
            "2026-11-25T10:00:00.000001+00:00",
            8.5,
            "oom-kill:constraint=X",
        ),
        (
            "2026-11-25T10:00:00+0000 web1 kernel: Mem-Info:",  # journalctl -o short-iso
            "web1",
            "2026-11-25T10:00:00+00:00",
            None,
            "Mem-Info:",
        ),
        (
            "Nov 25 10:00:00.250000 web1 kernel: Mem-Info:",  # journalctl -o short-precise
            "web1",
            "2026-11-25T10:00:00.250000+00:00",
            None,
            "Mem-Info:",
        ),
        ("[12345.678901] Mem-Info:", None, None, 12345.678901, "Mem-Info:"),
        ("[  617.330071]  dump_stack+0x5c/0x79", None, None, 617.330071, " dump_stack+0x5c/0x79"),
        ("[   1.000000] [  T123] Mem-Info:", None, None, 1.0, "Mem-Info:"),
        (
            "[Wed Nov 25 10:00:00 2026] Mem-Info:",
            None,
            "2026-11-25T10:00:00+00:00",
            None,
            "Mem-Info:",
        ),
        (
            "kern  :warn  : [Thu Aug 17 17:29:27 2023] Mem-Info:",
            None,
            "2023-08-17T17:29:27+00:00",
            None,
            "Mem-Info:",
        ),
        ("6,1234,5678901,-;Mem-Info:", None, None, 5.678901, "Mem-Info:"),
        ("4,7,1000000,c,caller=T12;Mem-Info:", None, None, 1.0, "Mem-Info:"),
        (
            "kern:     err: [2026-07-25T14:23:17.527285605Z]: Mem-Info:",
            None,
            "2026-07-25T14:23:17.527285+00:00",
            None,
            "Mem-Info:",
        ),
        ("Mem-Info:", None, None, None, "Mem-Info:"),
    ],
)
def test_prefix_shapes(raw, host, stamp, mono, message):
    line = one(raw)
    assert line.host == host
    assert (line.timestamp.isoformat() if line.timestamp else None) == stamp
    assert line.monotonic == mono
    assert line.message == message


def test_kernel_and_userspace_programs_are_told_apart():
    assert one("Nov 25 10:00:00 h kernel: Killed process 1 (a)").is_kernel is True
    user = one('Nov 25 10:00:00 h earlyoom[42]: sending SIGTERM to process 1 uid 0 "a"')
    assert (user.is_kernel, user.program) == (False, "earlyoom")
    assert one("12,5,100,-;user write").is_kernel is False  # facility 1 written to /dev/kmsg
    assert one("kern  :err   : [Thu Aug 17 17:29:27 2023] x").is_kernel is True
    assert one("Mem-Info:").is_kernel is None


def test_rfc3164_zone_comes_from_option():
    line = one("Jul  1 10:00:00 h kernel: x", timezone="Europe/Berlin")
    assert line.timestamp == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_year_inference_does_not_jump_back_at_new_year():
    normalizer = LineNormalizer(NormalizeOptions(reference_time=datetime(2027, 1, 1, tzinfo=UTC)))
    first = normalizer.normalize("Dec 31 23:59:59 h kernel: a")[0]
    second = normalizer.normalize("Jan  1 00:00:01 h kernel: b")[0]
    assert first.timestamp.year == 2026
    assert second.timestamp.year == 2027
    assert second.timestamp > first.timestamp


def test_year_of_a_month_after_the_reference_is_last_year():
    assert one("Nov 29 10:00:00 h kernel: x").timestamp.year == 2026  # within a day
    assert one("Dec 20 10:00:00 h kernel: x").timestamp.year == 2025  # never in the future
    normalizer = LineNormalizer(NormalizeOptions(reference_time=datetime(2026, 3, 1, tzinfo=UTC)))
    assert normalizer.normalize("Dec 20 10:00:00 h kernel: x")[0].timestamp.year == 2025


def test_rsyslog_hash012_splits_into_lines_with_the_same_prefix():
    normalizer = LineNormalizer(NormalizeOptions(reference_time=REF))
    lines = normalizer.normalize(
        "Oct 20 00:38:32 localhost kernel: active_anon:1 inactive_anon:2#012 active_file:3"
    )
    assert [line.message for line in lines] == ["active_anon:1 inactive_anon:2", " active_file:3"]
    assert {line.host for line in lines} == {"localhost"}


def test_kmsg_escapes_are_undone():
    lines = LineNormalizer().normalize("6,1,2,-;Mem-Info:\\x0aactive_anon:5 path=a\\x5cb")
    assert [line.message for line in lines] == ["Mem-Info:", "active_anon:5 path=a\\b"]


def test_indented_continuation_lines_inherit_host_and_time():
    normalizer = LineNormalizer(NormalizeOptions(reference_time=REF))
    normalizer.normalize("May 17 19:54:29 ubuntu-vm kernel: anon 7688192")
    line = normalizer.normalize("                                  file 49152")[0]
    assert (line.host, line.message, line.is_kernel) == ("ubuntu-vm", "file 49152", True)
    assert line.timestamp == datetime(2026, 5, 17, 19, 54, 29, tzinfo=UTC)


def test_bare_indented_lines_stay_bare():
    normalizer = LineNormalizer()
    normalizer.normalize("Call trace:")
    assert normalizer.normalize(" dump_stack+0x18/0x28")[0].message == " dump_stack+0x18/0x28"


def test_journal_json_records():
    normalizer = LineNormalizer()
    line = normalizer.normalize(
        '{"MESSAGE":"Killed process 5 (x)","_HOSTNAME":"n1","_TRANSPORT":"kernel",'
        '"__REALTIME_TIMESTAMP":"1764000000000000","_SOURCE_MONOTONIC_TIMESTAMP":"108101136410"}'
    )[0]
    assert (line.host, line.is_kernel, line.monotonic) == ("n1", True, 108101.13641)
    assert line.timestamp == datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    raw_bytes = normalizer.normalize(
        '{"MESSAGE":[77,101,109],"_HOSTNAME":["n2","n2"],"_TRANSPORT":"kernel"}'
    )[0]
    assert (raw_bytes.message, raw_bytes.host) == ("Mem", "n2")
    user = normalizer.normalize(
        '{"MESSAGE":"Killed process 5 (x)","_TRANSPORT":"stdout","SYSLOG_IDENTIFIER":"npd"}'
    )[0]
    assert user.is_kernel is False


def test_default_host_applies_to_lines_without_one():
    assert one("[1.0] Mem-Info:", default_host="box").host == "box"
    assert one("Nov 25 10:00:00 web1 kernel: x", default_host="box").host == "web1"


def test_shipped_record_fills_host_and_time():
    stamp = datetime(2026, 1, 2, tzinfo=UTC)
    record = ShippedRecord(message="[1.5] Mem-Info:", host="node7", time=stamp)
    line = LineNormalizer().normalize_record(record)[0]
    assert (line.host, line.timestamp, line.monotonic) == ("node7", stamp, 1.5)


def test_garbage_never_raises():
    for raw in [
        "",
        " ",
        "\x00\x01",
        "<999>1 - - - - - -",
        "[",
        "{",
        '{"MESSAGE": 5}',
        "6,;",
        "\ufffd" * 5,
    ]:
        LineNormalizer().normalize(raw)


def test_rfc3164_year_future():
    """One file alone, read on 2026-12-01, must not be dated 2026-12-17 (16 days ahead)."""
    normalizer = LineNormalizer(NormalizeOptions(reference_time=datetime(2026, 12, 1, tzinfo=UTC)))
    (line,) = normalizer.normalize("Dec 17 10:00:00 h kernel: x")
    assert line.timestamp == datetime(2025, 12, 17, 10, 0, tzinfo=UTC)


def test_rfc3164_year_2037():
    """Interleaved hosts whose dates are months apart: each host keeps its own year; other
    hosts' dates never step it (it used to climb to 2037)."""
    normalizer = LineNormalizer(NormalizeOptions(reference_time=datetime(2026, 12, 1, tzinfo=UTC)))
    years = set()
    for _ in range(12):
        for raw in ("Jan 10 10:00:00 a kernel: x", "Aug 10 10:00:00 b kernel: x"):
            years.add((raw[16], normalizer.normalize(raw)[0].timestamp.year))
    assert years == {("a", 2026), ("b", 2026)}
    # the same file beside other hosts' files gives the dates it gives alone
    alone = LineNormalizer(NormalizeOptions(reference_time=datetime(2026, 12, 1, tzinfo=UTC)))
    assert alone.normalize("Aug 10 10:00:00 b kernel: x")[0].timestamp.year == 2026


def test_rfc3164_year_per_host_survives_a_snapshot():
    normalizer = LineNormalizer(NormalizeOptions(reference_time=datetime(2027, 1, 2, tzinfo=UTC)))
    normalizer.normalize("Dec 31 23:59:59 a kernel: x")
    restored = LineNormalizer(NormalizeOptions(reference_time=datetime(2027, 1, 2, tzinfo=UTC)))
    restored.restore(normalizer.snapshot())
    assert restored.normalize("Jan  1 00:00:01 a kernel: y")[0].timestamp.year == 2027


def test_rfc3164_year_follows_the_file_time_unless_year_is_given(tmp_path):
    import os

    from oom_enricher.pipeline import PipelineOptions
    from oom_enricher.skimming.skim_files import skim_documents
    from tests.core.report_lines import memcg_report

    log = tmp_path / "old.log"
    log.write_text("".join(f"Dec 17 10:00:01 h kernel: {t}\n" for t in memcg_report()))
    os.utime(log, (datetime(2024, 12, 18, tzinfo=UTC).timestamp(),) * 2)
    (doc,) = skim_documents([str(log)], PipelineOptions())
    assert doc["@timestamp"] == "2024-12-17T10:00:01.000000Z"
    given = PipelineOptions(
        normalize=NormalizeOptions(reference_time=datetime(2022, 12, 31, tzinfo=UTC))
    )
    (doc,) = skim_documents([str(log)], given)
    assert doc["@timestamp"] == "2022-12-17T10:00:01.000000Z"
