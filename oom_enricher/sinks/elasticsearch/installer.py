"""Installs the pipeline and templates idempotently; upgrades an older install in place.

Each object carries `version` and `_meta.content_hash`. An object whose installed version and
hash equal ours is left alone (re-running setup sends no write at all); an older or drifted one
is replaced; a newer one (installed by a later oom-enricher) is kept unless forced. When the
mappings or settings change and the data stream already exists, the new mappings are applied
to its backing indices in place and a rollover starts a backing index built from the new
templates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from elasticsearch import ApiError, Elasticsearch, NotFoundError

from oom_enricher.sinks.elasticsearch import names, templates

log = logging.getLogger(__name__)

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
KEPT_NEWER = "kept-newer"


@dataclass(frozen=True)
class InstallStep:
    kind: str
    name: str
    action: str
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind} {self.name}: {self.action}{extra}"


def _installed(client: Elasticsearch, kind: str, name: str) -> dict | None:
    try:
        if kind == "pipeline":
            return client.ingest.get_pipeline(id=name).body.get(name)
        if kind == "component_template":
            found = client.cluster.get_component_template(name=name).body
            return found["component_templates"][0]["component_template"]
        found = client.indices.get_index_template(name=name).body
        return found["index_templates"][0]["index_template"]
    except NotFoundError:
        return None


def _put(client: Elasticsearch, kind: str, name: str, body: dict) -> None:
    if kind == "pipeline":
        client.ingest.put_pipeline(id=name, body=body)
    elif kind == "component_template":
        client.cluster.put_component_template(name=name, body=body)
    else:
        client.indices.put_index_template(name=name, body=body)


def _decide(installed: dict | None, body: dict, force: bool) -> str:
    if installed is None:
        return CREATED
    version = installed.get("version") or 0
    digest = (installed.get("_meta") or {}).get("content_hash")
    if version == body["version"] and digest == body["_meta"]["content_hash"]:
        return UNCHANGED
    if version > body["version"] and not force:
        return KEPT_NEWER
    return UPDATED


def data_stream_exists(client: Elasticsearch, data_stream: str) -> bool:
    try:
        resolved = client.indices.resolve_index(name=data_stream, expand_wildcards="all").body
    except NotFoundError:
        return False
    return any(ds["name"] == data_stream for ds in resolved.get("data_streams", []))


def install(
    client: Elasticsearch,
    namespace: str = names.DEFAULT_NAMESPACE,
    retention: str = names.DEFAULT_RETENTION,
    force: bool = False,
) -> list[InstallStep]:
    steps: list[InstallStep] = []
    for kind, name, body in templates.all_bodies(namespace, retention):
        installed = _installed(client, kind, name)
        action = _decide(installed, body, force)
        detail = ""
        if action in (CREATED, UPDATED):
            _put(client, kind, name, body)
            if installed is not None:
                detail = f"version {installed.get('version')} -> {body['version']}"
        elif action == KEPT_NEWER:
            detail = f"installed version {installed.get('version')} > {body['version']}"
            log.warning("%s %s: a newer version is installed; left alone", kind, name)
        steps.append(InstallStep(kind, name, action, detail))
    steps.extend(_upgrade_existing_stream(client, namespace, retention, steps))
    return steps


def _upgrade_existing_stream(
    client: Elasticsearch, namespace: str, retention: str, steps: list[InstallStep]
) -> list[InstallStep]:
    changed = {(s.kind, s.name) for s in steps if s.action == UPDATED}
    if not changed:
        return []
    data_stream = names.data_stream_name(namespace)
    if not data_stream_exists(client, data_stream):
        return []
    out: list[InstallStep] = []
    if ("component_template", names.MAPPINGS_COMPONENT) in changed:
        mappings = templates.mappings_component()["template"]["mappings"]
        try:
            client.indices.put_mapping(index=data_stream, body=mappings)
            out.append(InstallStep("data_stream", data_stream, UPDATED, "mappings applied"))
        except ApiError as exc:
            # An incompatible change cannot apply in place; the rollover below carries it.
            out.append(InstallStep("data_stream", data_stream, UNCHANGED, f"mappings: {exc}"))
    if ("index_template", names.index_template_name(namespace)) in changed:
        try:
            client.indices.put_data_lifecycle(name=data_stream, data_retention=retention)
            out.append(InstallStep("data_stream", data_stream, UPDATED, f"retention {retention}"))
        except ApiError as exc:
            out.append(
                InstallStep("data_stream", data_stream, UNCHANGED, f"retention not set: {exc}")
            )
    # New settings and template-level changes only reach backing indices created from now on.
    rolled = client.indices.rollover(alias=data_stream).body
    out.append(
        InstallStep("data_stream", data_stream, UPDATED, f"rolled over to {rolled['new_index']}")
    )
    return out
