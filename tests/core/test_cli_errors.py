"""Errors as a user meets them: one line per condition, the exit-code table, bounded input."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

from oom_enricher.cli import exit_codes
from oom_enricher.sinks.elasticsearch.spool import DiskSpool
from oom_enricher.sources.file_reader import ReadStats, read_lines
from tests.corpus_cases import REPO

SEED = REPO / "tests" / "corpus" / "seed-docker-beam.log"
CLOSED = "http://127.0.0.1:1"  # nothing listens on port 1: connection refused at once


def run(*args: str, stdin: bytes | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "oom_enricher", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        check=False,
        env=env,
    )


def _state_env(tmp_path: Path) -> dict:
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}


def test_top_level_help_is_for_users_and_lists_every_exit_code():
    done = run("--help")
    text = done.stdout.decode()
    assert done.returncode == 0
    assert "register(subparsers)" not in text and "one module per subcommand" not in text
    for code, _ in exit_codes.TABLE:
        assert re.search(rf"^  {code}  \S", text, re.M), code
    assert max(len(line) for line in text.splitlines()) <= 80


def test_every_command_help_lists_the_exit_codes():
    for command in (["parse"], ["ship"], ["setup"], ["backfill"], ["report"], ["kibana", "import"]):
        text = run(*command, "--help").stdout.decode()
        assert "exit status:" in text and "  3  Elasticsearch or Kibana unreachable" in text


def test_readme_exit_code_table_is_the_one_in_help():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", readme, re.M))
    assert {int(k): v for k, v in rows.items()} == dict(exit_codes.TABLE)


def test_unknown_option_prints_the_commands_usage_not_the_top_level_one():
    done = run("parse", "--bogus")
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err.startswith("usage: oom-enricher parse ")
    assert err.splitlines()[-1] == "oom-enricher parse: error: unrecognized arguments: --bogus"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timezone", "Mars/Olympus"], "argument --timezone: unknown time zone 'Mars/Olympus'"),
        (["--max-report-lines", "0"], "argument --max-report-lines: must be at least 1, not 0"),
        (["--max-report-lines", "-1"], "argument --max-report-lines: must be at least 1, not -1"),
        (["--max-line-bytes", "0"], "argument --max-line-bytes: must be at least 1, not 0"),
    ],
)
def test_invalid_option_values_are_usage_errors(argv, message):
    for command in ("parse", "explain"):
        done = run(command, *argv, str(SEED))
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert "Traceback" not in err
        assert err.splitlines()[-1].startswith(f"oom-enricher {command}: error: {message}")
        assert done.stdout == b""


def test_serve_and_backfill_refuse_an_unknown_time_zone(tmp_path):
    done = run("serve", "--timezone", "Mars/Olympus", "--forward-port", "0", "--no-http")
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert b"unknown time zone 'Mars/Olympus'" in done.stderr
    done = run("backfill", "--es", CLOSED, "--timezone", "Mars/Olympus")
    assert done.returncode == 2 and b"unknown time zone 'Mars/Olympus'" in done.stderr


# A sink's worker thread logs while the main thread prints: a log record (one write) can
# land between a message and its newline (print writes them apart).
_WARNING_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ WARNING oom_enricher[^\n]*\n")


def _one_line(done) -> str:
    err = done.stderr.decode()
    assert "Traceback" not in err, err
    lines = [line for line in _WARNING_RECORD.sub("", err).splitlines() if line]
    assert len(lines) == 1, err
    return lines[0]


def test_elasticsearch_unreachable_is_one_line_and_exit_3_for_every_command(tmp_path):
    env = _state_env(tmp_path)
    expected = f"cannot reach Elasticsearch at {CLOSED}: connection refused; check the URL"
    ship = run("ship", "--es", CLOSED, "--drain-timeout", "0", str(SEED), env=env)
    assert ship.returncode == exit_codes.UNAVAILABLE
    line = _one_line(ship)
    assert line.startswith(f"oom-enricher ship: {expected}")
    assert line.endswith(
        "1 document(s) wait in "
        f"{tmp_path}/state/oom-enricher/spool-default"
        " and go out with the next run"
    )
    for argv in (
        ["setup", "--es", CLOSED],
        ["backfill", "--es", CLOSED, "--drain-timeout", "0"],
        ["report", "--es", CLOSED, "--format", "json"],
    ):
        done = run(*argv, env=env)
        assert done.returncode == exit_codes.UNAVAILABLE, done.stderr
        assert _one_line(done).startswith(f"oom-enricher {argv[0]}: {expected}")


def test_verbose_shows_the_details():
    done = run("setup", "--es", CLOSED, "--verbose")
    assert done.returncode == exit_codes.UNAVAILABLE
    assert b"ConnectionRefusedError" in done.stderr and b"Traceback" in done.stderr


def test_kibana_unreachable_is_one_line_and_exit_3():
    done = run("kibana", "import", "--kibana", "http://127.0.0.1:1")
    assert done.returncode == exit_codes.UNAVAILABLE
    assert _one_line(done) == (
        "oom-enricher kibana import: cannot reach Kibana at http://127.0.0.1:1: "
        "connection refused; check the URL and that the service is running"
    )


def test_stray_files_in_the_spool_directory_are_skipped_and_logged_once(tmp_path, caplog):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / "notes.jsonl").write_text("not a segment\n")
    (spool_dir / "backup-1.jsonl").write_text("{}\n")
    (spool_dir / "README").write_text("mine\n")
    caplog.set_level(logging.WARNING)
    spool = DiskSpool(spool_dir)
    assert spool.pending == 0
    spool.append([{"a": 1}])
    assert spool.oldest().documents == [{"a": 1}]
    spool.close()
    warnings = [r.getMessage() for r in caplog.records if "spool" in r.name]
    assert len(warnings) == 1 and "ignoring 2 file(s) that are not spool segments" in warnings[0]
    assert (spool_dir / "notes.jsonl").read_text() == "not a segment\n"


def test_a_line_longer_than_the_cap_is_cut_and_counted(tmp_path):
    path = tmp_path / "long.log"
    path.write_bytes(b"a" * (3 << 20) + b"\nshort\n" + b"b" * 5000)
    stats = ReadStats()
    lines = list(read_lines([str(path)], stats, max_line_bytes=4096))
    assert [len(x) for x in lines] == [4096, 5, 4096]
    assert lines[1] == "short"
    assert (stats.lines_cut, stats.bytes_cut) == (2, (3 << 20) - 4096 + 5000 - 4096)


def _feed(proc: subprocess.Popen, head: bytes, zeros: int, tail: bytes) -> None:
    block = b"\0" * (1 << 20)
    proc.stdin.write(head)
    for _ in range(zeros >> 20):
        proc.stdin.write(block)
    proc.stdin.write(b"\n" + tail)
    proc.stdin.close()


# A child's ru_maxrss starts from the RSS of the process it was forked from (Linux records
# the old address space's peak at exec), so a child of a large pytest process reports
# pytest's size. The command runs under this small launcher instead, which writes the peak
# of its own child to the file named first.
PEAK_RSS_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _with_peak_rss(command: list[str], peak_file: Path) -> list[str]:
    return [sys.executable, "-c", PEAK_RSS_LAUNCHER, str(peak_file), *command]


def test_the_peak_rss_of_a_child_is_its_own_not_the_parents(tmp_path):
    ballast = bytearray(300 << 20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1  # resident in this process
    direct = subprocess.Popen([sys.executable, "-c", "pass"])
    _, _, usage = os.wait4(direct.pid, 0)
    assert usage.ru_maxrss > 300 << 10  # what the launcher is for
    peak_file = tmp_path / "peak"
    subprocess.run(_with_peak_rss([sys.executable, "-c", "pass"], peak_file), check=True)
    assert int(peak_file.read_text()) < 100 << 10
    del ballast


def test_an_endless_line_through_a_pipe_stays_bounded_and_reading_goes_on(tmp_path):
    """256 MiB without a newline (like `parse - < /dev/zero`), then a report: memory stays
    bounded, the line is cut and counted, and the report after it is still found."""
    peak_file = tmp_path / "peak"
    proc = subprocess.Popen(
        _with_peak_rss([sys.executable, "-m", "oom_enricher", "parse", "-"], peak_file),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(proc.stdout.read())),
        threading.Thread(target=lambda: err.append(proc.stderr.read())),
    ]
    for reader in readers:
        reader.start()
    _feed(proc, b"Nov 25 10:00:00 h kernel: ", 256 << 20, SEED.read_bytes())
    proc.wait()
    for reader in readers:
        reader.join()
    assert proc.returncode == 0, err[0]
    (doc,) = [orjson.loads(line) for line in out[0].splitlines()]
    assert doc["oom"]["victims"][0]["pid"] == 20977
    assert b"1 line(s) longer than the line cap (--max-line-bytes) cut" in err[0]
    peak_kib = int(peak_file.read_text())
    assert peak_kib < 200 << 10, f"max RSS {peak_kib} KiB"
