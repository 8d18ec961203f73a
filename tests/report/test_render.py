"""The three formats carry the same numbers; charts show exactly the JSON's values."""

import json
import re

from oom_enricher.report.render import render_html, render_json, render_markdown
from oom_enricher.report.tables import report_tables
from oom_enricher.report.trends import build_report
from tests.report.dom import markdown_tables, parse_dom
from tests.report.fleet import fleet_documents


def _report() -> dict:
    return build_report(fleet_documents())


def test_html_and_markdown_tables_have_identical_cells():
    report = _report()
    dom = parse_dom(render_html(report))
    md = markdown_tables(render_markdown(report))
    for table in report_tables(report):
        assert dom.tables[table.key] == table.rows, table.key
        assert md[table.title] == table.rows, table.title
    assert dom.tables["weekly"] == [
        ["2026-W41", "2026-10-05", "5", "—"],
        ["2026-W42", "2026-10-12", "3", "-2 (-40.0%)"],
        ["2026-W43", "2026-10-19", "1", "partial week"],
    ]
    assert dom.tables["limit_deaths"][0][3] == "memory: 256.0 MiB"


def test_json_output_is_the_report():
    report = _report()
    assert json.loads(render_json(report)) == report


def test_chart_marks_match_json_numbers():
    report = _report()
    charts = {c["title"]: c["marks"] for c in parse_dom(render_html(report)).charts}
    daily = charts["OOM kills per day, by scope"]
    by_day: dict[str, float] = {}
    for mark in daily:
        by_day[mark["data-label"]] = by_day.get(mark["data-label"], 0) + float(mark["data-value"])
    assert by_day == {d["date"]: d["kills"] for d in report["daily"] if d["kills"]}
    assert {m["data-stack"] for m in daily} == {"global", "memcg"}
    weekly = [(m["data-label"], int(m["data-value"])) for m in charts["OOM kills per week"]]
    assert weekly == [(w["week"], w["kills"]) for w in report["weekly"]]
    hosts = [(m["data-label"], int(m["data-value"])) for m in charts["Top hosts"]]
    assert hosts == [(r["key"], r["kills"]) for r in report["by_host"]]
    victims = [(m["data-label"], int(m["data-value"])) for m in charts["Top victim processes"]]
    assert victims == [(r["key"], r["kills"]) for r in report["by_victim"]]


def test_html_is_self_contained():
    html = render_html(_report())
    dom = parse_dom(html)
    for tag, attrs in dom.elements:
        assert tag not in {"script", "link", "img", "iframe"}, tag
        for value in attrs.values():
            assert "http://" not in value or value == "http://www.w3.org/2000/svg"
            assert "https://" not in value
    assert "<svg" in html and "@import" not in html and "url(" not in html


def test_every_chart_has_axes_and_titles():
    html = render_html(_report())
    dom = parse_dom(html)
    classes = [a.get("class", "") for _, a in dom.elements]
    n_charts = len(dom.charts)
    assert n_charts >= 6
    assert classes.count("axis x-axis") == n_charts
    assert classes.count("axis y-axis") == n_charts
    assert classes.count("chart-title") == n_charts
    assert classes.count("axis-title") >= n_charts
    assert classes.count("legend") == 2  # the two column charts


def test_long_workload_labels_keep_their_kind_and_are_cut_in_the_middle():
    docs = fleet_documents()
    html = render_html(build_report(docs))
    labels = re.findall(r'class="tick-label"[^>]*>([^<]*)</text>', html)
    assert "pod: 5931aa75-4…71cf55cfb5" in labels
    assert all(len(label) <= 26 for label in labels)


def test_names_and_times_never_wrap_inside_themselves():
    html = render_html(build_report(fleet_documents()))
    assert ".nw{white-space:nowrap}" in html
    # every worst-incident time stamp and host is one unbreakable item
    worst = html[html.index('data-key="worst_incidents"') :]
    stamps = re.findall(
        r'<td class="wrap"><span class="nw">(2026-10-\d\dT[^<]+)</span></td>', worst
    )
    assert len(stamps) == len(build_report(fleet_documents())["worst_incidents"])
    hosts = html[html.index('data-key="by_workload"') :]
    assert '<span class="nw">web-1</span>' in hosts
