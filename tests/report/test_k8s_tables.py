"""The fleet report names namespaces, workloads and pods once the kills carry their names."""

from __future__ import annotations

import copy

from oom_enricher.enrich.k8s_names import PodNames, names_update
from oom_enricher.enrich.k8s_workload import Workload
from oom_enricher.report.render import render_html, render_json, render_markdown
from oom_enricher.report.tables import report_tables
from oom_enricher.report.trends import build_report
from tests.report.dom import markdown_tables, parse_dom
from tests.report.fleet import POD_UID, fleet_documents

POD = "shop-web-7d9f8b6c5d-x2kqz"


def _named(doc: dict) -> dict:
    """A kill after the enricher's update (the same partial document it sends)."""
    if doc.get("kubernetes", {}).get("pod", {}).get("uid") != POD_UID:
        return doc
    names = PodNames(
        pod_uid=POD_UID,
        namespace="shop",
        pod_name=POD,
        workload=Workload("Deployment", "shop-web", "owner_reference"),
        preset="fluent-bit",
    )
    named = copy.deepcopy(doc)
    for key, value in names_update(names, "node", "container_id").items():
        if isinstance(value, dict):
            named.setdefault(key, {})
            for sub, item in value.items():
                target = named[key].get(sub)
                named[key][sub] = {**target, **item} if isinstance(target, dict) else item
        else:
            named[key] = value
    return named


def test_named_kills_rank_by_namespace_workload_and_pod_name():
    report = build_report([_named(doc) for doc in fleet_documents()])
    assert [(r["key"], r["kills"]) for r in report["by_namespace"]] == [("shop", 2)]
    assert [(r["key"], r["kills"]) for r in report["by_kubernetes_workload"]] == [
        ("shop/Deployment shop-web", 2)
    ]
    assert ("pod", f"shop/{POD}", 2) in [
        (r["kind"], r["key"], r["kills"]) for r in report["by_workload"]
    ]


def test_unnamed_pods_keep_their_uid_and_no_workload_table():
    report = build_report(fleet_documents())
    assert report["by_kubernetes_workload"] == []
    assert ("pod", POD_UID) in [(r["kind"], r["key"]) for r in report["by_workload"]]
    assert "by_kubernetes_workload" not in [t.key for t in report_tables(report)]


def test_the_workload_table_is_in_every_format():
    report = build_report([_named(doc) for doc in fleet_documents()])
    [table] = [t for t in report_tables(report) if t.key == "by_kubernetes_workload"]
    assert table.rows == [["shop/Deployment shop-web", "2", "22.2%"]]
    assert parse_dom(render_html(report)).tables["by_kubernetes_workload"] == table.rows
    assert markdown_tables(render_markdown(report))["By Kubernetes workload"] == table.rows
    assert '"by_kubernetes_workload"' in render_json(report)
