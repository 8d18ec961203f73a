"""`parse` and `explain` start without importing what only other commands need."""

from __future__ import annotations

import subprocess
import sys

from oom_enricher.cli.main import build_parser, chosen_command
from tests.corpus_cases import REPO

SAMPLE = REPO / "oom_enricher" / "samples" / "seed-docker-beam.log"
HEAVY = ("elasticsearch", "elastic_transport", "urllib3", "asyncio")


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from oom_enricher.cli.main import main\n"
        f"status = main({argv!r})\n"
        "print(','.join(sorted(sys.modules)), file=sys.stderr)\n"
        "raise SystemExit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
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
