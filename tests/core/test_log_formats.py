"""Every real report of the corpus in the output formats of the tools that print kernel logs.

Each report's kernel lines (their printk stamps and messages) are printed again as dmesg,
journalctl and the syslog daemons print them; every format must give the facts the plain
dmesg printing gives (the host and the times aside, which some formats add).
"""

from __future__ import annotations

import json
import re
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oom_enricher.skimming.skim_files import skim_documents
from tests.core.pasted_reports import REPORT
from tests.core.test_corpus_shapes import comparable
from tests.corpus_cases import corpus_cases

HOST = "node-7"
BOOT = datetime(2023, 6, 20, 8, 0, 0, tzinfo=UTC)
# A kernel line of a corpus log: behind a syslog prefix, a printk stamp, or both.
SYSLOG = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: "
STAMPED = re.compile(rf"^(?:{SYSLOG})?\[\s*(\d+\.\d+)\] ?(.*)$")
UNSTAMPED = re.compile(rf"^{SYSLOG}(.*)$")

Record = tuple[float, str]  # printk seconds, message


def kernel_records(text: str) -> list[Record]:
    """The kernel lines of a log, a line without a stamp taking the one before."""
    records: list[Record] = []
    seconds = 100.0
    for line in text.splitlines():
        if found := STAMPED.match(line):
            seconds = float(found[1])
            records.append((seconds, found[2]))
        elif found := UNSTAMPED.match(line):
            records.append((seconds, found[1]))
    return records


def wall(seconds: float) -> datetime:
    return BOOT + timedelta(seconds=seconds)


# One printed line per record, as str.format templates of: `s` the printk seconds, `m` the
# message, `t` the wall time (a datetime), `ms` its milliseconds, `host`, `epoch` (seconds),
# `elapsed` (`ts -s`: since the first record, one a second here).
PRINTERS: dict[str, str] = {
    "dmesg -r": "<4>[{s:12.6f}] {m}",
    "dmesg -x": "kern  :warn  : [{s:12.6f}] {m}",
    "dmesg -t": "{m}",
    "dmesg -T": "[{t:%a %b %d %H:%M:%S %Y}] {m}",
    "dmesg --time-format iso": "{t:%Y-%m-%dT%H:%M:%S,%f}+00:00 {m}",
    "dmesg -d": "[{s:12.6f} <    0.000012>] {m}",
    "dmesg -e": "[  +0.000012] {m}",  # after the first record's `[Jun20 08:02]`
    "dmesg --color=always": "\x1b[32m[{s:12.6f}]\x1b[0m \x1b[33m{m}\x1b[0m",
    "dmesg --color=always | cat -v": "^[[32m[{s:12.6f}]^[[0m ^[[33m{m}^[[0m",
    "dmesg | ts -s": "{elapsed} [{s:12.6f}] {m}",
    "journalctl": "{t:%b %d %H:%M:%S} {host} kernel: {m}",
    "journalctl --no-hostname": "{t:%b %d %H:%M:%S} kernel: {m}",
    "journalctl -o short-monotonic": "[{s:12.6f}] {host} kernel: {m}",
    "journalctl -o short-iso": "{t:%Y-%m-%dT%H:%M:%S}+0000 {host} kernel: {m}",
    "journalctl -o short-iso-precise": "{t:%Y-%m-%dT%H:%M:%S.%f}+00:00 {host} kernel: {m}",
    "journalctl -o short-precise": "{t:%b %d %H:%M:%S.%f} {host} kernel: {m}",
    "journalctl -o short-unix": "{epoch:.6f} {host} kernel: {m}",
    "journalctl -o short-full": "{t:%a %Y-%m-%d %H:%M:%S} UTC {host} kernel: {m}",
    "journalctl -o short-delta": "[{s:12.6f} <    0.000012>] {host} kernel: {m}",
    "journalctl -o cat": "{m}",
    "RFC 5424": "<4>1 {t:%Y-%m-%dT%H:%M:%S.%f}+00:00 {host} kernel - - - {m}",
    "RFC 5424 with structured data": (
        '<4>1 {t:%Y-%m-%dT%H:%M:%S.%f}Z {host} kernel - - [o x="1"] {m}'
    ),
    "rsyslog RSYSLOG_FileFormat": "{t:%Y-%m-%dT%H:%M:%S.%f}+00:00 {host} kernel: [{s:12.6f}] {m}",
    "rsyslog RSYSLOG_TraditionalForwardFormat": (
        "<4>{t:%b %d %H:%M:%S} {host} kernel: [{s:12.6f}] {m}"
    ),
    "syslog-ng ISO stamps": "{t:%Y-%m-%dT%H:%M:%S}+00:00 {host} kernel: [{s:12.6f}] {m}",
    "OpenWrt logread": "{t:%a %b %d %H:%M:%S %Y} kern.warn kernel: [{s:12.6f}] {m}",
    "a console server's stamps": "[{t:%Y-%m-%d %H:%M:%S}] [{s:12.6f}] {m}",
    # copied from a log viewer's table: its time column, then the line as shipped
    "Grafana Explore": "{t:%Y-%m-%d %H:%M:%S}.{ms:03d} [{s:12.6f}] {m}",
    "CloudWatch console": "{t:%Y-%m-%dT%H:%M:%S}.{ms:03d}Z\t[{s:12.6f}] {m}",
    "a viewer's UTC column": "{t:%Y-%m-%d %H:%M:%S}.{ms:03d} UTC [{s:12.6f}] {m}",
    "Kibana Discover's table": "{t:%b} {t.day}, {t:%Y @ %H:%M:%S}.{ms:03d}\t[{s:12.6f}] {m}",
    "Kibana Discover, journald's message": "{t:%b} {t.day}, {t:%Y @ %H:%M:%S}.{ms:03d}\t{m}",
    "Kibana Discover, copied as text": (
        "{t:%b} {t.day}, {t:%Y @ %H:%M:%S}.{ms:03d}\t{host}\t[{s:12.6f}] {m}"
    ),
    "docker json-file": "{docker_json}",
}
FIRST_LINES = {"dmesg -e": "[{t:%b%d %H:%M}] {m}"}  # where the first record is printed apart
HEADERS = {"Kibana Discover, copied as text": "@timestamp\thost.name\tmessage\n"}  # a table's
PLAIN_DMESG = "[{s:12.6f}] {m}"  # what every format is compared with


def export_entries(records: list[Record]) -> bytes:
    """journalctl -o export: a message holding a line break (rsyslog's `#012` in the
    corpus) is a binary field: its name, its size as 8 bytes little endian, its bytes."""
    out = bytearray()
    for i, (seconds, message) in enumerate(records):
        micros = int(wall(seconds).timestamp() * 1e6)
        out += (
            f"__CURSOR=s=6f1c;i={i:x}\n__REALTIME_TIMESTAMP={micros}\n"
            f"_TRANSPORT=kernel\nPRIORITY=4\nSYSLOG_IDENTIFIER=kernel\n_HOSTNAME={HOST}\n"
        ).encode()
        text = message.replace("#012", "\n").encode("utf-8", "surrogateescape")
        if b"\n" in text:
            out += b"MESSAGE\n" + struct.pack("<Q", len(text)) + text + b"\n"
        else:
            out += b"MESSAGE=" + text + b"\n"
        out += b"\n"
    return bytes(out)


def printed(records: list[Record], template: str, first: str | None = None) -> str:
    lines = []
    for i, (seconds, message) in enumerate(records):
        template_of = first if i == 0 and first is not None else template
        t = wall(seconds)
        stamped = f"[{seconds:12.6f}] {message}\n"
        docker = {"log": stamped, "stream": "stdout", "time": f"{t:%Y-%m-%dT%H:%M:%S.%f}Z"}
        fields = {"s": seconds, "m": message, "t": t, "ms": t.microsecond // 1000, "host": HOST}
        fields.update(epoch=t.timestamp(), elapsed=f"00:{i // 60 % 60:02d}:{i % 60:02d}")
        lines.append(template_of.format(**fields, docker_json=json.dumps(docker)) + "\n")
    return "".join(lines)


def facts_of(path: Path) -> list[dict]:
    """The facts of every document, the host (which some formats add) left out."""
    docs = [comparable(doc) for doc in skim_documents([str(path)])]
    for doc in docs:
        doc.pop("host")
        doc["oom"].pop("lines_count")  # a record with a line break is one line or several
    text = json.dumps(docs).replace(f" on {HOST}", "").replace(" on unknown host", "")
    return json.loads(text)


CASES = [
    case
    for case in corpus_cases()
    if len(kernel_records(case.log.read_text(encoding="utf-8", errors="surrogateescape"))) >= 10
]
# Where a format loses a fact, and why.
KNOWN: dict[tuple[str, str], str] = {}
for _format in ("dmesg -t", "dmesg -T", "journalctl", "journalctl -o short-iso"):
    KNOWN[("007", _format)] = (
        "the next report's header alone at the end, in the same second as the report's own "
        "and with no printk stamp to tell them apart, is taken for a piece of it quoted again"
    )
KNOWN[("007", "journalctl -o short-full")] = KNOWN[("007", "dmesg -T")]
KNOWN[("007", "journalctl --no-hostname")] = KNOWN[("007", "dmesg -T")]
KNOWN[("007", "journalctl -o cat")] = KNOWN[("007", "dmesg -t")]


@pytest.fixture(scope="module")
def plain_facts(tmp_path_factory) -> dict[str, list[dict]]:
    """Each case's facts as plain dmesg prints its kernel lines."""
    folder = tmp_path_factory.mktemp("dmesg")
    found = {}
    for case in CASES:
        records = kernel_records(case.log.read_text(encoding="utf-8", errors="surrogateescape"))
        path = folder / f"{case.name}.log"
        path.write_text(printed(records, PLAIN_DMESG), "utf-8", "surrogateescape")
        found[case.name] = facts_of(path)
    return found


@pytest.mark.parametrize("name", [*PRINTERS, "journalctl -o export"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_tools_output_format_keeps_every_fact(case, name, plain_facts, tmp_path):
    if (case.name[:3], name) in KNOWN:
        pytest.xfail(KNOWN[(case.name[:3], name)])
    records = kernel_records(case.log.read_text(encoding="utf-8", errors="surrogateescape"))
    path = tmp_path / "printed.log"
    if name == "journalctl -o export":
        path.write_bytes(export_entries(records))
    else:
        text = HEADERS.get(name, "") + printed(records, PRINTERS[name], FIRST_LINES.get(name))
        path.write_text(text, "utf-8", "surrogateescape")
    assert facts_of(path) == plain_facts[case.name]


# 4.x memcg report with `Task in`, `killed as a result of limit of ` and the path as three records
SPLIT_TASK_IN = [
    "big_alloc invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0",
    "Task in /lxc/foo",
    "killed as a result of limit of ",
    "/lxc/foo",
    "memory: usage 3072kB, limit 3072kB, failcnt 127",
    "[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name",
    "[ 9228]     0  9228      833      698       6        0             0 sh",
    "Memory cgroup out of memory: Kill process 9228 (sh) score 909 or sacrifice child",
    "Killed process 9228 (sh) total-vm:3332kB, anon-rss:2740kB, file-rss:52kB",
]


def split_report_behind(tmp_path: Path, prefix: str) -> dict:
    """The one document of SPLIT_TASK_IN, each line behind `prefix` (`{n}`: its index)."""
    path = tmp_path / "split.log"
    text = "".join(prefix.format(n=n) + line + "\n" for n, line in enumerate(SPLIT_TASK_IN))
    path.write_text(text)
    (doc,) = skim_documents([str(path)])
    return doc


def test_a_path_the_kernel_printed_on_a_line_of_its_own_is_no_rest_of_the_line_before(tmp_path):
    """4.x memcg reports may print `Task in /lxc/foo`, `killed as a result of limit of ` and
    the path as three records: behind `dmesg -x`'s prefix the path's line was taken for the
    rest of the line before it (a paste's wrap), prefix and all, and both paths were lost."""
    doc = split_report_behind(tmp_path, "kern  :warn  : [15447.{n:06d}] ")
    assert doc["oom"]["cgroup"]["task_path"] == "/lxc/foo"
    assert doc["oom"]["cgroup"]["oom_path"] == "/lxc/foo"


def test_a_journal_exports_binary_message_keeps_its_lines(tmp_path):
    """`journalctl -o export` writes a message holding a line break (Mem-Info's page counts
    before 4.9 are one record) as a binary field; it was skipped, and Mem-Info with it."""
    lines = list(REPORT)
    at = lines.index(" </TASK>") + 1
    lines[at:at] = ["Mem-Info:", "active_anon:25000 inactive_anon:36#012 active_file:51 free:1237"]
    records = [(5.0 + n / 1000, line) for n, line in enumerate(lines)]
    path = tmp_path / "export.txt"
    path.write_bytes(export_entries(records))
    (doc,) = skim_documents([str(path)])
    pages = doc["oom"]["system"]["mem_info_pages"]
    assert (pages["active_anon"], pages["active_file"], pages["free"]) == (25000, 51, 1237)


@pytest.mark.parametrize("size", [10, 266, 0x83])
def test_a_binary_fields_size_of_any_byte_is_read_past(size, tmp_path):
    """The size's first byte may be a line feed (10, 266) or no UTF-8 at all (0x83): the
    value is what follows the size, and the entry goes on after it."""
    text = b"a" * (size - 6) + b"\nb:c d"
    entry = b"__CURSOR=s=1;i=1\n_TRANSPORT=kernel\n_HOSTNAME=web1\nMESSAGE=" + REPORT[0].encode()
    entry += b"\nCODE_LINE\n" + struct.pack("<Q", size) + text + b"\n_PID=7\n\n"
    from oom_enricher.normalize.pasted_text import PasteReader

    lines = entry.decode("utf-8", "replace").split("\n")
    reader = PasteReader()
    (record,) = list(reader.records(lines, reader.sniff(lines)))
    fields = json.loads(record.message)
    assert fields["CODE_LINE"] == text.decode()
    assert fields["_PID"] == "7"
    assert fields["MESSAGE"] == REPORT[0]


def test_a_zones_reserve_line_after_lines_cut_at_one_width_begins_a_line(tmp_path):
    """`dmesg -t` of a report whose zone lines a terminal cut at one width: the reserve line
    after each cut zone line was taken for the rest of it, and its zone's facts were lost."""
    zone = (
        "Node 0 DMA32 free:54944kB min:51460kB low:64324kB high:77188kB active_anon:2107576kB "
        "inactive_anon:451104kB active_file:0kB inactive_file:0kB unevictable:0kB wri"
    )
    lines = [
        "stress invoked oom-killer: gfp_mask=0x14280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), order=0, "
        "oom_score_adj=0",
        "Mem-Info:",
        zone,
        "lowmem_reserve[]: 0 0 909 909 909",
        zone.replace("Node 0", "Node 1"),
        "lowmem_reserve[]: 0 0 901 901 901",
        zone.replace("Node 0", "Node 2"),
        "lowmem_reserve[]: 0 0 0 0 0",
        "Out of memory: Kill process 101 (stress) score 900 or sacrifice child",
        "Killed process 101 (stress) total-vm:299192kB, anon-rss:93176kB, file-rss:316kB",
    ]
    path = tmp_path / "dmesg-t.txt"
    path.write_text("".join(line + "\n" for line in lines))
    (doc,) = skim_documents([str(path)])
    assert "lowmem_reserve[]: 0 0 909 909 909" in doc["event"]["original"].split("\n")


def test_the_kernels_mark_after_a_stack_dump_is_no_authors_elision(tmp_path):
    """MIPS and LoongArch end a stack dump of 40 words with an indented ` ...`: bare (`dmesg
    -t`), it was taken for an author's elision, and the report said `elided` instead of
    the ratelimited kill line it lacks."""
    words = "       9000000000209c5c 000000ffc50f0000 00000000000000b0 0000000000000004"
    lines = [
        "C1 CompilerThre invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), order=0, "
        "oom_score_adj=-998",
        "CPU: 3 PID: 585614 Comm: C1 CompilerThre Not tainted 4.19.0-loongson-3 #1",
        "Stack : 0000000000000000 900000000186f490 9000000001a31140 0000000000000001",
        words,
        "        ...",
        "Call Trace:",
        "[<9000000000209c5c>] show_stack+0x9c/0x190",
        "memory: usage 2097152kB, limit 2097152kB, failcnt 4821",
        "oom_kill_process: 1520 callbacks suppressed",
    ]
    path = tmp_path / "dmesg-t.txt"
    path.write_text("".join(line + "\n" for line in lines))
    (doc,) = skim_documents([str(path)])
    assert doc["oom"]["incomplete_reason"] != "elided"
    elided = [*lines[:4], "        ...", "(...snipped...)", *lines[5:]]
    path.write_text("".join(line + "\n" for line in elided))
    (doc,) = skim_documents([str(path)])
    assert doc["oom"]["incomplete_reason"] == "elided"  # an author's own elision still is


def test_a_log_viewers_copy_with_a_blank_in_its_stamp_keeps_the_line(tmp_path):
    """Grafana Explore copies `2023-06-21 01:52:57.426 [64377.426686] Pid: 23105, comm: ...`:
    the stamp was not taken (a blank, not a `T`, between date and time), and the syslog rule
    took the printk stamp for a host and `Pid` for a program, so 2.6's trigger line was lost."""
    lines = [
        "apt-check invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=0",
        "Pid: 23105, comm: apt-check Tainted: G    B   W  2.6.30 #11",
        "Call Trace:",
        "Out of memory: kill process 23105 (apt-check) score 9 or a child",
        "Killed process 23105 (apt-check)",
    ]
    path = tmp_path / "explore.txt"
    path.write_text(
        "".join(
            f"2023-06-21 01:52:57.{n:03d} [64377.42{n}] {line}\n" for n, line in enumerate(lines)
        )
    )
    (doc,) = skim_documents([str(path)])
    assert doc["oom"]["trigger"]["pid"] == 23105
    assert doc["@timestamp"] == "2023-06-21T01:52:57.000000Z"


# What a pager prints below each page, copied with the pages (a lone `:` is not here: it is
# also an author's vertical ellipsis, which makes a report incomplete).
PAGER_STATUS = {
    "more": "--More--({percent}%)",
    "less -M, journalctl's pager": "lines {first}-{last}/{total} {percent}%",
    "less at the end": "lines {first}-{last}/{total} (END)",
    "less -m": "byte {last}00/{total}00 {percent}%",
}


@pytest.mark.parametrize("pager", PAGER_STATUS)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_pagers_status_lines_between_pages_lose_no_fact(case, pager, plain_facts, tmp_path):
    """Copied from `dmesg | more` or `journalctl -k` page by page: the status line below each
    page broke the task table (the report said unreadable_line and lost its tasks), ended the
    look-back of a report whose header was lost, or went onto a task's name (`mcelog (END)`)."""
    records = kernel_records(case.log.read_text(encoding="utf-8", errors="surrogateescape"))
    lines = [f"[{s:12.6f}] {m}" for s, m in records]
    page = 24
    out = []
    for n, line in enumerate(lines, 1):
        out.append(line)
        if n % page == 0 and n < len(lines):
            numbers = {"first": n - page + 1, "last": n, "total": len(lines)}
            out.append(PAGER_STATUS[pager].format(percent=100 * n // len(lines), **numbers))
    path = tmp_path / "paged.txt"
    path.write_text("".join(line + "\n" for line in out), "utf-8", "surrogateescape")
    assert facts_of(path) == plain_facts[case.name]


def test_a_time_of_day_alone_before_the_printk_stamp_is_a_prefix(tmp_path):
    """`dmesg -w | ts -s` writes `00:00:03 [15447.035789] /lxc/foo`: the time was taken for
    the message's first word, and the cgroup path on its line of its own became `00:00:03`."""
    doc = split_report_behind(tmp_path, "00:00:{n:02d} [15447.{n:06d}] ")
    assert doc["oom"]["cgroup"]["oom_path"] == "/lxc/foo"
    assert doc["oom"]["victims"][0]["pid"] == 9228
