"""Which workload owns a pod, from what its log metadata carries, and which rule said so.

Rules are tried in order of how much they know: the pod's owner references, the workload
fields some shippers add, the workload labels controllers put on their pods, the usual
application labels, and last the pod-name patterns of the built-in controllers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Kubernetes' random suffixes use this alphabet (no vowels, no 0, 1, 3): apimachinery's
# rand.SafeEncodeString. ReplicaSet hashes are 6-10 characters, pod suffixes 5.
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_NAME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Deployment", re.compile(rf"^(?P<name>[a-z0-9.-]+?)-(?P<hash>{_SAFE}{{6,10}})-{_SAFE}{{5}}$")),
    ("StatefulSet", re.compile(r"^(?P<name>[a-z0-9.-]+?)-(?P<ordinal>\d+)$")),
    # DaemonSet and Job pods both end in one 5-character suffix: the kind stays open.
    (None, re.compile(rf"^(?P<name>[a-z0-9.-]+?)-{_SAFE}{{5}}$")),
)

# label set by a controller on its pods -> the owning kind
_CONTROLLER_LABELS: tuple[tuple[str, str], ...] = (
    ("batch.kubernetes.io/job-name", "Job"),
    ("job-name", "Job"),
    ("statefulset.kubernetes.io/pod-name", "StatefulSet"),
    ("pod-template-generation", "DaemonSet"),
)
_APP_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app", "k8s-app")


@dataclass(frozen=True)
class Workload:
    kind: str | None
    name: str
    rule: str  # owner_reference | workload_field | controller_label | app_label | pod_name


def label(labels: dict, key: str):
    """A label under its own key or de-dotted as Elastic writes them (`app_kubernetes_io/name`)."""
    if key in labels:
        return labels[key]
    return labels.get(key.replace(".", "_"))


def from_owner_references(refs, labels: dict) -> Workload | None:
    if not isinstance(refs, list):
        return None
    owners = [ref for ref in refs if isinstance(ref, dict) and ref.get("kind") and ref.get("name")]
    owner = next((ref for ref in owners if ref.get("controller")), owners[0] if owners else None)
    if owner is None:
        return None
    kind, name = str(owner["kind"]), str(owner["name"])
    template_hash = label(labels, "pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return Workload("Deployment", name[: -len(template_hash) - 1], "owner_reference")
    return Workload(kind, name, "owner_reference")


def from_workload_fields(values: dict[str, str]) -> Workload | None:
    """Fields such as kubernetes.deployment.name, most specific kind first."""
    for kind, name in values.items():
        if name:
            return Workload(kind, str(name), "workload_field")
    return None


def from_labels(labels: dict, pod_name: str | None) -> Workload | None:
    for key, kind in _CONTROLLER_LABELS:
        value = label(labels, key)
        if value and kind == "StatefulSet" and pod_name:
            match = _NAME_PATTERNS[1][1].match(pod_name)
            return Workload(kind, match["name"], "controller_label") if match else None
        if value and kind == "Job":
            return Workload(kind, str(value), "controller_label")
    template_hash = label(labels, "pod-template-hash")
    if template_hash and pod_name and f"-{template_hash}-" in pod_name:
        return Workload("Deployment", pod_name.split(f"-{template_hash}-")[0], "controller_label")
    if label(labels, "pod-template-generation") and pod_name:
        match = _NAME_PATTERNS[2][1].match(pod_name)
        if match:
            return Workload("DaemonSet", match["name"], "controller_label")
    for key in _APP_LABELS:
        value = label(labels, key)
        if value:
            return Workload(_kind_from_name(pod_name), str(value), "app_label")
    return None


def from_pod_name(pod_name: str | None) -> Workload | None:
    if not pod_name:
        return None
    for kind, pattern in _NAME_PATTERNS:
        match = pattern.match(pod_name)
        if match:
            return Workload(kind, match["name"], "pod_name")
    return None


def _kind_from_name(pod_name: str | None) -> str | None:
    found = from_pod_name(pod_name)
    return found.kind if found else None


def workload_of(
    pod_name: str | None,
    labels: dict,
    owner_references=None,
    workload_fields: dict[str, str] | None = None,
) -> Workload | None:
    return (
        from_owner_references(owner_references, labels)
        or from_workload_fields(workload_fields or {})
        or from_labels(labels, pod_name)
        or from_pod_name(pod_name)
    )
