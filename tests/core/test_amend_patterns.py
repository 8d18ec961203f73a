"""The forward prefilter leaves a record of a host whose reports were all emitted unread only
when no line of it may amend a report: what it finds on the record's bytes (AMEND_PATTERNS,
AMEND_MAYBE) is a superset of the lines serve keeps for such a host (a marker line, a
report-shaped line, a unit notice), for every kind of report line and record shape."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from oom_enricher.model import LogLine
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.reassembly.markers import (
    SKIM_NEEDLES,
    classify_line,
    is_report_shaped,
    unit_notice,
)
from oom_enricher.skimming.forward_prefilter import _AmendFinder, entry_spans
from oom_enricher.sources.record_shapes import from_record
from tests.core.kernel_order_harness import NOISE, TEMPLATES

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ENGINES = [True, False]  # Hyperscan, and the regex used without it


def may_amend(line: LogLine) -> bool:
    """What serve keeps of a host that only late lines can concern (app.py)."""
    return (
        classify_line(line) is not None
        or is_report_shaped(line.message)
        or unit_notice(line.message) is not None
    )


def kept(record: dict) -> bool:
    shipped = from_record(record, peer="10.0.0.1")
    if shipped is None:
        return False
    return any(may_amend(line) for line in LineNormalizer().normalize_record(shipped))


def read(finder: _AmendFinder, records: list[dict]) -> list[bool]:
    """Whether the prefilter reads each record: a marker needle in its bytes (read as any
    host's), or what the finder finds."""
    payload = b"".join(msgpack.packb([1_790_000_000 + n, r]) for n, r in enumerate(records))
    spans = entry_spans(payload)
    chosen = finder.entries(payload, spans, set(range(len(spans))))
    marked = [any(needle in payload[start:end] for needle in SKIM_NEEDLES) for start, end in spans]
    return [i in chosen or marked[i] for i in range(len(spans))]


def shapes(text: str, n: int) -> list[dict]:
    """One line as the record shapes shippers send it."""
    return [
        {"priority": 4, "sequence": n, "sec": 3600, "usec": n % 1000, "msg": text, "host": "h1"},
        {"host": "h1", "log": text},
        {"hostname": "h1", "ident": "kernel", "message": text, "pid": n},
        {"_HOSTNAME": "h1", "MESSAGE": text, "_TRANSPORT": "kernel", "PRIORITY": "4"},
    ]


def corpus_lines() -> list[str]:
    lines = [line for path in sorted(CORPUS.glob("*.log")) for line in path.read_text().split("\n")]
    return lines + [line for template in TEMPLATES for line in template]


EDGE_CASES = [
    ":",
    "  :  ",
    "...",
    "  …",
    "[...]",
    "<snip>",
    "-- SNIPPED --",
    "(ſnip)",
    "rss 1234",
    "rss 1234   ",
    "rss ١٢٣",  # Unicode digits are \d
    "/kubepods.slice/kubepods-burstable.slice",
    "/",
    "ffff88003b704e70 0000000026e95aa3",
    "[<ffffffff81686f13>] dump_stack+0x19/0x1b",
    "[  pid  ]   uid  tgid total_vm      rss",
    "[ 1234]\u3000  0  1234  5678",
    "[ 1234]     0  1234  5678    12     3     0     0 java",
    "RIP\u00a0: 0010:foo",
    "x19: 0000000000000000 x18: 0000000000000000",
    "Node 0 DMA free:15904kB",
    "Kernel panic - not syncing: System is deadlocked on memory",
    "foo.service: A process of this unit has been killed by the OOM killer.",
    "eth0: link up rss 12#012second line",
    "Nov 25 10:00:05 web1 kernel: [  123.456789] rss 1234",
    "eth0: up rss 1234[  123.456789] eth0: down",
    "eth0: up rss 1234Nov 25 10:00:05 web1 kernel: [  123.456789] eth0: down",
    '{"MESSAGE": "dump_stack\\u002b0x19/0x1b", "_HOSTNAME": "h1"}',
    "eth0: link up\\x0a[<ffffffff81686f13>] dump_stack+0x19/0x1b",
    "x" * 300 + " rss 1234",
]


@pytest.mark.parametrize("hyperscan", ENGINES)
def test_every_line_serve_keeps_of_an_amendable_host_is_read(hyperscan):
    finder = _AmendFinder((), hyperscan)
    missed = []
    for n, text in enumerate(corpus_lines() + EDGE_CASES):
        records = shapes(text, n)
        for record, was_read in zip(records, read(finder, records), strict=True):
            if kept(record) and not was_read:
                missed.append((text, record))
    assert not missed


@pytest.mark.parametrize("hyperscan", ENGINES)
def test_messages_the_bytes_do_not_show_as_they_are_are_read(hyperscan):
    """A number, byte numbers (journald), a long string, escapes: looked at, then read."""
    finder = _AmendFinder(("payload.text",), hyperscan)
    records = [
        {"host": "h1", "log": 12345678},
        {"host": "h1", "MESSAGE": list(b"CPU: 1 PID: 2 Comm: x")},
        {"host": "h1", "message": "eth0 " * 60 + "up"},
        {"host": "h1", "log": b"[<ffff>] dump_stack+0x19/0x1b"},
        {"host": "h1", "payload.text": 12345678},
    ]
    assert read(finder, records) == [True] * len(records)


@pytest.mark.parametrize("hyperscan", ENGINES)
def test_ordinary_kernel_lines_are_left_unread(hyperscan):
    finder = _AmendFinder((), hyperscan)
    texts = [
        *NOISE,
        "eth0: link up, 1000 Mbps (3)",
        "TCP: request_sock_TCP: Possible SYN flooding on port 8080. Sending cookies.",
        "IPv6: ADDRCONF(NETDEV_CHANGE): veth12: link becomes ready",
        'audit: type=1400 audit(1790000000.123:45): apparmor="STATUS"',
    ]
    records = [record for n, text in enumerate(texts) for record in shapes(text, 1000 + n)[:3]]
    assert not any(kept(record) for record in records)
    assert not any(read(finder, records))
