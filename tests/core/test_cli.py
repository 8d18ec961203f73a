"""The parse and explain commands as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.corpus_cases import REPO

SEED = REPO / "tests" / "corpus" / "seed-docker-beam.log"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oom_enricher", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        check=False,
    )


def test_parse_prints_one_json_document_per_report():
    done = run(
        "parse", str(REPO / "tests/corpus/034-global-4.14-next-sacrifice-child-no-task-dump.log")
    )
    assert done.returncode == 0
    docs = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [doc["oom"]["victims"][0]["pid"] for doc in docs] == [14458, 14459]


def test_parse_reads_stdin_and_exit_1_when_no_report():
    assert run("parse", "-", stdin=SEED.read_bytes()).returncode == 0
    done = run("parse", stdin=b"Nov 25 10:00:00 h sshd[1]: nothing to see\n")
    assert (done.returncode, done.stdout) == (1, b"")


def test_missing_file_is_an_io_error_but_other_files_are_still_read(tmp_path: Path):
    done = run("parse", str(tmp_path / "absent.log"), str(SEED))
    assert done.returncode == 2
    assert b"cannot read" in done.stderr and b"absent.log" in done.stderr
    assert len(done.stdout.splitlines()) == 1


def test_usage_error_exit_2():
    assert run("parse", "--no-such-flag").returncode == 2
    assert run().returncode == 2


def test_undecodable_bytes_are_replaced_and_counted(tmp_path: Path):
    broken = tmp_path / "broken.log"
    broken.write_bytes(SEED.read_bytes().replace(b"Xen HVM", b"X\xff\xfeen HVM"))
    done = run("parse", str(broken))
    assert done.returncode == 0
    assert b"2 undecodable byte sequence(s)" in done.stderr
    doc = orjson.loads(done.stdout)
    assert doc["host"]["hardware"].startswith("X\ufffd\ufffden HVM")


def test_host_option_names_bare_input():
    doc = orjson.loads(run("parse", "--host", "db7", str(SEED)).stdout)
    assert doc["host"]["name"] == "db7"


def test_explain_answers_the_seed_question():
    done = run("explain", str(SEED))
    assert done.returncode == 0
    text = done.stdout.decode()
    flat = " ".join(text.split())
    for fact in (
        "killed sh (20977)",
        "memory+swap",
        "/docker/a4d47fb7bbc8",
        "512 MiB",
        "beam.smp (pid 20911",
        "thread of process 20879",
        "badness score 1001",
        "child sh (pid 20977) instead",
        "vm.oom_kill_allocating_task=1",
    ):
        assert fact in flat, fact
    assert "  memory+swap  [" + "#" * 37 + "] 512 MiB of 512 MiB (100%)\n" in text


def test_explain_reports_nothing_found():
    done = run("explain", stdin=b"just noise\n")
    assert done.returncode == 1
    assert b"no OOM report found" in done.stderr
