"""Exports and pastes written newest first (Kibana Discover, logcli's default backward
direction, `journalctl -r`, `dmesg | tac`) are read oldest first: the same document as the
same records in the order the kernel wrote them."""

from __future__ import annotations

import pytest

from oom_enricher.normalize import pasted_text
from oom_enricher.normalize.pasted_text import PasteReader, PasteStats
from tests.core.pasted_reports import FACTS, REPORT, dmesg_lines, facts, read_every_way, stamped
from tests.core.test_json_exports import kibana_csv


def _one(docs: list[dict]) -> dict:
    assert len(docs) == 1
    return docs[0]


def _same_as_oldest_first(tmp_path, monkeypatch, oldest: str, newest: str) -> dict:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    forward = _one(read_every_way(tmp_path / "a", oldest, monkeypatch))
    turned = _one(read_every_way(tmp_path / "b", newest, monkeypatch))
    assert facts(turned) == dict(FACTS, host=facts(forward)["host"]) == facts(forward)
    assert turned["event"]["id"] == forward["event"]["id"]
    assert turned.get("@timestamp") == forward.get("@timestamp")
    return turned


def test_a_kibana_csv_export_sorted_newest_first_is_read_oldest_first(tmp_path, monkeypatch):
    """Discover sorts by @timestamp descending unless told otherwise."""
    rows = [(f"Nov 25, 2026 @ 10:00:05.{n:03d}", "web1", line) for n, line in enumerate(REPORT)]
    _same_as_oldest_first(tmp_path, monkeypatch, kibana_csv(rows), kibana_csv(list(reversed(rows))))


def test_logcli_output_in_its_default_backward_direction_is_read_oldest_first(
    tmp_path, monkeypatch
):
    lines = [
        f'2026-11-25T10:00:05.{n:03d}Z {{host="web1"}}  [{5 + n / 1000:12.6f}] {line}'
        for n, line in enumerate(REPORT)
    ]
    oldest = "\n".join(lines) + "\n"
    _same_as_oldest_first(tmp_path, monkeypatch, oldest, "\n".join(reversed(lines)) + "\n")


def test_syslog_lines_of_one_second_newest_first_are_ordered_by_their_kernel_stamps(
    tmp_path, monkeypatch
):
    lines = stamped()
    oldest = "\n".join(lines) + "\n"
    _same_as_oldest_first(tmp_path, monkeypatch, oldest, "\n".join(reversed(lines)) + "\n")


def test_journalctl_reverse_keeps_a_message_s_further_lines_after_it(tmp_path, monkeypatch):
    """`journalctl -r` turns the entries, not the lines of an entry: a multi-line message's
    rest (indented to its message column) still follows its first line."""
    head = "Nov 25 10:00:05 web1 kernel: "
    stats = [
        f"{head}Memory cgroup stats for /app.slice:\n"
        + "\n".join(" " * len(head) + item for item in ("anon 95420416", "file 323584"))
    ]
    records = [f"{head}{line}" for line in REPORT[:8]] + stats
    records += [f"{head}{line}" for line in REPORT[8:]]
    oldest = "\n".join(records) + "\n"
    turned = _same_as_oldest_first(
        tmp_path, monkeypatch, oldest, "\n".join(reversed(records)) + "\n"
    )
    assert turned["oom"]["memcg_stats"] == {"anon": 95420416, "file": 323584}


def test_a_bare_paste_in_reverse_is_read_in_the_order_the_kernel_prints(tmp_path, monkeypatch):
    """No stamps at all: the report's own landmarks (header, trace, table, kill) came in the
    reverse of the order every kernel prints them."""
    oldest = "\n".join(REPORT) + "\n"
    _same_as_oldest_first(tmp_path, monkeypatch, oldest, "\n".join(reversed(REPORT)) + "\n")


def test_dmesg_newest_first_is_read_oldest_first(tmp_path, monkeypatch):
    lines = dmesg_lines()
    oldest = "\n".join(lines) + "\n"
    _same_as_oldest_first(tmp_path, monkeypatch, oldest, "\n".join(reversed(lines)) + "\n")


@pytest.mark.parametrize(
    "lines",
    [
        # the end of an earlier report, then a whole one: one step back, then forward
        REPORT[-2:] + REPORT,
        # a reboot: the kernel's stamps start again at zero once
        [f"[{100 + n:12.6f}] noise {n}" for n in range(5)] + dmesg_lines(),
        # a lone kill line, then a report of one second's syslog stamps
        [stamped()[-1]] + stamped(),
    ],
    ids=["earlier-tail", "reboot", "kill-then-report"],
)
def test_a_log_in_the_order_it_was_written_is_not_turned(lines):
    assert not PasteReader().sniff(lines).newest_first


def test_a_newest_first_input_past_the_bound_is_turned_block_by_block(monkeypatch):
    """Held at most MAX_REVERSED_CHARS at a time; past that, each block is turned on its own
    and counted, so an endless newest-first stream never grows the process."""
    monkeypatch.setattr(pasted_text, "MAX_REVERSED_CHARS", 200)
    lines = [f"[{1000 - n:12.6f}] line {n:04d} {'x' * 30}" for n in range(40)]
    reader = PasteReader(stats=PasteStats())
    shape = reader.sniff(lines)
    assert shape.newest_first
    out = [record.message for record in reader.records(lines, shape)]
    assert sorted(out) == sorted(lines)
    assert reader.stats.reversed_in_blocks >= 5
    assert out[0] != lines[-1]  # turned within its block, not as a whole
