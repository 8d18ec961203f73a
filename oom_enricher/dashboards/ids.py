"""Stable ids: uuid5 of names, so regeneration and re-import (overwrite) update in place."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "dashboards.oom-enricher")
PREFIX = "oom_enricher-"


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def object_id(kind: str, title: str) -> str:
    """Saved object id; prefixed with the package name like Fleet integrations do."""
    return PREFIX + stable_uuid(kind, title)
