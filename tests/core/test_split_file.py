"""A big file read by several processes gives the bytes one process writes."""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.fleet_log import fleet_lines
from oom_enricher.cli.parse_cmd import SPLIT_MIN_BYTES
from oom_enricher.skimming.skim_files import skim_documents
from oom_enricher.skimming.split_file import SplitStats, split_documents, splittable
from oom_enricher.sources.file_reader import MAX_LINE_BYTES, ReadStats
from tests.corpus_cases import REPO

CORPUS = sorted((REPO / "tests" / "corpus").glob("*.log"))
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_CREATED = re.compile(rb'"created":"[^"]*"')  # the time of the run, not of the report


def _stable(output: bytes) -> bytes:
    return _CREATED.sub(b'"created":""', output)


def one_process(path: Path, max_line_bytes: int = MAX_LINE_BYTES, read=None) -> bytes:
    option = orjson.OPT_APPEND_NEWLINE
    docs = skim_documents([path], stats=read, max_line_bytes=max_line_bytes)
    return _stable(b"".join(orjson.dumps(doc, option=option) for doc in docs))


def split(
    path: Path, cuts: list[int], max_line_bytes: int = MAX_LINE_BYTES, read=None
) -> tuple[bytes, SplitStats]:
    out, stats = io.BytesIO(), SplitStats()
    split_documents(
        str(path),
        out,
        len(cuts) + 1,
        stats=read,
        max_line_bytes=max_line_bytes,
        split_stats=stats,
        cuts=cuts,
    )
    return _stable(out.getvalue()), stats


def _problems(stats: ReadStats) -> tuple[int, int, int]:
    return stats.lines_cut, stats.bytes_cut, stats.replaced_chars


def line_starts(data: bytes) -> list[int]:
    return [0] + [match.end() for match in re.finditer(rb"\n", data)][:-1]


def report_line_starts(data: bytes) -> list[int]:
    """Starts of the lines of reports (kernel lines that are not the generator's noise)."""
    noise = (b"IPv6: ADDRCONF", b"renamed from veth", b"audit: type=")
    starts = []
    for start in line_starts(data):
        line = data[start : data.find(b"\n", start)]
        if b" kernel: " in line and not any(part in line for part in noise):
            starts.append(start)
    return starts


def write_fleet(path: Path, lines: int, hosts: int, share: float, seed: int) -> bytes:
    data = ("\n".join(fleet_lines(lines, hosts, share, seed=seed)) + "\n").encode()
    path.write_bytes(data)
    return data


def cuts_from(draw, data: bytes, jobs: int) -> list[int]:
    """Cut offsets: any line start, a report's line (its header, body, kill or tail, or the
    lines a headerless report looks back to), or inside a line."""
    anywhere, in_reports = line_starts(data), report_line_starts(data) or [0]
    kinds = st.sampled_from(["line", "report", "byte"])
    cuts = []
    for _ in range(jobs - 1):
        kind = draw(kinds)
        if kind == "line":
            cuts.append(draw(st.sampled_from(anywhere)))
        elif kind == "report":
            cuts.append(draw(st.sampled_from(in_reports)) + draw(st.sampled_from([0, 1])))
        else:
            cuts.append(draw(st.integers(0, len(data) - 1)))
    return cuts


@SETTINGS
@given(
    st.integers(0, 10_000),
    st.integers(2, 40),
    st.sampled_from([0.02, 0.1, 0.3]),
    st.integers(2, 4),
    st.data(),
)
def test_split_fleet_log_matches_one_process(seed, hosts, share, jobs, data):
    """The documents, and the lines cut to --max-line-bytes and bytes replaced on stderr."""
    cap = data.draw(st.sampled_from([MAX_LINE_BYTES, 110]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.log"
        content = write_fleet(path, 3000, hosts, share, seed)
        if data.draw(st.booleans()):  # undecodable bytes in some lines
            content = content.replace(b"Killed process", b"Killed \xff process", 1)
            content = content.replace(b"session closed", b"session \xfe\xff closed", 7)
            path.write_bytes(content)
        cuts = cuts_from(data.draw, content, jobs)
        split_read, one_read = ReadStats(), ReadStats()
        got, _ = split(path, cuts, cap, split_read)
        assert got == one_process(path, cap, one_read)
        assert _problems(split_read) == _problems(one_read)


@SETTINGS
@given(
    st.lists(st.sampled_from(CORPUS), min_size=2, max_size=6, unique=True),
    st.integers(2, 4),
    st.data(),
)
def test_split_corpus_files_end_to_end_matches_one_process(logs, jobs, data):
    """Corpus reports of every shape one after another (dmesg without hosts, continuation
    lines, journal, headerless reports), cut anywhere. Each file once: a report repeated
    verbatim whose copies fall in two segments is written by both workers (one document
    twice, same event.id), where one process writes it once."""
    content = b"".join(log.read_bytes().rstrip(b"\n") + b"\n" for log in logs)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.log"
        path.write_bytes(content)
        assume(splittable(str(path), jobs, min_bytes=0))
        cuts = cuts_from(data.draw, content, jobs)
        got, _ = split(path, cuts)
        assert got == one_process(path)


def test_a_cut_between_a_report_header_and_its_body_gives_one_document(tmp_path: Path):
    path = tmp_path / "fleet.log"
    data = write_fleet(path, 4000, 6, 0.1, seed=3)
    header = data.index(b"invoked oom-killer")
    cut = data.index(b"\n", header) + 1
    got, stats = split(path, [cut])
    assert got == one_process(path)
    assert got.count(b'"event":{') == one_process(path).count(b'"event":{') > 3


def test_a_cut_after_the_kill_line_before_the_reaper_is_read_again(tmp_path: Path):
    """The next worker would take the reaper line for a report of its own: the check sees
    that a report of that host began before the line that closed the followed one."""
    path = tmp_path / "fleet.log"
    data = write_fleet(path, 4000, 3, 0.2, seed=8)
    kill = re.search(rb"(?m)^(.* kernel: \[ *[\d.]+\] )Killed process (\d+) \(([^)]*)\).*\n", data)
    reaper = b"%soom_reaper: reaped process %s (%s), now anon-rss:0kB, file-rss:0kB\n" % (
        kill.group(1),
        kill.group(2),
        kill.group(3),
    )
    path.write_bytes(data[: kill.end()] + reaper + data[kill.end() :])
    got, stats = split(path, [kill.end()])
    assert got == one_process(path)
    assert stats.reread == 1


def test_cuts_far_from_reports_are_not_read_again(tmp_path: Path):
    path = tmp_path / "fleet.log"
    # every host's kernel goes on printing, later than its report: reports end before a cut
    noise = "".join(
        f"Nov 20 08:00:09 node-{index % 20:04d}.fleet.example kernel: "
        f"[{29810 + index / 1000:12.6f}] eth0: renamed from veth{index}\n"
        for index in range(5000)
    )
    first = "\n".join(fleet_lines(2000, 20, 0.1, seed=1)) + "\n"
    later = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    second = "\n".join(fleet_lines(2000, 20, 0.1, seed=2, start=later)) + "\n"
    path.write_text(first + noise + second + noise)
    cut = len((first + noise[: len(noise) // 2]).encode())
    got, stats = split(path, [cut, cut + len(noise.encode()) // 2])
    assert got == one_process(path)
    assert got.count(b'"event":{') > 5
    assert stats.reread == 0


def test_stdin_pipes_small_files_and_pastes_are_read_by_one_process(tmp_path: Path):
    log = tmp_path / "fleet.log"
    write_fleet(log, 2000, 5, 0.1, seed=4)
    quoted = tmp_path / "mail.txt"
    quoted.write_text("".join(f"> {line}\n" for line in log.read_text().splitlines()))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert splittable(str(log), 2, min_bytes=0)
    assert not splittable(str(log), 1, min_bytes=0)
    assert not splittable(str(log), 2, SPLIT_MIN_BYTES)
    assert not splittable("-", 2, min_bytes=0)
    assert not splittable(str(fifo), 2, min_bytes=0)
    assert not splittable(str(quoted), 2, min_bytes=0)
    assert not splittable(str(tmp_path / "missing.log"), 2, min_bytes=0)


def _big_file(path: Path, with_reports: bool) -> None:
    """Just above the size from which `parse` splits: reports at both ends and in the middle
    of 64 MiB of other programs' lines."""
    rng = random.Random(5)
    noise = "".join(
        f"Nov 20 09:00:00 node-{rng.randrange(40):04d}.fleet.example sshd[{rng.randrange(999)}]: "
        "pam_unix(sshd:session): session closed for user deploy\n"
        for _ in range(20_000)
    ).encode()
    starts = [datetime(2026, 11, 20, hour, tzinfo=UTC) for hour in (8, 10, 12)]
    parts = [
        ("\n".join(fleet_lines(3000, 40, 0.1, seed=hour.hour, start=hour)) + "\n").encode()
        if with_reports
        else b""
        for hour in starts
    ]
    with path.open("wb") as out:
        for index, part in enumerate(parts):
            out.write(part)
            for _ in range((33 << 20) // len(noise)) if index < 2 else ():
                out.write(noise)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", *args],
        capture_output=True,
        cwd=REPO,
        check=False,
    )


def test_parse_cli_default_jobs_gives_the_bytes_of_jobs_1_and_the_same_exit_codes(
    tmp_path: Path,
):
    big = tmp_path / "big.log"
    _big_file(big, with_reports=True)
    assert splittable(str(big), 2, SPLIT_MIN_BYTES)
    one, two, default = _cli("--jobs", "1", str(big)), _cli("--jobs", "2", str(big)), _cli(str(big))
    assert one.returncode == two.returncode == default.returncode == 0, two.stderr
    assert _stable(two.stdout) == _stable(default.stdout) == _stable(one.stdout)
    assert one.stdout.count(b"\n") > 10
    assert two.stderr == one.stderr == default.stderr == b""
    _big_file(big, with_reports=False)
    none = _cli("--jobs", "2", str(big))
    assert none.returncode == 1 and none.stdout == b""


def _rehost(lines: list[str], host: str, when: datetime, mono: float) -> list[str]:
    """Kernel messages as one host's syslog lines at `when`, kernel stamps from `mono`."""
    return [
        f"{when:%b} {when.day:2d} {when:%H:%M:%S} {host} kernel: [{mono + i / 1000:12.6f}] {text}"
        for i, text in enumerate(lines)
    ]


def _report_messages() -> list[str]:
    from bench.fleet_log import report_templates

    return report_templates()[0]


def test_a_kernel_stamp_going_back_across_a_cut_is_read_again(tmp_path: Path):
    """A host's line printed before its report but written after the cut (two sources merged
    into one file) is a late line of that report for one process; a cold start cannot know."""
    report = _report_messages()
    when = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    lines = _rehost(report, "web-1", when, 500.0)
    late = _rehost(["eth0: renamed from veth1"], "web-1", when, 500.0 + len(report) / 2000)
    other = [f"Nov 20 08:00:01 web-2 sshd[{index}]: session closed" for index in range(300)]
    head = "\n".join(lines + other) + "\n"
    path = tmp_path / "merged.log"
    path.write_text(head + "\n".join(late + other + lines) + "\n")
    got, stats = split(path, [len(head.encode())])
    assert got == one_process(path)
    assert stats.reread == 1


def test_a_stream_crossing_new_year_matches_one_process_at_every_cut(tmp_path: Path):
    """RFC 3164 stamps carry no year: one host's stream from December into January, the file
    written in January; cuts before, at and after New Year."""
    report = _report_messages()
    days = [datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 1, 1, 0, 1, tzinfo=UTC)]
    lines: list[str] = []
    for index, when in enumerate(days * 2):
        lines += _rehost(report, "web-1", when, 1000.0 + index * 300)
        lines += [f"{when:%b} {when.day:2d} {when:%H:%M:%S} web-2 cron[1]: tick"] * 50
    path = tmp_path / "newyear.log"
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    written = datetime(2027, 1, 2, tzinfo=UTC).timestamp()
    os.utime(path, (written, written))
    expected = one_process(path)
    assert b'"@timestamp":"2026-12-31' in expected and b'"@timestamp":"2027-01-01' in expected
    starts = line_starts(data)
    for cut in starts[:: max(1, len(starts) // 12)]:
        got, _ = split(path, [cut])
        assert got == expected, cut


def test_a_worker_that_saw_more_hosts_than_its_record_keeps_is_read_again(tmp_path, monkeypatch):
    """The check's record is bounded: past the bound the segment is refused, not guessed."""
    from oom_enricher.skimming import split_file

    monkeypatch.setattr(split_file, "MAX_TRACKED_HOSTS", 3)
    path = tmp_path / "fleet.log"
    data = write_fleet(path, 4000, 30, 0.3, seed=12)
    got, stats = split(path, [len(data) // 2])
    assert got == one_process(path)
    assert stats.reread == 1


def test_a_failing_worker_is_one_error_and_no_process_is_left(tmp_path, monkeypatch):
    from oom_enricher.skimming import split_file

    def broken(*_args):
        raise MemoryError("no room")

    monkeypatch.setattr(split_file, "_read_segment", broken)
    path = tmp_path / "fleet.log"
    data = write_fleet(path, 2000, 5, 0.1, seed=2)
    with pytest.raises(
        split_file.SplitError, match="a reading process failed: MemoryError: no room"
    ):
        split(path, [len(data) // 2])
    assert not [child for child in os.listdir("/proc") if _is_child_of(child, os.getpid())]


def _is_child_of(pid: str, parent: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1]) == parent
    except (OSError, ValueError, IndexError):
        return False
