"""`parse` and `explain` start without importing what only other commands need."""

from __future__ import annotations

import subprocess
import sys

from oom_enricher.cli.main import build_parser, chosen_command
from tests.corpus_cases import REPO

SAMPLE = REPO / "oom_enricher" / "samples" / "seed-docker-beam.log"
HEAVY = ("elasticsearch", "elastic_transport", "urllib3", "asyncio")


def _modules_after(argv: list[str], status: int = 0) -> set[str]:
    code = (
        "import sys\n"
        "from oom_enricher.cli.main import main\n"
        "try:\n"
        f"    status = main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    status = exit.code\n"
        "print(','.join(sorted(sys.modules)), file=sys.stderr)\n"
        "raise SystemExit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert done.returncode == status, done.stderr
    return set(done.stderr.strip().splitlines()[-1].split(","))


def test_every_command_imported_the_elasticsearch_client_now_parse_does_not():
    loaded = _modules_after(["parse", str(SAMPLE)])
    assert "oom_enricher.enrich.document" in loaded
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]


def test_explain_does_not_import_the_elasticsearch_client():
    loaded = _modules_after(["explain", str(SAMPLE)])
    assert not [name for name in loaded if name.split(".")[0] in HEAVY]


def test_chosen_command_skips_global_options():
    assert chosen_command(["--log-level", "DEBUG", "ship", "x.log"]) == "ship"
    assert chosen_command(["--log-level=INFO", "parse"]) == "parse"
    assert chosen_command(["--help"]) is None
    assert chosen_command(["bogus"]) is None


def test_top_level_help_still_lists_every_command():
    text = build_parser(None).format_help()
    for command in ("parse", "explain", "report", "kibana", "setup", "ship", "backfill", "serve"):
        assert command in text


def _ours(loaded: set[str], *packages: str) -> list[str]:
    return [name for name in loaded if name.startswith(packages)]


def test_parse_of_a_log_without_reports_imports_no_parsing_or_enrichment(tmp_path):
    log = tmp_path / "quiet.log"
    log.write_text("Nov 20 08:00:00 web-1 sshd[42]: session closed for user deploy\n" * 100)
    loaded = _modules_after(["parse", str(log)], status=1)
    assert "oom_enricher.reassembly.assembler" in loaded  # it did read the lines
    assert not _ours(loaded, "oom_enricher.enrich", "oom_enricher.parsing")


def test_parse_usage_and_help_import_no_pipeline():
    for argv, status in ((["parse", "--help"], 0), (["parse", "--max-report-lines", "0"], 2)):
        loaded = _modules_after(argv, status=status)
        assert "oom_enricher.cli.parse_cmd" in loaded
        assert not _ours(loaded, "oom_enricher.pipeline", "oom_enricher.normalize"), argv
        assert not _ours(loaded, "oom_enricher.reassembly.assembler", "oom_enricher.enrich")


def test_parse_of_a_small_file_starts_no_worker_processes():
    loaded = _modules_after(["parse", str(SAMPLE)])
    assert "multiprocessing" not in loaded
    assert "oom_enricher.skimming.split_file" not in loaded
