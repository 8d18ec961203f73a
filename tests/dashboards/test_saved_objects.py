"""The committed NDJSON: up to date, self-consistent, and built on the document contract."""

import json

import pytest

from oom_enricher.dashboards import spec
from oom_enricher.dashboards.fields import AGGREGATABLE, SpecError, check_dashboards, field_type
from oom_enricher.dashboards.generate import NDJSON_PATH, PACKAGE_PATH, generated, main
from oom_enricher.dashboards.saved_objects import all_objects, to_ndjson
from oom_enricher.dashboards.spec_types import Dashboard, LensPanel, Metric, Terms
from tests.dashboards.ndjson import lens_columns, lens_panels, load_objects, panels


def test_committed_file_is_what_the_spec_generates():
    assert NDJSON_PATH.read_bytes() == generated().encode("utf-8")
    assert PACKAGE_PATH.read_bytes() == generated().encode("utf-8")
    assert generated() == to_ndjson(all_objects())  # deterministic within one process
    assert main(["--check"]) == 0


def test_check_flags_a_stale_file(tmp_path):
    stale = tmp_path / "stale.ndjson"
    stale.write_text(generated().replace("OOM kills", "OOM kilns", 1))
    assert main(["--check", "--output", str(stale)]) == 1
    assert main(["--output", str(stale)]) == 0
    assert stale.read_text() == generated()


def test_objects_and_stable_ids():
    objects = load_objects()
    kinds = [(o["type"], o["attributes"]["title"]) for o in objects]
    assert kinds == [
        ("index-pattern", "logs-oom_enricher.oom-*"),
        ("search", "OOM kills"),
        ("search", "OOM kills in pods not named yet"),
        ("search", "OOM kill — report text"),
        ("dashboard", "OOM kills — fleet overview"),
        ("dashboard", "OOM kill — detail"),
    ]
    ids = [o["id"] for o in objects]
    assert len(set(ids)) == len(ids)
    # uuid5 of the names: these ids never change unless a title does
    assert ids[0] == "oom_enricher-808af93c-00de-5567-ab46-d9bfaf3fd3c0"
    for obj in objects:
        assert obj["managed"] is False
        assert obj["coreMigrationVersion"] == "8.8.0"
        assert "version" not in obj


def test_string_encoded_attributes_are_json_strings():
    for obj in load_objects():
        attrs = obj["attributes"]
        meta = attrs.get("kibanaSavedObjectMeta")
        if meta:
            assert isinstance(meta["searchSourceJSON"], str)
            json.loads(meta["searchSourceJSON"])
        if obj["type"] == "dashboard":
            assert isinstance(attrs["panelsJSON"], str)
            assert isinstance(attrs["optionsJSON"], str)


def _resolve(refs: list[dict], name: str, by_id: dict) -> dict:
    matches = [r for r in refs if r["name"] == name]
    assert len(matches) == 1, name
    ref = matches[0]
    assert (ref["type"], ref["id"]) in by_id, ref
    return by_id[(ref["type"], ref["id"])]


def test_every_reference_resolves_inside_the_file():
    objects = load_objects()
    by_id = {(o["type"], o["id"]): o for o in objects}
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in by_id, (obj["attributes"]["title"], ref)
        if obj["type"] == "search":
            source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            target = _resolve(obj["references"], source["indexRefName"], by_id)
            assert target["attributes"]["title"] == "logs-oom_enricher.oom-*"
    names_used = set()
    for board in (o for o in objects if o["type"] == "dashboard"):
        refs = board["references"]
        for panel in panels(board):
            idx = panel["panelIndex"]
            assert panel["gridData"]["i"] == idx
            config = panel["embeddableConfig"]
            if panel["type"] == "lens":
                assert "panelRefName" not in panel
                for inner in config["attributes"]["references"]:
                    name = f"{idx}:{inner['name']}"
                    assert _resolve(refs, name, by_id)["type"] == "index-pattern"
                    assert {**inner, "name": name} in refs
                    names_used.add(name)
                for event in config["enhancements"].get("dynamicActions", {}).get("events", []):
                    name = f"{idx}:drilldown:{event['action']['factoryId']}:{event['eventId']}"
                    name += ":dashboardId"
                    target = _resolve(refs, name, by_id)
                    assert target["attributes"]["title"] == "OOM kill — detail"
                    names_used.add(name)
            elif panel["type"] == "search":
                name = f"{idx}:{panel['panelRefName']}"
                assert _resolve(refs, name, by_id)["type"] == "search"
                names_used.add(name)
            elif panel["type"] == "links":
                for link in config["attributes"]["links"]:
                    name = f"{idx}:{link['destinationRefName']}"
                    assert _resolve(refs, name, by_id)["type"] == "dashboard"
                    names_used.add(name)
            else:
                pytest.fail(f"unexpected panel type {panel['type']}")
        assert {r["name"] for r in refs} <= names_used  # no dangling extra references


def test_overview_reaches_the_detail_dashboard():
    objects = load_objects()
    overview, detail = (o for o in objects if o["type"] == "dashboard")
    detail_refs = [r for r in overview["references"] if r["id"] == detail["id"]]
    assert any(":link_" in r["name"] for r in detail_refs)
    drilldowns = [r for r in detail_refs if ":drilldown:" in r["name"]]
    assert len(drilldowns) >= 6
    titles = {p["title"] for p in panels(overview)}
    assert {
        "Kills over time by scope",
        "Top hosts",
        "Top containers",
        "Top Kubernetes pods",
        "Top systemd units",
        "Top victim processes",
        "Which limit was hit",
        "Usage of the limit at kill time",
        "Repeat offenders: kills per cgroup per day",
        "Recent kills",
    } <= titles


def test_every_panel_field_is_in_the_contract_and_aggregatable():
    seen = set()
    for _board, panel in lens_panels(load_objects()):
        for column in lens_columns(panel):
            if column["sourceField"] == "___records___":
                continue
            assert field_type(column["sourceField"]) in AGGREGATABLE, column["sourceField"]
            seen.add(column["sourceField"])
    assert {"host.name", "oom.scope", "oom.limit_hit", "oom.usage_ratio"} <= seen
    for search in (o for o in load_objects() if o["type"] == "search"):
        for column in search["attributes"]["columns"]:
            field_type(column)  # raises for a field off the contract


def test_grids_fit_and_do_not_overlap():
    for board in (o for o in load_objects() if o["type"] == "dashboard"):
        cells = set()
        for panel in panels(board):
            g = panel["gridData"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 48
            area = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & area, panel["title"]
            cells |= area


def test_generation_fails_for_fields_off_the_contract():
    bad = LensPanel("Bad", "bar_horizontal", (Metric("count"),), (Terms("host.nmae"),))
    with pytest.raises(SpecError, match="host.nmae"):
        check_dashboards((Dashboard("x", "", (bad,)),), ())
    text_field = LensPanel("Text", "bar_horizontal", (Metric("count"),), (Terms("message"),))
    with pytest.raises(SpecError, match="cannot be bucketed"):
        check_dashboards((Dashboard("x", "", (text_field,)),), ())
    summed = LensPanel("Sum", "metric", (Metric("sum", "host.name"),))
    with pytest.raises(SpecError, match="needs a number"):
        check_dashboards((Dashboard("x", "", (summed,)),), ())
    check_dashboards(spec.DASHBOARDS, spec.SEARCHES)
