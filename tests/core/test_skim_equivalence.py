"""The skimming reader yields exactly the documents of line-by-line reading."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fleet_log import fleet_lines
from oom_enricher.pipeline import documents_from_lines
from oom_enricher.skimming.marker_finder import MarkerFinder
from oom_enricher.skimming.skim_files import skim_documents
from oom_enricher.sources.file_reader import read_lines
from tests.corpus_cases import REPO, corpus_cases

CORPUS = REPO / "tests" / "corpus"


def comparable(docs) -> list[dict]:
    out = []
    for doc in docs:
        doc = dict(doc, event=dict(doc["event"]))
        doc["event"].pop("created")
        out.append(doc)
    return out


def both(path: Path, use_hyperscan: bool = True) -> tuple[list[dict], list[dict]]:
    finder = MarkerFinder(use_hyperscan=use_hyperscan)
    skimmed = comparable(skim_documents([str(path)], finder=finder))
    by_line = comparable(documents_from_lines(read_lines([str(path)])))
    return skimmed, by_line


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda case: case.name)
def test_corpus_files(case):
    skimmed, by_line = both(case.log)
    assert skimmed == by_line


@pytest.mark.parametrize("use_hyperscan", [True, False], ids=["hyperscan", "bytes.find"])
def test_generated_fleet_log(tmp_path: Path, use_hyperscan: bool):
    path = tmp_path / "fleet.log"
    path.write_text("\n".join(fleet_lines(40_000, 50, 0.02, seed=11)) + "\n")
    skimmed, by_line = both(path, use_hyperscan)
    assert len(by_line) > 10
    assert skimmed == by_line


def test_chunked_reading_matches_mapped_file(tmp_path: Path, monkeypatch):
    from oom_enricher.skimming import skim_files

    path = tmp_path / "fleet.log"
    path.write_text("\n".join(fleet_lines(20_000, 30, 0.05, seed=5)) + "\n")
    mapped = comparable(skim_documents([str(path)]))
    monkeypatch.setattr(skim_files, "CHUNK_BYTES", 4096)  # many chunk boundaries
    monkeypatch.setattr(skim_files, "_map", lambda _stream: None)  # read like a pipe
    chunked = comparable(skim_documents([str(path)]))
    assert len(mapped) >= 5
    assert chunked == mapped


def test_thousands_of_hosts_mid_report_stay_cheap_and_equal(tmp_path: Path):
    # every host ends with the header of a report that never finishes: all stay open
    source = next(CORPUS.glob("007-*.log")).read_text()
    host = "aks-nodepool1-24207654-vmss000001"
    path = tmp_path / "open.log"
    path.write_text("".join(source.replace(host, f"h{n:05d}") for n in range(1500)))
    skimmed, by_line = both(path)
    assert len(skimmed) == 3000
    assert skimmed == by_line


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda case: case.name)
def test_a_file_whose_last_line_has_no_newline_is_parsed_and_parse_ends(tmp_path: Path, case):
    """A paste saved without a final newline: the skimmer read its last line and then
    waited forever for a next marker past the end of the file."""
    import subprocess
    import sys

    cut = tmp_path / case.log.name
    cut.write_bytes(case.log.read_bytes().rstrip(b"\n"))
    run = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", str(cut)],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    skimmed, by_line = both(cut)
    assert skimmed == by_line
    assert len(skimmed) == case.facts["events_in_file"]
    assert len(run.stdout.splitlines()) == len(skimmed)
    piped = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", "-"],
        input=cut.read_bytes(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert len(piped.stdout.splitlines()) == len(skimmed), piped.stderr
