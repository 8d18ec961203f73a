"""`explain` fits its width: 80 columns when not a terminal, never breaking inside a name or
a number with its unit, long paths shortened in the middle."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from oom_enricher.sinks.explain_text import render, shorten_middle
from oom_enricher.skimming.skim_files import skim_documents
from tests.corpus_cases import REPO

CORPUS = sorted((REPO / "tests" / "corpus").glob("*.log"))
K8S = REPO / "tests" / "corpus" / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log"
MULTI = REPO / "tests" / "corpus" / "016-k8s-memcg-oom-group-multikill-dmesgT.log"
THUNDERBIRD = REPO / "tests" / "corpus" / "010-memcg-v2-6.5-nixos-memory-max-write-thunderbird.log"
UNIT = re.compile(r"(?:[KMGTP]iB|B|kB|pages?|%)\b")


def _explain(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "explain", *args],
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def _docs() -> list[dict]:
    return [doc for log in CORPUS for doc in skim_documents([str(log)])]


def test_explain_of_the_whole_corpus_fits_80_columns_when_piped():
    text = _explain(*map(str, CORPUS))
    too_long = [line for line in text.splitlines() if len(line) > 80]
    assert too_long == []


@pytest.mark.parametrize("width", [80, 64, 100])
def test_no_line_breaks_inside_a_number_and_its_unit_or_inside_a_name(width):
    for doc in _docs():
        lines = render(doc, 1, width).splitlines()
        assert all(len(line) <= width for line in lines)
        for line, after in zip(lines, lines[1:], strict=False):
            if re.search(r"\d$", line) and after.strip():
                assert not UNIT.match(after.strip()), (line, after)
            if re.search(r"\b(pid|score)$", line):
                assert not after.strip()[:1].isdigit(), (line, after)
        names = {doc.get("host", {}).get("name")} | {
            v["name"] for v in doc["oom"].get("victims") or []
        }
        flat = "\n".join(lines)
        for name in filter(None, names):
            if len(name) < width - 13 and name in doc["oom"].get("explanation", ""):
                assert name in flat, name  # never split over two lines


def test_the_usage_bar_and_the_container_line_fit():
    text = _explain(str(K8S))
    bar = next(line for line in text.splitlines() if line.startswith("  memory "))
    assert bar == "  memory       [#####################################] 100 MiB of 100 MiB (100%)"
    assert (
        "  container  pod 5931aa75-4603-4e65-b552-7c71cf55cfb5 (burstable), containerd\n"
        "             25a38b5b8d55\n" in text
    )


def test_long_paths_are_shortened_in_the_middle():
    text = _explain(str(THUNDERBIRD))
    assert "/user.slice/user-1000.slice/…/app-gnome-thunderbird-265606.scope" in text
    path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5931aa75_4603.slice"
    assert shorten_middle(path, 60) == "/kubepods.slice/…/kubepods-burstable-pod5931aa75_4603.slice"
    assert shorten_middle("x" * 30, 11) == "xxxxx…xxxxx"


def test_a_title_with_many_victims_fits_and_its_underline_matches():
    lines = _explain(str(MULTI)).splitlines()
    assert lines[0] == (
        "OOM report #1: killed stress (3804874), sleep (3803554) and 8 more  [incomplete]"
    )
    assert lines[1] == "=" * 80
    wide = _explain("--width", "120", str(MULTI)).splitlines()
    assert wide[0] == (
        "OOM report #1: killed stress (3804874), sleep (3803554), bash (3803846) and 7 more"
        "  [incomplete]"
    )
    assert wide[1] == "=" * len(wide[0])


def test_top_consumers_of_an_incomplete_report_are_of_the_rows_shown():
    """A table whose start or rows may be missing ranks only the rows the report shows."""
    whole = next(doc for doc in _docs() if doc["oom"]["complete"] and doc["oom"]["top_consumers"])
    part = dict(whole, oom=dict(whole["oom"], complete=False, incomplete_reason="missing_start"))
    assert "(resident memory in the task table)" in render(whole, width=100)
    assert "(resident memory of the rows shown)" in render(part, width=100)


@pytest.mark.parametrize(
    ("first", "inferred"),
    [
        ("Jan  6 07:32:35 web1 kernel: ", True),  # RFC 3164: no year
        ("[Thu Jan  6 07:32:35 2011] ", False),  # dmesg -T prints it
    ],
)
def test_a_year_the_log_does_not_print_is_said_to_be_inferred(tmp_path, first, inferred):
    lines = [
        "sh invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        "Out of memory: Killed process 9 (sh) total-vm:100kB, anon-rss:50kB, file-rss:0kB, "
        "shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0",
    ]
    path = tmp_path / "log"
    path.write_text("".join(first + line + "\n" for line in lines), encoding="utf-8")
    (doc,) = skim_documents([str(path)])
    when = next(line for line in render(doc, width=100).splitlines() if "when" in line)
    assert ("(year inferred: none in the log)" in when) is inferred


def test_a_kill_of_another_pid_without_a_task_table_is_not_called_a_child():
    """Without the table a killed pid other than the chosen one may be a child or the
    chosen thread's process: explain's line says only that another task was killed."""
    from oom_enricher.pipeline import documents_from_lines

    (doc,) = documents_from_lines(
        [
            "Out of memory: Kill process 16959 (AsyncBlockInput) score 947 or sacrifice child",
            "Killed process 19079 (clickhouse-serv) total-vm:9000kB, anon-rss:8000kB, file-rss:0kB",
        ]
    )
    text = render(doc, width=100)
    assert "another task was killed" in text and "its child" not in text
