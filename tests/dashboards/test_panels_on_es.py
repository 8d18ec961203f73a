"""Every dashboard panel against the real node: template from `setup`, corpus documents."""

import json

import pytest
from elasticsearch import Elasticsearch

from oom_enricher.dashboards import spec
from oom_enricher.dashboards.es_query import empty_metrics, panel_query, rows
from oom_enricher.dashboards.spec_types import LensPanel
from oom_enricher.sinks.elasticsearch.k8s_enricher import KubernetesEnricher
from oom_enricher.sinks.elasticsearch.k8s_lookup import EsPodLookup
from tests.dashboards.indexing import setup_and_index
from tests.dashboards.ndjson import lens_columns, lens_panels, load_objects
from tests.es.test_k8s_names import _fluent_bit_record, _index_logs
from tests.report.test_report_corpus import corpus_documents

pytestmark = pytest.mark.integration
NAMESPACE = "dashboards"
STREAM = f"logs-oom_enricher.oom-{NAMESPACE}"


@pytest.fixture(scope="module")
def es(es_url, tmp_path_factory) -> Elasticsearch:
    work = tmp_path_factory.mktemp("sink")
    docs = corpus_documents()
    client = setup_and_index(es_url, NAMESPACE, docs, work)
    _name_the_pods(client, docs)
    return client


def _name_the_pods(es: Elasticsearch, docs: list[dict]) -> None:
    """Container logs of the corpus pods, then the enricher's pass, as in production."""
    logs = f"logstash-{NAMESPACE}-pods"
    pods = [d for d in docs if d.get("kubernetes", {}).get("pod", {}).get("uid")]
    records = [
        _fluent_bit_record(
            doc["kubernetes"]["pod"]["uid"],
            doc["container"]["id"],
            f"api-7d9f8b6c5d-{n}x2kq",
            "app",
        )
        for n, doc in zip("bcdfghjklmnpqrstvwxz", pods, strict=False)
    ]
    _index_logs(es, logs, records)
    stats = KubernetesEnricher(es, STREAM, EsPodLookup(es, logs)).run_once()
    assert stats.enriched == len(records) > 0
    es.indices.refresh(index=STREAM)


def _event_ids(es: Elasticsearch) -> list[str]:
    body = {"size": 0, "aggs": {"ids": {"terms": {"field": "event.id", "size": 100}}}}
    return [b["key"] for b in es.search(index=STREAM, body=body)["aggregations"]["ids"]["buckets"]]


def _lens_specs() -> list[LensPanel]:
    return [p for d in spec.DASHBOARDS for p in d.panels if isinstance(p, LensPanel)]


def test_panel_fields_are_aggregatable_in_the_installed_template(es):
    used = {
        c["sourceField"]
        for _, panel in lens_panels(load_objects())
        for c in lens_columns(panel)
        if c["sourceField"] != "___records___"
    }
    caps = es.field_caps(index=STREAM, fields=sorted(used))["fields"]
    for name in sorted(used):
        assert name in caps, f"{name} is not mapped by the installed template"
        (kind,) = caps[name].values()  # one type across the stream's backing indices
        assert kind["aggregatable"], f"{name} ({kind['type']}) is not aggregatable"
    columns = {
        c for o in load_objects() if o["type"] == "search" for c in o["attributes"]["columns"]
    }
    mapped = es.field_caps(index=STREAM, fields=sorted(columns))["fields"]
    assert columns <= set(mapped)


def test_the_spec_is_what_the_ndjson_holds():
    titles = [p["title"] for _, p in lens_panels(load_objects())]
    assert titles == [p.title for p in _lens_specs()]


@pytest.mark.parametrize("panel", _lens_specs(), ids=lambda p: p.title)
def test_panel_aggregation_returns_buckets(es, panel):
    response = es.search(index=STREAM, body=panel_query(panel)).body
    found = rows(panel, response)
    assert found, f"{panel.title}: no buckets"
    if panel in spec.DETAIL_DASHBOARD.panels:
        # one kill at a time, as the user filters on it: each figure shows for some kill
        empty = set(empty_metrics(panel, response))
        for event_id in _event_ids(es):
            body = {**panel_query(panel), "query": {"term": {"event.id": event_id}}}
            empty &= set(empty_metrics(panel, es.search(index=STREAM, body=body).body))
        assert empty == set()
    else:
        assert empty_metrics(panel, response) == []
    if panel.buckets:
        assert all(len(r["keys"]) == len(panel.buckets) for r in found)


@pytest.mark.parametrize(
    "panel",
    [p for p in spec.DETAIL_DASHBOARD.panels if isinstance(p, LensPanel)],
    ids=lambda p: p.title,
)
def test_every_detail_panel_shows_one_and_the_same_kill(es, panel):
    """Without a filter the detail panels agree on one kill (the newest), never mixing
    figures of several kills."""
    newest = es.search(index=STREAM, size=1, sort=[{"@timestamp": "desc"}], _source=["event.id"])
    (hit,) = newest["hits"]["hits"]
    found = rows(panel, es.search(index=STREAM, body=panel_query(panel)).body)
    assert {row["keys"][0] for row in found} == {hit["_source"]["event"]["id"]}


def test_links_keep_the_users_filters():
    links = [
        link
        for obj in load_objects()
        if obj["type"] == "dashboard"
        for p in json.loads(obj["attributes"]["panelsJSON"])
        if p["type"] == "links"
        for link in p["embeddableConfig"]["attributes"]["links"]
    ]
    assert len(links) == 4
    assert all(link["options"]["useCurrentFilters"] for link in links)
