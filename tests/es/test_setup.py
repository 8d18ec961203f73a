from pathlib import Path

import pytest

from oom_enricher.cli.main import main
from oom_enricher.schema.document_fields import FIELDS, OBJECT_ARRAYS
from oom_enricher.sinks.elasticsearch import names, templates
from oom_enricher.sinks.elasticsearch.installer import UNCHANGED, UPDATED, install

from .helpers import client, flatten_properties, make_document, unique_namespace

PIPELINES_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "elasticsearch"

EXPECTED_TYPE = {
    "original": "keyword",
    "text_with_keyword": "text",
}


def test_committed_json_files_are_generated_from_the_schema():
    wanted = templates.rendered_files()
    on_disk = {p.name: p.read_text() for p in PIPELINES_DIR.glob("*.json")}
    assert on_disk == wanted, "run scripts/es-generate-pipelines and commit the result"


def test_every_contract_field_has_an_explicit_mapping():
    mappings = templates.mappings_component()["template"]["mappings"]
    assert mappings["dynamic"] is False
    flat = flatten_properties(mappings["properties"])
    for name, kind in FIELDS.items():
        assert flat[name]["type"] == EXPECTED_TYPE.get(kind, kind), name
    for array, members in OBJECT_ARRAYS.items():
        for member, kind in members.items():
            assert flat[f"{array}.{member}"]["type"] == kind
    assert flat["event.original"] == {"type": "keyword", "index": False, "doc_values": False}
    assert flat["oom.explanation"]["fields"]["keyword"]["type"] == "keyword"


def test_index_template_names_the_stream_and_outranks_builtin_logs_templates():
    body = templates.index_template("prod", "7d")
    assert body["index_patterns"] == ["logs-oom_enricher.oom-prod"]
    assert body["priority"] > 500
    assert body["template"]["lifecycle"] == {"data_retention": "7d"}
    assert body["_meta"]["managed_by"] == "oom-enricher"
    with pytest.raises(ValueError):
        templates.index_template("Bad-Name")


def _served_type(node_type: str, wanted: str) -> bool:
    # The Maven Central test node maps match_only_text as text (scripts/es-node/README.md).
    return node_type == wanted or (wanted == "match_only_text" and node_type == "text")


@pytest.mark.integration
def test_setup_twice_is_a_no_op_and_the_stream_uses_the_template(es_url, capsys):
    namespace = unique_namespace()
    assert main(["setup", "--es", es_url, "--namespace", namespace, "--retention", "9d"]) == 0
    first = capsys.readouterr().out
    assert "index_template oom_enricher-oom-" + namespace + ": created" in first
    assert main(["setup", "--es", es_url, "--namespace", namespace, "--retention", "9d"]) == 0
    second = capsys.readouterr().out
    assert "created" not in second and "updated" not in second
    assert "up to date, nothing changed" in second

    es = client(es_url)
    stream = names.data_stream_name(namespace)
    es.index(index=stream, id="one", document=make_document(1), op_type="create", refresh=True)
    served = es.indices.get_mapping(index=stream).body
    (backing,) = served
    assert backing.startswith(f".ds-{stream}-")
    mapping = served[backing]["mappings"]
    assert mapping["dynamic"] == "false"
    # served mappings leave out "type": "object" on object fields, so compare the leaves
    flat = flatten_properties(mapping["properties"])
    generated = templates.mappings_component()["template"]["mappings"]["properties"]
    wanted = {k: v for k, v in flatten_properties(generated).items() if v["type"] != "object"}
    assert set(flat) == set(wanted)
    for name, spec in wanted.items():
        assert _served_type(flat[name]["type"], spec["type"]), name
    assert flat["event.original"] == {"type": "keyword", "index": False, "doc_values": False}

    settings = es.indices.get_settings(index=stream).body[backing]["settings"]["index"]
    assert settings["mode"] == "standard"
    assert settings["default_pipeline"] == names.PIPELINE

    state = es.cluster.state(metric="metadata", filter_path="metadata.data_stream").body
    stream_meta = state["metadata"]["data_stream"]["data_stream"][stream]
    assert stream_meta["lifecycle"]["data_retention"] == "9d"

    doc = es.get(index=backing, id="one").body["_source"]
    assert doc["event"]["ingested"]  # set by the ingest pipeline
    assert doc["oom"]["memcg_stats"] == {"anon": "1048576", "file": "0"}


@pytest.mark.integration
def test_a_newer_version_upgrades_in_place(es_url):
    namespace = unique_namespace()
    es = client(es_url)
    install(es, namespace)
    stream = names.data_stream_name(namespace)
    es.index(index=stream, id="a", document=make_document(2), op_type="create", refresh=True)

    # What an older release installed: version one lower, without oom.explanation.
    old = templates.mappings_component()
    old["version"] -= 1
    old["_meta"]["content_hash"] = "older"
    del old["template"]["mappings"]["properties"]["oom"]["properties"]["explanation"]
    es.cluster.put_component_template(name=names.MAPPINGS_COMPONENT, body=old)

    steps = {(s.kind, s.name): s for s in install(es, namespace)}
    assert steps[("component_template", names.MAPPINGS_COMPONENT)].action == UPDATED
    assert steps[("pipeline", names.PIPELINE)].action == UNCHANGED
    installed = es.cluster.get_component_template(name=names.MAPPINGS_COMPONENT).body
    assert installed["component_templates"][0]["component_template"]["version"] == (
        templates.TEMPLATE_VERSION
    )
    # the next write goes to a fresh backing index built from the new templates
    es.index(index=stream, id="b", document=make_document(3), op_type="create", refresh=True)
    backing = sorted(es.indices.get(index=stream).body)
    assert len(backing) == 2
    assert all(install(es, namespace)[i].action == UNCHANGED for i in range(4))


@pytest.mark.integration
def test_a_failing_processor_is_recorded_on_the_document_not_dropped(es_url):
    es = client(es_url)
    install(es, unique_namespace())
    docs = [
        {"_source": make_document(5)},
        {"_source": {**make_document(6), "event": "not-an-object"}},
    ]
    result = es.ingest.simulate(id=names.PIPELINE, docs=docs).body["docs"]
    good, bad = (r["doc"]["_source"] for r in result)
    assert good["event"]["ingested"] and "error" not in good
    assert bad["error"]["type"] == "pipeline_error"
    assert "ingested" in bad["error"]["message"]
    assert bad["event"] == "not-an-object"
