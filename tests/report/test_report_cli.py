import argparse
import json
from pathlib import Path

from oom_enricher.cli import report_cmd
from oom_enricher.report.render import render_markdown
from oom_enricher.report.trends import build_report
from tests.report.fleet import fleet_documents


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.run(args)


def _write_jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in fleet_documents()) + "\n")
    return path


def test_report_from_jsonl_in_every_format(tmp_path):
    source = _write_jsonl(tmp_path / "parsed.jsonl")
    for fmt in ("json", "md", "html"):
        out = tmp_path / f"report.{fmt}"
        assert _run(["report", "--from", str(source), "--format", fmt, "-o", str(out)]) == 0
    assert json.loads((tmp_path / "report.json").read_text()) == build_report(fleet_documents())
    assert (tmp_path / "report.md").read_text() == render_markdown(build_report(fleet_documents()))
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_since_and_until_bound_the_period(tmp_path, capsys):
    source = _write_jsonl(tmp_path / "parsed.jsonl")
    argv = ["report", "--from", str(source), "--format", "json"]
    assert _run([*argv, "--until", "2026-10-10T00:00:00Z", "--since", "3d"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["kills"] == 3  # the 7th, 8th and 9th
    assert report["period"] == {
        "from": "2026-10-07T00:00:00Z",
        "to": "2026-10-10T00:00:00Z",
        "first_kill": "2026-10-07T03:00:00Z",
        "last_kill": "2026-10-09T12:00:00Z",
    }


def test_bad_input_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"@timestamp": "2026-10-05T10:00:00Z"}\nnot json\n')
    assert _run(["report", "--from", str(bad), "--format", "json"]) == 2
    assert "bad.jsonl:2: not JSON" in capsys.readouterr().err
    assert _run(["report", "--from", str(bad), "--since", "soon"]) == 2
