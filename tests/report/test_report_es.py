"""`report --es` reads the data stream with the official client and agrees with `--from`."""

import argparse
import json
from datetime import UTC, datetime

import pytest

from oom_enricher.cli import report_cmd
from oom_enricher.report.trends import ReportOptions, build_report
from tests.dashboards.indexing import setup_and_index
from tests.report.fleet import fleet_documents

pytestmark = pytest.mark.integration
NAMESPACE = "report"
STREAM = f"logs-oom_enricher.oom-{NAMESPACE}"


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    report_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.run(args)


@pytest.fixture(scope="module")
def stream(es_url, tmp_path_factory) -> str:
    setup_and_index(es_url, NAMESPACE, fleet_documents(), tmp_path_factory.mktemp("sink"))
    return es_url


def test_report_from_elasticsearch_matches_the_files(stream, capsys):
    argv = ["report", "--es", stream, "--index", STREAM, "--format", "json"]
    argv += ["--until", "2026-10-21T00:00:00Z", "--since", "30d"]
    assert _run(argv) == 0
    got = json.loads(capsys.readouterr().out)
    options = ReportOptions(
        since=datetime(2026, 9, 21, tzinfo=UTC), until=datetime(2026, 10, 21, tzinfo=UTC)
    )
    assert got == build_report(fleet_documents(), options)
    assert got["totals"]["kills"] == 9


def test_since_window_leaves_older_kills_out(stream, capsys):
    argv = ["report", "--es", stream, "--index", STREAM, "--format", "json"]
    assert _run([*argv, "--until", "2026-10-21T00:00:00Z", "--since", "2d"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["kills"] == 1  # only 2026-10-20 14:00
    assert [w["kills"] for w in report["weekly"]] == [1]


def test_unreachable_elasticsearch_is_one_line(capsys):
    argv = ["report", "--es", "http://127.0.0.1:9", "--format", "json", "--es-timeout", "2"]
    assert _run(argv) == 3
    err = capsys.readouterr().err
    assert err == (
        "oom-enricher report: cannot reach Elasticsearch at http://127.0.0.1:9: "
        "connection refused; check the URL and that the service is running\n"
    )


def test_documents_stamped_with_ingest_time_are_counted_as_undated(es_url, tmp_path, capsys):
    """The ingest pipeline gives a document without wall-clock time its ingest time, so
    Kibana shows it at that time; the report keeps it out of every series and counts it."""
    undated = {k: v for k, v in fleet_documents()[0].items() if k != "@timestamp"}
    undated["event"] = {**undated["event"], "id": "undated-1"}
    dated = fleet_documents()[8]
    setup_and_index(es_url, "report_undated", [undated, dated], tmp_path)
    capsys.readouterr()  # setup's own lines
    argv = ["report", "--es", es_url, "--index", "logs-oom_enricher.oom-report_undated"]
    assert _run([*argv, "--format", "json", "--since", "3650d"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["kills"] == 1
    assert report["totals"]["undated_documents_skipped"] == 1
    assert [d["kills"] for d in report["daily"]] == [1]
