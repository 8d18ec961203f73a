"""Digits `str.isdigit()` takes and `int()` refuses (`²`, `①`, full-width) in the places
input text is read as a number: each is no number there, never an exception."""

from __future__ import annotations

import logging

import orjson

from oom_enricher.decimal_text import is_decimal, is_signed_decimal
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.pipeline import documents_from_lines
from oom_enricher.serve.journal import Journal
from oom_enricher.sinks.elasticsearch.spool import DiskSpool
from oom_enricher.sources.syslog_framing import parse_message

OTHER_DIGITS = ("²", "12²", "①", "٣")  # superscript, circled, Arabic-Indic


def test_only_ascii_digits_are_decimal():
    assert is_decimal("0123") and is_signed_decimal("-42")
    assert not any(is_decimal(text) for text in (*OTHER_DIGITS, "", "-1", "１２"))
    assert not any(is_signed_decimal(text) for text in ("--5", "-", "-²", "+1"))


def test_a_syslog_priority_of_other_digits_is_no_priority():
    for digits in OTHER_DIGITS[:3]:
        message = parse_message(f"<{digits}>Nov 25 10:00:00 edge-1 kernel: hello")
        assert message.pri is None


def test_a_summary_pid_of_other_digits_names_no_victim_and_costs_no_report():
    summary = (
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
        "global_oom,task_memcg=/,task=stress,pid={pid},uid={uid}"
    )
    lines = [
        f"Nov 25 10:00:0{n} edge-1 kernel: " + summary.format(pid=pid, uid=uid)
        for n, (pid, uid) in enumerate([("12²", "0"), ("1021", "①")])
    ]
    docs = list(documents_from_lines(lines))
    assert [doc["oom"]["victims"] for doc in docs][0] == []
    (victim,) = docs[1]["oom"]["victims"]
    assert (victim["pid"], victim.get("uid")) == (1021, None)


def test_a_journal_time_of_other_digits_is_no_time():
    entry = {"MESSAGE": "oom x", "__REALTIME_TIMESTAMP": "17²", "__MONOTONIC_TIMESTAMP": "①"}
    (line,) = LineNormalizer().normalize(orjson.dumps(entry).decode())
    assert (line.message, line.timestamp, line.monotonic) == ("oom x", None, None)


def test_segment_names_of_other_digits_are_not_segments(tmp_path, caplog):
    journal_dir, spool_dir = tmp_path / "journal", tmp_path / "spool"
    journal_dir.mkdir()
    spool_dir.mkdir()
    (journal_dir / "²².seg").write_bytes(b"")
    (spool_dir / "①.jsonl").write_text("{}\n")
    with caplog.at_level(logging.WARNING):
        journal = Journal(journal_dir)
        spool = DiskSpool(spool_dir)
        assert list(journal.recover()) == []
    assert journal.stats.skipped_files == 1
    assert spool.pending == 0
    spool.close()
