"""Kubernetes names for a kill: read from a container-log record, cached, put into a document.

Field names follow the Elastic Kubernetes integration (`kubernetes.namespace`,
`kubernetes.pod.name`, `kubernetes.container.name`, `kubernetes.labels.*`) and ECS where ECS
has the field (`orchestrator.*`, `container.name`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from oom_enricher.enrich.k8s_presets import K8sPreset, detect, field_value
from oom_enricher.enrich.k8s_workload import Workload, workload_of

STATUS_FOUND = "found"
STATUS_NOT_FOUND = "not_found"


@dataclass(frozen=True)
class PodNames:
    """What the container logs say about one pod (and, when the id matched, one container)."""

    pod_uid: str
    namespace: str
    pod_name: str
    labels: dict = field(default_factory=dict)
    workload: Workload | None = None
    preset: str = ""
    container_id: str | None = None
    container_name: str | None = None


def _labels(value) -> dict:
    """Labels as Elastic stores them: dots in keys become `_` (keys must not make objects)."""
    if not isinstance(value, dict):
        return {}
    flat: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, dict):  # a dotted key the index expanded into objects
            for sub, leaf in _labels(item).items():
                flat[f"{key}_{sub}"] = leaf
        elif item is not None:
            flat[str(key).replace(".", "_")] = str(item)
    return flat


def names_from_record(record: dict, preset: K8sPreset | None = None) -> PodNames | None:
    """The names in one container-log record, or None when it has no pod uid and name."""
    preset = preset or detect(record)
    if preset is None:
        return None
    uid, pod, namespace = (
        field_value(record, path) for path in (preset.pod_uid, preset.pod_name, preset.namespace)
    )
    if not (uid and pod and namespace):
        return None
    labels = _labels(field_value(record, preset.labels))
    owners = field_value(record, preset.owner_references) if preset.owner_references else None
    workload_fields = {kind: field_value(record, path) for kind, path in preset.workload_fields}
    container_id = next(
        (str(v) for v in (field_value(record, p) for p in preset.container_id) if v), None
    )
    return PodNames(
        pod_uid=str(uid),
        namespace=str(namespace),
        pod_name=str(pod),
        labels=labels,
        workload=workload_of(str(pod), labels, owners, workload_fields),
        preset=preset.name,
        container_id=_bare_id(container_id),
        container_name=_str(field_value(record, preset.container_name)),
    )


def _str(value) -> str | None:
    return str(value) if value not in (None, "") else None


def _bare_id(container_id: str | None) -> str | None:
    """`containerd://<id>` / `docker://<id>` (status fields) -> the id the kernel shows."""
    if not container_id:
        return None
    return container_id.rsplit("://", 1)[-1]


def names_update(names: PodNames, container_name: str | None, container_rule: str | None) -> dict:
    """The partial document that puts these names into an OOM document."""
    kubernetes: dict = {
        "namespace": names.namespace,
        "pod": {"name": names.pod_name},
        "names": {"status": STATUS_FOUND, "source": names.preset},
    }
    if names.labels:
        kubernetes["labels"] = names.labels
    if names.workload is not None:
        workload = {"name": names.workload.name, "rule": names.workload.rule}
        if names.workload.kind:
            workload["kind"] = names.workload.kind
        kubernetes["workload"] = workload
    update: dict = {
        "kubernetes": kubernetes,
        "orchestrator": {
            "type": "kubernetes",
            "namespace": names.namespace,
            "resource": {"type": "pod", "name": names.pod_name},
        },
    }
    if container_name:
        kubernetes["container"] = {"name": container_name}
        kubernetes["names"]["container_rule"] = container_rule
        update["container"] = {"name": container_name}
    return update


@dataclass
class _Entry:
    value: object
    expires: float


class TtlCache:
    """A bounded LRU whose entries expire; misses are cached too, for a shorter time."""

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl: float = 600.0,
        miss_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[bool, object]:
        """(known, value): value None for a cached miss."""
        entry = self._entries.get(key)
        if entry is None or entry.expires <= self._clock():
            self._entries.pop(key, None)
            self.misses += 1
            return False, None
        self._entries.move_to_end(key)
        self.hits += 1
        return True, entry.value

    def put(self, key: str, value: object) -> None:
        ttl = self.ttl if value is not None else self.miss_ttl
        self._entries[key] = _Entry(value, self._clock() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
