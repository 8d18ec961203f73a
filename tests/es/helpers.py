"""Small helpers shared by the Elasticsearch tests."""

from __future__ import annotations

import uuid

from elasticsearch import Elasticsearch

from oom_enricher.schema.document_fields import FIELDS


def unique_namespace(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def client(url: str) -> Elasticsearch:
    return Elasticsearch(url, request_timeout=60)


def flatten_properties(properties: dict, prefix: str = "") -> dict[str, dict]:
    """dotted field name -> its mapping (without sub-properties), for objects too."""
    out: dict[str, dict] = {}
    for name, mapping in properties.items():
        dotted = f"{prefix}{name}"
        if "properties" in mapping:
            if mapping.get("type") == "object":
                out[dotted] = {k: v for k, v in mapping.items() if k != "properties"}
            out.update(flatten_properties(mapping["properties"], dotted + "."))
        else:
            out[dotted] = mapping
    return out


def make_document(n: int, host: str = "node-a", **overrides) -> dict:
    """A hand-made document that follows document_fields.py."""
    doc = {
        "@timestamp": f"2026-11-01T10:{n // 60 % 60:02d}:{n % 60:02d}.000000Z",
        "message": f"OOM kill of worker-{n} ({1000 + n}) on {host}",
        "host": {"name": host, "os": {"kernel": "6.8.0-45-generic"}},
        "event": {
            "kind": "event",
            "category": ["process"],
            "type": ["end"],
            "action": "oom-kill",
            "dataset": "oom_enricher.oom",
            "module": "oom_enricher",
            "provider": "kernel",
            "id": f"{host}-{n:08d}",
            "original": f"Out of memory: Killed process {1000 + n} (worker-{n})",
        },
        "process": {"pid": 1000 + n, "name": f"worker-{n}"},
        "oom": {
            "complete": True,
            "scope": "memcg",
            "selected": {"pid": 1000 + n, "name": f"worker-{n}", "score": 900},
            "memory": {"usage_bytes": 1 << 30, "limit_bytes": 1 << 30},
            "memcg_stats": {"anon": "1048576", "file": "0"},
            "tasks": [{"pid": 1000 + n, "name": f"worker-{n}", "rss_pages": 262144}],
            "explanation": "The container hit its memory limit.",
        },
    }
    for dotted, value in overrides.items():
        node = doc
        parts = dotted.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return doc


assert "event.id" in FIELDS  # the contract these helpers follow
