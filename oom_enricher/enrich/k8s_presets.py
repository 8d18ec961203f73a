"""Where each shipper's Kubernetes metadata filter puts the names, in a container-log record.

The kernel names a pod only by its UID (the `pod<uid>` cgroup segment) and a container by its
id. Container logs indexed by the fleet's own shippers carry the names next to the same ids;
these presets say where. Paths are dotted; a record may hold them nested or with dotted keys.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class K8sPreset:
    name: str
    pod_uid: str
    pod_name: str
    namespace: str
    container_name: str
    container_id: tuple[str, ...]  # the first present wins
    labels: str
    owner_references: str | None = None  # list of {kind, name, controller}
    # workload kind -> field holding its name (Filebeat / Elastic Agent write these)
    workload_fields: tuple[tuple[str, str], ...] = ()
    # a field whose presence marks a record of this shipper (detection)
    marker: str = ""


PRESETS: dict[str, K8sPreset] = {
    # Fluent Bit `kubernetes` filter: record key `kubernetes` {pod_name, namespace_name,
    # pod_id, labels, ownerReferences (Owner_References On), container_name, docker_id,
    # container_hash, container_image, host}.
    "fluent-bit": K8sPreset(
        name="fluent-bit",
        pod_uid="kubernetes.pod_id",
        pod_name="kubernetes.pod_name",
        namespace="kubernetes.namespace_name",
        container_name="kubernetes.container_name",
        container_id=("kubernetes.docker_id",),
        labels="kubernetes.labels",
        owner_references="kubernetes.ownerReferences",
        marker="kubernetes.docker_id",
    ),
    # Filebeat `add_kubernetes_metadata` / Elastic Agent Kubernetes integration (ECS-style):
    # kubernetes.{pod.name, pod.uid, namespace, container.name, labels.*, deployment.name,
    # replicaset.name, statefulset.name, daemonset.name, job.name, cronjob.name}, container.id.
    "filebeat": K8sPreset(
        name="filebeat",
        pod_uid="kubernetes.pod.uid",
        pod_name="kubernetes.pod.name",
        namespace="kubernetes.namespace",
        container_name="kubernetes.container.name",
        container_id=("container.id",),
        labels="kubernetes.labels",
        workload_fields=(
            ("Deployment", "kubernetes.deployment.name"),
            ("StatefulSet", "kubernetes.statefulset.name"),
            ("DaemonSet", "kubernetes.daemonset.name"),
            ("CronJob", "kubernetes.cronjob.name"),
            ("Job", "kubernetes.job.name"),
            ("ReplicaSet", "kubernetes.replicaset.name"),
        ),
        marker="kubernetes.pod.uid",
    ),
    # Fluentd `kubernetes_metadata` filter: kubernetes.{pod_name, namespace_name, pod_id,
    # container_name, container_image, labels, host, master_url, namespace_id} and
    # docker.container_id.
    "fluentd": K8sPreset(
        name="fluentd",
        pod_uid="kubernetes.pod_id",
        pod_name="kubernetes.pod_name",
        namespace="kubernetes.namespace_name",
        container_name="kubernetes.container_name",
        container_id=("docker.container_id", "kubernetes.container_id"),
        labels="kubernetes.labels",
        marker="docker.container_id",
    ),
}


def field_value(record: dict, dotted: str):
    """A value at a dotted path, whether the record nests it or keeps dotted keys."""
    if dotted in record:
        return record[dotted]
    head, _, rest = dotted.partition(".")
    if rest and isinstance(record.get(head), dict):
        return field_value(record[head], rest)
    for key, value in record.items():  # a partly dotted key: {"kubernetes.pod": {...}}
        if isinstance(value, dict) and dotted.startswith(key + "."):
            return field_value(value, dotted[len(key) + 1 :])
    return None


def detect(record: dict) -> K8sPreset | None:
    """The preset whose layout this record has, or None when it carries no pod metadata."""
    for preset in PRESETS.values():
        if field_value(record, preset.marker) is not None:
            return preset
    for preset in PRESETS.values():  # a record without a container id still names its pod
        if field_value(record, preset.pod_uid) is not None:
            return preset
    return None


def uid_fields() -> list[str]:
    return sorted({preset.pod_uid for preset in PRESETS.values()})


def container_id_fields() -> list[str]:
    return sorted({path for preset in PRESETS.values() for path in preset.container_id})


def source_fields() -> list[str]:
    """The record fields a lookup needs back (keeps responses small)."""
    roots = {"kubernetes", "container", "docker"}
    return sorted(f"{root}.*" for root in roots) + sorted(roots)
