"""One `event.id` per kill, whatever shape carried its lines; different kills, different ids."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from oom_enricher.pipeline import Pipeline, documents_from_lines
from oom_enricher.sources.kmsg_source import KmsgSource, parse_kmsg
from oom_enricher.sources.record_shapes import from_record
from tests.core.report_lines import memcg_report

BOOT = 1_700_000_000.0  # wall-clock time of boot in these reports
HOST = "node-7"


def stamped(start_usec: int = 5_000_000_000, pid: int = 100) -> list[tuple[int, int, str]]:
    """(seq, usec, text) of one report as the kernel stamps it."""
    return [
        (700 + n, start_usec + 37 * n, text) for n, text in enumerate(memcg_report("x", pid, pid))
    ]


def ids_from_lines(lines: list[str]) -> list[str]:
    pipeline = Pipeline()
    docs = [doc for line in lines for doc in pipeline.feed_line(line)] + pipeline.finish()
    return [doc["event"]["id"] for doc in docs]


def ids_from_records(records: list[dict], source: str = "forward") -> list[str]:
    pipeline = Pipeline()
    docs: list[dict] = []
    for record in records:
        shipped = from_record(record, event_time=BOOT + 5000, source=source)
        assert shipped is not None
        docs.extend(pipeline.feed(shipped))
    return [doc["event"]["id"] for doc in docs + pipeline.finish()]


def raw_kmsg(report) -> list[str]:
    return [f"6,{seq},{usec},-;{text}" for seq, usec, text in report]


def fluent_bit_kmsg(report) -> list[dict]:
    return [
        {
            "priority": 6,
            "sequence": seq,
            "sec": usec // 1_000_000,
            "usec": usec % 1_000_000,
            "msg": text,
            "host": HOST,
        }
        for seq, usec, text in report
    ]


def journal(report) -> list[dict]:
    return [
        {
            "MESSAGE": text,
            "_HOSTNAME": HOST,
            "_TRANSPORT": "kernel",
            "PRIORITY": "6",
            "SYSLOG_IDENTIFIER": "kernel",
            "_SOURCE_MONOTONIC_TIMESTAMP": str(usec),
            "__REALTIME_TIMESTAMP": str(int(BOOT * 1e6) + usec + 9),
        }
        for _, usec, text in report
    ]


def syslog_bracketed(report) -> list[str]:
    return [
        datetime.fromtimestamp(BOOT + usec / 1e6, UTC).strftime(f"%b %d %H:%M:%S {HOST} kernel: ")
        + f"[{usec // 1_000_000:5d}.{usec % 1_000_000:06d}] {text}"
        for _, usec, text in report
    ]


def test_kmsg_record_id_equals_raw_kmsg():
    """Fluent Bit's kmsg record {priority, sequence, sec, usec, msg} and the same report as
    /dev/kmsg text get one id (the record's sec/usec used to be ignored)."""
    report = stamped()
    (expected,) = ids_from_lines(raw_kmsg(report))  # no host
    pipeline_host = Pipeline()
    pipeline_host.normalizer.options.default_host = HOST
    docs = [doc for line in raw_kmsg(report) for doc in pipeline_host.feed_line(line)]
    (raw_id,) = [doc["event"]["id"] for doc in docs + pipeline_host.finish()]
    assert ids_from_records(fluent_bit_kmsg(report)) == [raw_id]
    assert expected != raw_id  # the host is part of the id


def test_every_stamped_transport_gives_the_same_id():
    report = stamped()
    kmsg = KmsgSource("/nonexistent", HOST)
    kmsg._boot_epoch = BOOT
    from_dev_kmsg = Pipeline()
    docs: list[dict] = []
    for seq, usec, text in report:
        line = f"6,{seq},{usec},-;{text}"
        rec = kmsg.to_record(kmsg_record(line))
        docs.extend(from_dev_kmsg.feed(rec))
    (dev_id,) = [doc["event"]["id"] for doc in docs + from_dev_kmsg.finish()]
    assert ids_from_records(fluent_bit_kmsg(report)) == [dev_id]
    assert ids_from_records(journal(report)) == [dev_id]
    assert ids_from_lines([orjson.dumps(entry).decode() for entry in journal(report)]) == [dev_id]
    assert ids_from_lines(syslog_bracketed(report)) == [dev_id]
    # Fluent Bit kmsg records indexed by a fleet and reassembled later by `backfill`
    assert ids_from_records(fluent_bit_kmsg(report), source="backfill") == [dev_id]


def kmsg_record(line: str):
    parsed = parse_kmsg(line)
    assert parsed is not None
    return parsed


def test_two_kills_same_id():
    """The same report repeated 600 s later in kernel time (new sequence numbers, same text,
    no pid-bearing summary difference) is a second kill, with its own id."""
    first = stamped(5_000_000_000)
    again = [(seq + 300, usec + 600_000_000, text) for seq, usec, text in first]
    records = fluent_bit_kmsg(first) + fluent_bit_kmsg(again)
    ids = ids_from_records(records)
    assert len(ids) == 2 and ids[0] != ids[1]
    lines = syslog_bracketed(first) + syslog_bracketed(again)
    assert len(set(ids_from_lines(lines))) == 2


def test_without_kernel_stamps_the_id_falls_back_to_wall_clock_then_text():
    """Syslog without the bracketed stamp: the kill line's wall-clock second tells two kills
    apart; bare pasted text has no stamp at all, so two identical pastes are one report."""
    text = memcg_report("x", 100, 100)
    at_ten = [f"Nov 25 10:00:01 {HOST} kernel: {t}" for t in text]
    at_ten_past = [f"Nov 25 10:10:01 {HOST} kernel: {t}" for t in text]
    ids = ids_from_lines(at_ten + at_ten_past)
    assert len(set(ids)) == 2
    assert ids_from_lines(at_ten) == ids[:1]
    (pasted,) = ids_from_lines(text)
    assert ids_from_lines(text + text) == [pasted, pasted]
    # reading a finished input gives that one report once
    assert [doc["event"]["id"] for doc in documents_from_lines(text + text)] == [pasted]


def test_id_is_the_same_with_or_without_the_body_lines():
    """A report emitted before its header and body arrived keeps its id once they amend it."""
    report = raw_kmsg(stamped())
    whole = ids_from_lines(report)
    tail_only = ids_from_lines(report[-2:])
    assert whole == tail_only
