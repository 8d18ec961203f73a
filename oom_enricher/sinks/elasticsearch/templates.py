"""Index templates, component templates and the ingest pipeline, generated from the schema.

`oom_enricher/schema/document_fields.py` is the one source of truth: this module turns it into
request bodies, `scripts/es-generate-pipelines` writes them to `pipelines/elasticsearch/`
(committed, checked by a test), and `setup` installs the same bodies.

Choices, and why:
* `dynamic: false` rather than `strict`: a field the parser adds before the template knows it
  is kept in `_source` (nothing lost, visible once mapped) instead of failing the whole
  document; `dynamic: true` would let shipper keys create text+keyword multi-fields and run
  into the 1000-field limit.
* `index.mode: standard`, set explicitly: Elasticsearch 9 makes new `logs-*-*` streams
  `logsdb` (synthetic `_source`, re-ordered arrays), which would change what reads back.
* `oom.memcg_stats` is `flattened`: the kernel adds and renames memcg counters across
  versions; one mapping covers them all. Its leaves are keywords (term/exists queries), the
  bytes that matter for charts are explicit longs under `oom.memory.*`.
* `oom.tasks`, `oom.victims`, `oom.top_consumers` are plain object arrays, not `nested`:
  Kibana cannot aggregate nested fields.
* `event.original` is a keyword that is neither indexed nor has doc values: retrievable, not
  searchable, as ECS recommends.
"""

from __future__ import annotations

import hashlib
import json

from oom_enricher.schema.document_fields import FIELDS, OBJECT_ARRAYS, SCHEMA_VERSION
from oom_enricher.sinks.elasticsearch import names

# Bump when a generated body changes for a reason other than the schema; setup upgrades
# clusters whose installed version is lower.
TEMPLATE_REVISION = 2
TEMPLATE_VERSION = SCHEMA_VERSION * 1000 + TEMPLATE_REVISION

KEYWORD_IGNORE_ABOVE = 1024

# Fields the ingest pipeline itself writes when a processor fails (see pipeline_body).
PIPELINE_FIELDS: dict[str, str] = {
    "error.message": "match_only_text",
    "error.type": "keyword",
}


def field_mapping(kind: str, members: dict[str, str] | None = None) -> dict:
    """The mapping of one field for a type name used in document_fields.py."""
    if kind == "keyword":
        return {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    if kind == "original":
        return {"type": "keyword", "index": False, "doc_values": False}
    if kind == "text_with_keyword":
        return {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}},
        }
    if kind == "object":
        if not members:
            raise ValueError("an object field needs its members in OBJECT_ARRAYS")
        return {"type": "object", "properties": properties_for(members)}
    if kind in {"date", "long", "float", "boolean", "match_only_text", "flattened", "ip"}:
        return {"type": kind}
    raise ValueError(f"no mapping rule for field type {kind!r}")


def properties_for(
    fields: dict[str, str], objects: dict[str, dict[str, str]] | None = None
) -> dict:
    """Nested `properties` for dotted field names, in sorted order (stable JSON files)."""
    root: dict = {}
    for dotted in sorted(fields):
        parts = dotted.split(".")
        node = root
        for part in parts[:-1]:
            parent = node.setdefault(part, {"properties": {}})
            if "properties" not in parent:
                raise ValueError(f"{dotted}: {part} is both a leaf and an object")
            node = parent["properties"]
        if parts[-1] in node:
            raise ValueError(f"{dotted} is defined twice")
        node[parts[-1]] = field_mapping(fields[dotted], (objects or {}).get(dotted))
    return root


def _with_meta(body: dict, description: str) -> dict:
    """Adds version and `_meta`, with a hash of everything else so setup can tell drift."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {
        **body,
        "version": TEMPLATE_VERSION,
        "_meta": {
            "managed_by": names.MANAGED_BY,
            "description": description,
            "schema_version": SCHEMA_VERSION,
            "content_hash": digest,
        },
    }


def mappings_component() -> dict:
    all_fields = {**FIELDS, **PIPELINE_FIELDS}
    body = {
        "template": {
            "mappings": {
                "dynamic": False,
                "date_detection": False,
                "properties": properties_for(all_fields, OBJECT_ARRAYS),
            }
        }
    }
    return _with_meta(body, "oom-enricher document mappings, generated from document_fields.py")


def settings_component() -> dict:
    body = {
        "template": {
            "settings": {
                "index.mode": "standard",
                "index.default_pipeline": names.PIPELINE,
                "index.number_of_shards": 1,
                "index.codec": "best_compression",
            }
        }
    }
    return _with_meta(body, "oom-enricher index settings")


def index_template(
    namespace: str = names.DEFAULT_NAMESPACE, retention: str = names.DEFAULT_RETENTION
) -> dict:
    body = {
        "index_patterns": [names.data_stream_name(namespace)],
        "data_stream": {},
        "priority": names.INDEX_TEMPLATE_PRIORITY,
        "composed_of": [names.SETTINGS_COMPONENT, names.MAPPINGS_COMPONENT],
        "template": {"lifecycle": {"data_retention": names.validate_retention(retention)}},
    }
    return _with_meta(body, f"oom-enricher data stream {names.data_stream_name(namespace)}")


def pipeline_body() -> dict:
    """Sets event.ingested; a missing @timestamp becomes the ingest time, so that the data
    stream accepts the document; any processor failure is recorded, never a dropped doc."""
    body = {
        "description": "oom-enricher: event.ingested, @timestamp fallback, failures recorded",
        "processors": [
            {
                "set": {
                    "tag": "event-ingested",
                    "field": "event.ingested",
                    "value": "{{{_ingest.timestamp}}}",
                }
            },
            {
                "set": {
                    "tag": "timestamp-fallback",
                    "field": "@timestamp",
                    "value": "{{{_ingest.timestamp}}}",
                    "override": False,
                }
            },
        ],
        "on_failure": [
            {
                "set": {
                    "field": "error.message",
                    "value": "{{{_ingest.on_failure_message}}}",
                }
            },
            {"set": {"field": "error.type", "value": "pipeline_error"}},
            # may fail itself (the failure may be a malformed `event`); the rest still holds
            {"set": {"field": "event.kind", "value": "pipeline_error", "ignore_failure": True}},
        ],
    }
    return _with_meta(body, "oom-enricher ingest pipeline")


FILE_SUFFIX = {
    "pipeline": "pipeline",
    "component_template": "component-template",
    "index_template": "index-template",
}


def all_bodies(
    namespace: str = names.DEFAULT_NAMESPACE, retention: str = names.DEFAULT_RETENTION
) -> list[tuple[str, str, dict]]:
    """(kind, name, body) in the order setup installs them: what a template names first."""
    return [
        ("pipeline", names.PIPELINE, pipeline_body()),
        ("component_template", names.SETTINGS_COMPONENT, settings_component()),
        ("component_template", names.MAPPINGS_COMPONENT, mappings_component()),
        (
            "index_template",
            names.index_template_name(namespace),
            index_template(namespace, retention),
        ),
    ]


def file_name(kind: str, name: str) -> str:
    return f"{name}.{FILE_SUFFIX[kind]}.json"


def render(body: dict) -> str:
    return json.dumps(body, indent=2) + "\n"


def rendered_files() -> dict[str, str]:
    """The committed files of pipelines/elasticsearch/ (default namespace and retention)."""
    return {file_name(kind, name): render(body) for kind, name, body in all_bodies()}
