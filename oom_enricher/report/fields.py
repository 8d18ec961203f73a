"""Reading fields from enriched documents, whether they arrive nested or with dotted keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Kill reasons where a cgroup counter reached its limit, and the document field holding it.
LIMIT_FIELD_BY_HIT = {
    "memory": "oom.memory.limit_bytes",
    "memory+swap": "oom.memsw.limit_bytes",
    "swap": "oom.swap.limit_bytes",
    "kmem": "oom.kmem.limit_bytes",
}
USAGE_FIELD_BY_HIT = {
    "memory": "oom.memory.usage_bytes",
    "memory+swap": "oom.memsw.usage_bytes",
    "swap": "oom.swap.usage_bytes",
    "kmem": "oom.kmem.usage_bytes",
}


def get(doc: dict, dotted: str, default: Any = None) -> Any:
    """Value of `dotted` in `doc`; accepts `{"a": {"b": 1}}`, `{"a.b": 1}` and mixtures."""
    if dotted in doc:
        return doc[dotted]
    head, _, rest = dotted.partition(".")
    while rest:
        sub = doc.get(head)
        if isinstance(sub, dict):
            found = get(sub, rest, _MISSING)
            if found is not _MISSING:
                return found
        more, _, rest = rest.partition(".")
        head = f"{head}.{more}"
    return default


_MISSING = object()


def timestamp(doc: dict) -> datetime | None:
    """When the kill happened; None when the log carried no wall-clock time.

    dmesg without -T, /dev/kmsg records and bare pastes give no @timestamp (their read time,
    event.created, says nothing about when the kill happened). In Elasticsearch the ingest
    pipeline gives such a document its ingest time as @timestamp, equal to event.ingested:
    that is not the kill's time either.
    """
    raw = get(doc, "@timestamp")
    if not isinstance(raw, str) or not raw or raw == get(doc, "event.ingested"):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cgroup(doc: dict) -> str | None:
    """The victim's cgroup; falls back to the cgroup whose limit was hit."""
    return get(doc, "oom.cgroup.task_path") or get(doc, "oom.cgroup.oom_path")


def victim_names(doc: dict) -> list[str]:
    victims = get(doc, "oom.victims") or []
    names = [v.get("name") for v in victims if isinstance(v, dict) and v.get("name")]
    if names:
        return names
    first = get(doc, "process.name")
    return [first] if first else []


def victim_rss_bytes(doc: dict) -> int:
    """Resident memory the kill released: anon + file + shmem RSS of every victim."""
    total = 0
    for victim in get(doc, "oom.victims") or []:
        if isinstance(victim, dict):
            for key in ("anon_rss_bytes", "file_rss_bytes", "shmem_rss_bytes"):
                total += int(victim.get(key) or 0)
    return total


def victims_count(doc: dict) -> int:
    count = get(doc, "oom.victims_count")
    if isinstance(count, int):
        return count
    return len(get(doc, "oom.victims") or []) or (1 if get(doc, "process.name") else 0)


def workload(doc: dict) -> tuple[str, str] | None:
    """(kind, name) of what was running: image, pod, container, unit, else the cgroup."""
    for kind, field in (
        ("image", "container.image.name"),
        ("pod", "kubernetes.pod.name"),
        ("pod", "kubernetes.pod.uid"),
        ("container", "container.id"),
        ("unit", "systemd.unit"),
    ):
        value = get(doc, field)
        if value and field == "kubernetes.pod.name" and namespace(doc):
            return kind, f"{namespace(doc)}/{value}"
        if value:
            return kind, str(value)[:12] if field == "container.id" else str(value)
    path = cgroup(doc)
    # The root cgroup names no workload (global OOMs of host processes).
    return ("cgroup", path) if path and path != "/" else None


def cluster(doc: dict) -> str | None:
    return get(doc, "orchestrator.cluster.name")


def namespace(doc: dict) -> str | None:
    return get(doc, "kubernetes.namespace") or get(doc, "orchestrator.namespace")


def kubernetes_workload(doc: dict) -> str | None:
    """`namespace/Kind name` of the workload that owns the killed pod, when it was named."""
    name = get(doc, "kubernetes.workload.name")
    if not name:
        return None
    kind = get(doc, "kubernetes.workload.kind")
    owner = f"{kind} {name}" if kind else str(name)
    return f"{namespace(doc)}/{owner}" if namespace(doc) else owner
