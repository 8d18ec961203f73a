"""`report` over the real corpus, parsed by the real parser (no stored copies of documents)."""

import json
from pathlib import Path

import pytest

from oom_enricher.report.render import render_html, render_json, render_markdown
from oom_enricher.report.tables import report_tables
from oom_enricher.report.trends import build_report
from oom_enricher.skimming.skim_files import skim_documents
from tests.report.chromium import ensure_chromium
from tests.report.dom import markdown_tables, parse_dom
from tests.report.test_report_browser import check_rendered

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def corpus_documents() -> list[dict]:
    """Each file parsed on its own, as separate hosts' logs would be."""
    return [doc for log in sorted(CORPUS.glob("*.log")) for doc in skim_documents([str(log)])]


def test_corpus_report_numbers_agree_across_formats():
    docs = corpus_documents()
    report = build_report(docs)
    assert report["totals"]["kills"] + report["totals"]["undated_documents_skipped"] == len(docs)
    assert len(docs) >= len(list(CORPUS.glob("*.log")))
    assert json.loads(render_json(report)) == report
    dom = parse_dom(render_html(report))
    md = markdown_tables(render_markdown(report))
    for table in report_tables(report):
        assert dom.tables[table.key] == table.rows
        assert md[table.title] == table.rows
    scopes = {r["key"] for r in report["by_scope"]}
    assert {"memcg", "global"} <= scopes
    assert report["limit_deaths"], "corpus has memcg kills at their limit"


@pytest.mark.integration
def test_corpus_report_renders_in_chromium(tmp_path):
    page = tmp_path / "corpus-report.html"
    page.write_text(render_html(build_report(corpus_documents())), encoding="utf-8")
    check_rendered(ensure_chromium(), page, tmp_path / "corpus-report.png")
