"""Attribute a memory cgroup path from an OOM report to a container, pod or unit.

The kernel prints cgroup paths (``task_memcg=``, ``oom_memcg=``, ``Task in ...``,
``Memory cgroup stats for ...``) relative to the cgroup root.  Who created the
path decides its shape: the container engine, its cgroup driver (cgroupfs writes
plain directories, the systemd driver writes ``.slice``/``.scope`` units) and,
under Kubernetes, the kubelet's QoS hierarchy.  Each known shape is one regex
below, tried in order; the first match names the workload.  systemd unit and
slice are read independently from the last ``.service``/``.scope`` component
and its nearest ``.slice`` ancestor, whatever created them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CgroupAttribution",
    "attribute_cgroup",
    "attribute_cpuset",
    "attribute_paths",
    "container_hint",
]


@dataclass(frozen=True)
class CgroupAttribution:
    container_id: str | None = None
    container_runtime: str | None = None  # docker | containerd | cri-o | podman | lxc
    pod_uid: str | None = None  # with dashes, as the Kubernetes API shows it
    qos_class: str | None = None  # guaranteed | burstable | besteffort
    systemd_unit: str | None = None
    systemd_slice: str | None = None
    lxc_name: str | None = None
    kind: str = "other"  # kubernetes | docker | podman | lxc | systemd | root | other


_ID = r"(?P<id>[0-9a-f]{64})"
_END = r"(?=/|$)"
# The systemd driver cannot use dashes inside a unit name, so the kubelet writes
# the pod UID with underscores there; the cgroupfs driver keeps the dashes.
_UID_UNDERSCORE = r"(?P<uid>[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12})"
_UID_DASH = r"(?P<uid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
_QOS = r"(?P<qos>burstable|besteffort)"
_ROOT = r"(?:[A-Za-z0-9_]+-)*"  # a --cgroup-root slice's name before `kubepods`

# Prefix of a container scope / directory inside a pod -> the runtime behind it.
_RUNTIME_PREFIXES = {
    "cri-containerd": "containerd",
    "crio": "cri-o",
    "docker": "docker",
}
_PREFIX = r"(?P<prefix>cri-containerd|crio|docker)"


# What a shape's match gives, with the path's systemd unit and slice (read apart from shapes)
Build = Callable[[re.Match[str], str | None, str | None], CgroupAttribution]


@dataclass(frozen=True)
class _PathShape:
    name: str
    pattern: re.Pattern[str]
    build: Build


def _kubernetes(
    match: re.Match[str], unit: str | None, slice_name: str | None
) -> CgroupAttribution:
    groups = match.groupdict()
    # Guaranteed pods sit directly under kubepods: the QoS level is absent.
    qos = groups.get("qos") or "guaranteed"
    prefix = groups.get("prefix")
    return CgroupAttribution(
        container_id=groups.get("id"),
        container_runtime=_RUNTIME_PREFIXES.get(prefix) if prefix else None,
        pod_uid=groups["uid"].replace("_", "-"),
        qos_class=qos,
        systemd_unit=unit,
        systemd_slice=slice_name,
        kind="kubernetes",
    )


def _container(runtime: str, kind: str) -> Build:
    def build(match: re.Match[str], unit: str | None, slice_name: str | None) -> CgroupAttribution:
        return CgroupAttribution(
            container_id=match.group("id"),
            container_runtime=runtime,
            systemd_unit=unit,
            systemd_slice=slice_name,
            kind=kind,
        )

    return build


def _lxc(match: re.Match[str], unit: str | None, slice_name: str | None) -> CgroupAttribution:
    return CgroupAttribution(
        container_runtime="lxc",
        systemd_unit=unit,
        systemd_slice=slice_name,
        lxc_name=match.group("name"),
        kind="lxc",
    )


_SHAPES: tuple[_PathShape, ...] = (
    # kubelet with the systemd cgroup driver (v1 and v2), container level:
    # /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
    #   cri-containerd-<id>.scope   (containerd), crio-<id>.scope (CRI-O),
    #   docker-<id>.scope (dockershim).  Guaranteed pods: kubepods-pod<uid_>.slice.
    #   A kubelet given --cgroup-root (kind, minikube, k3d in a container) prefixes its
    #   slices' names with the root's: kubelet-kubepods-burstable-pod<uid_>.slice.
    _PathShape(
        "kubepods_systemd_container",
        re.compile(
            rf"/{_ROOT}kubepods(?:-{_QOS})?-pod{_UID_UNDERSCORE}\.slice/{_PREFIX}-{_ID}\.scope{_END}"
        ),
        _kubernetes,
    ),
    # Same driver, pod level (the pod's own limit was hit, or conmon/pause sit here).
    _PathShape(
        "kubepods_systemd_pod",
        re.compile(rf"/{_ROOT}kubepods(?:-{_QOS})?-pod{_UID_UNDERSCORE}\.slice{_END}"),
        _kubernetes,
    ),
    # kubelet with the cgroupfs driver: /kubepods/burstable/pod<uid>/<id> (docker,
    # containerd) or .../crio-<id> (CRI-O); guaranteed pods: /kubepods/pod<uid>/<id>.
    _PathShape(
        "kubepods_cgroupfs_container",
        re.compile(rf"/kubepods(?:/{_QOS})?/pod{_UID_DASH}/(?:{_PREFIX}-)?{_ID}{_END}"),
        _kubernetes,
    ),
    _PathShape(
        "kubepods_cgroupfs_pod",
        re.compile(rf"/kubepods(?:/{_QOS})?/pod{_UID_DASH}{_END}"),
        _kubernetes,
    ),
    # Docker with the systemd driver: /system.slice/docker-<id>.scope (any slice
    # when --cgroup-parent names another one).
    _PathShape(
        "docker_systemd_scope",
        re.compile(rf"/docker-{_ID}\.scope{_END}"),
        _container("docker", "docker"),
    ),
    # Docker with the cgroupfs driver (the default on cgroup v1): /docker/<id>; Docker in
    # Docker nests the inner container's id under the outer's (/docker/<outer>/<inner>):
    # the process runs in the innermost one.
    _PathShape(
        "docker_cgroupfs",
        re.compile(rf"^.*/docker/(?:[0-9a-f]{{64}}/)*{_ID}{_END}"),
        _container("docker", "docker"),
    ),
    # The Amazon ECS agent with the cgroupfs driver: /ecs/<task id>/<container id>.
    _PathShape(
        "ecs_cgroupfs", re.compile(rf"^/ecs/[^/]+/{_ID}{_END}"), _container("docker", "docker")
    ),
    # Podman with the systemd manager: /machine.slice/libpod-<id>.scope (root) or
    # .../user@1000.service/user.slice/libpod-<id>.scope (rootless), sometimes with
    # a /container child.  libpod-conmon-<id>.scope does not match: that is conmon.
    _PathShape(
        "podman_systemd_scope",
        re.compile(rf"/libpod-{_ID}\.scope{_END}"),
        _container("podman", "podman"),
    ),
    # Podman with the cgroupfs manager: /libpod_parent/libpod-<id>[/ctr|/conmon].
    _PathShape(
        "podman_cgroupfs",
        re.compile(rf"/libpod_parent/libpod-{_ID}{_END}"),
        _container("podman", "podman"),
    ),
    # CRI-O / containerd scopes outside a kubepods hierarchy.
    _PathShape(
        "crio_scope", re.compile(rf"/crio-{_ID}\.scope{_END}"), _container("cri-o", "other")
    ),
    _PathShape(
        "containerd_scope",
        re.compile(rf"/cri-containerd-{_ID}\.scope{_END}"),
        _container("containerd", "other"),
    ),
    # LXC 4+ (and LXD/Incus): /lxc.payload.<name>; some setups /lxc.payload/<name>.
    _PathShape("lxc_payload_dot", re.compile(r"^/lxc\.payload\.(?P<name>[^/]+)"), _lxc),
    _PathShape("lxc_payload_dir", re.compile(r"^/lxc\.payload/(?P<name>[^/]+)"), _lxc),
    # LXC before 4.0 and Proxmox VE: /lxc/<name>, Proxmox adds /ns for the
    # container's own nested namespace: /lxc/105/ns.
    _PathShape("lxc_legacy", re.compile(r"^/lxc/(?P<name>[^/]+)"), _lxc),
)

# systemd.unit(5): a unit name holds ASCII letters, digits and `:-_.\@` only; a deeper
# directory of another name (`tab(2336326).scope`, made inside a unit by its program) is
# no unit.
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@-]+\.(?:service|scope)")


def _systemd_units(components: list[str]) -> tuple[str | None, str | None]:
    """Deepest .service/.scope unit and the nearest .slice above it."""
    unit_index = None
    for index, component in enumerate(components):
        if _UNIT_NAME.fullmatch(component):
            unit_index = index
    search_end = unit_index if unit_index is not None else len(components)
    slice_name = None
    for component in components[:search_end]:
        if component.endswith(".slice"):
            slice_name = component
    unit = components[unit_index] if unit_index is not None else None
    return unit, slice_name


def attribute_cgroup(path: str | None) -> CgroupAttribution:
    """Who a kernel-printed memory cgroup path belongs to."""
    if path is None or not path.strip():
        return CgroupAttribution()
    path = path.strip()
    if path == "/":
        return CgroupAttribution(kind="root")
    components = [part for part in path.split("/") if part]
    unit, slice_name = _systemd_units(components)
    for shape in _SHAPES:
        match = shape.pattern.search(path)
        if match:
            return shape.build(match, unit, slice_name)
    kind = "systemd" if unit or slice_name else "other"
    return CgroupAttribution(systemd_unit=unit, systemd_slice=slice_name, kind=kind)


def _specificity(attr: CgroupAttribution) -> int:
    return (
        3
        if attr.container_id or attr.lxc_name
        else 2
        if attr.pod_uid
        else int(bool(attr.systemd_unit))
    )


def attribute_paths(*paths: str | None) -> CgroupAttribution:
    """The most specific attribution any of the paths gives, the first path on a tie.

    The victim's cgroup (`task_memcg`) lies in or under the OOM'd one (`oom_memcg`): when a
    fixed-width cut left the first without its container id, the second still names what it
    covers whole.
    """
    best = CgroupAttribution()
    for index, path in enumerate(paths):
        if path in paths[:index]:
            continue  # the same path attributes the same, and a tie keeps the first
        attribution = attribute_cgroup(path)
        if _specificity(attribution) > _specificity(best):
            best = attribution
    return best


_BARE_ID = re.compile(r"[0-9a-f]{64}")


def attribute_cpuset(name: str | None) -> CgroupAttribution:
    """The workload a cpuset cgroup name names, as 2.6.38-4.18 print it on the line after the
    header: the leaf only (`cpuset=<64 hex>` under docker or the kubelet with cgroupfs,
    `cpuset=docker-<id>.scope` with the systemd driver), or the whole path."""
    if not name or name == "/":
        return CgroupAttribution()
    leaf = name.rstrip("/").rsplit("/", 1)[-1]
    if _BARE_ID.fullmatch(leaf):
        return CgroupAttribution(container_id=leaf)
    attribution = attribute_cgroup(name if name.startswith("/") else "/" + name)
    return attribution if attribution.container_id else CgroupAttribution()


def container_hint(attr: CgroupAttribution) -> str | None:
    """Short workload label: k8s-pod:, docker:, lxc: or systemd:, most specific first."""
    if attr.pod_uid:
        return f"k8s-pod:{attr.pod_uid}"
    if attr.container_id:
        return f"docker:{attr.container_id}"
    if attr.lxc_name:
        return f"lxc:{attr.lxc_name}"
    if attr.systemd_unit:
        return f"systemd:{attr.systemd_unit}"
    return None
