import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from oom_enricher.enrich.cgroup_attribution import (
    CgroupAttribution,
    attribute_cgroup,
    container_hint,
)

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

CID = "25a38b5b8d556d7983d975577f5ac75ebbcfb4b269e6deaa0a0440c1ffc969ca"
DOCKER_ID = "a4d47fb7bbc8a2bbc172bd26085c4509364b1b7eec61439669e08e281b181a0b"
UID = "5931aa75-4603-4e65-b552-7c71cf55cfb5"
UID_US = UID.replace("-", "_")
GUARANTEED_UID = "089f25ee-a41a-414c-a028-71a38dfb30d3"
GUARANTEED_UID_US = GUARANTEED_UID.replace("-", "_")


def _k8s_systemd(qos: str | None, prefix: str = "cri-containerd") -> str:
    if qos is None:
        return f"/kubepods.slice/kubepods-pod{UID_US}.slice/{prefix}-{CID}.scope"
    pod_slice = f"kubepods-{qos}-pod{UID_US}.slice"
    return f"/kubepods.slice/kubepods-{qos}.slice/{pod_slice}/{prefix}-{CID}.scope"


CASES = [
    # (path, expected attribution, expected hint)
    (
        f"/ecs/f209da7f990b45b585488946f0eec404/{DOCKER_ID}",  # ECS agent, cgroupfs
        CgroupAttribution(container_id=DOCKER_ID, container_runtime="docker", kind="docker"),
        f"docker:{DOCKER_ID}",
    ),
    (
        f"/docker/{DOCKER_ID}",
        CgroupAttribution(container_id=DOCKER_ID, container_runtime="docker", kind="docker"),
        f"docker:{DOCKER_ID}",
    ),
    (
        f"/system.slice/docker-{CID}.scope",
        CgroupAttribution(
            container_id=CID,
            container_runtime="docker",
            systemd_unit=f"docker-{CID}.scope",
            systemd_slice="system.slice",
            kind="docker",
        ),
        f"docker:{CID}",
    ),
    (
        f"/machine.slice/docker-{CID}.scope",
        CgroupAttribution(
            container_id=CID,
            container_runtime="docker",
            systemd_unit=f"docker-{CID}.scope",
            systemd_slice="machine.slice",
            kind="docker",
        ),
        f"docker:{CID}",
    ),
    (
        _k8s_systemd("burstable"),
        CgroupAttribution(
            container_id=CID,
            container_runtime="containerd",
            pod_uid=UID,
            qos_class="burstable",
            systemd_unit=f"cri-containerd-{CID}.scope",
            systemd_slice=f"kubepods-burstable-pod{UID_US}.slice",
            kind="kubernetes",
        ),
        f"k8s-pod:{UID}",
    ),
    (
        _k8s_systemd("besteffort"),
        CgroupAttribution(
            container_id=CID,
            container_runtime="containerd",
            pod_uid=UID,
            qos_class="besteffort",
            systemd_unit=f"cri-containerd-{CID}.scope",
            systemd_slice=f"kubepods-besteffort-pod{UID_US}.slice",
            kind="kubernetes",
        ),
        f"k8s-pod:{UID}",
    ),
    (
        f"/kubepods.slice/kubepods-pod{GUARANTEED_UID_US}.slice/cri-containerd-{CID}.scope",
        CgroupAttribution(
            container_id=CID,
            container_runtime="containerd",
            pod_uid=GUARANTEED_UID,
            qos_class="guaranteed",
            systemd_unit=f"cri-containerd-{CID}.scope",
            systemd_slice=f"kubepods-pod{GUARANTEED_UID_US}.slice",
            kind="kubernetes",
        ),
        f"k8s-pod:{GUARANTEED_UID}",
    ),
    (
        _k8s_systemd("burstable", prefix="crio"),
        CgroupAttribution(
            container_id=CID,
            container_runtime="cri-o",
            pod_uid=UID,
            qos_class="burstable",
            systemd_unit=f"crio-{CID}.scope",
            systemd_slice=f"kubepods-burstable-pod{UID_US}.slice",
            kind="kubernetes",
        ),
        f"k8s-pod:{UID}",
    ),
    (
        _k8s_systemd(None, prefix="docker"),
        CgroupAttribution(
            container_id=CID,
            container_runtime="docker",
            pod_uid=UID,
            qos_class="guaranteed",
            systemd_unit=f"docker-{CID}.scope",
            systemd_slice=f"kubepods-pod{UID_US}.slice",
            kind="kubernetes",
        ),
        f"k8s-pod:{UID}",
    ),
    # Pod level: the pod's limit was hit, no container in the path.
    (
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_US}.slice",
        CgroupAttribution(
            pod_uid=UID,
            qos_class="burstable",
            systemd_slice=f"kubepods-burstable-pod{UID_US}.slice",
            kind="kubernetes",
        ),
        f"k8s-pod:{UID}",
    ),
    (
        f"/kubepods.slice/kubepods-pod{GUARANTEED_UID_US}.slice",
        CgroupAttribution(
            pod_uid=GUARANTEED_UID,
            qos_class="guaranteed",
            systemd_slice=f"kubepods-pod{GUARANTEED_UID_US}.slice",
            kind="kubernetes",
        ),
        f"k8s-pod:{GUARANTEED_UID}",
    ),
    # cgroupfs driver: plain directories, UID keeps its dashes.
    (
        f"/kubepods/burstable/pod{UID}/{CID}",
        CgroupAttribution(container_id=CID, pod_uid=UID, qos_class="burstable", kind="kubernetes"),
        f"k8s-pod:{UID}",
    ),
    (
        f"/kubepods/besteffort/pod{UID}/{CID}",
        CgroupAttribution(container_id=CID, pod_uid=UID, qos_class="besteffort", kind="kubernetes"),
        f"k8s-pod:{UID}",
    ),
    (
        f"/kubepods/pod{UID}/{CID}",
        CgroupAttribution(container_id=CID, pod_uid=UID, qos_class="guaranteed", kind="kubernetes"),
        f"k8s-pod:{UID}",
    ),
    (
        f"/kubepods/burstable/pod{UID}/crio-{CID}",
        CgroupAttribution(
            container_id=CID,
            container_runtime="cri-o",
            pod_uid=UID,
            qos_class="burstable",
            kind="kubernetes",
        ),
        f"k8s-pod:{UID}",
    ),
    (
        f"/kubepods/burstable/pod{UID}",
        CgroupAttribution(pod_uid=UID, qos_class="burstable", kind="kubernetes"),
        f"k8s-pod:{UID}",
    ),
    (
        f"/kubepods/pod{UID}",
        CgroupAttribution(pod_uid=UID, qos_class="guaranteed", kind="kubernetes"),
        f"k8s-pod:{UID}",
    ),
    # CRI-O outside Kubernetes.
    (
        f"/machine.slice/crio-{CID}.scope",
        CgroupAttribution(
            container_id=CID,
            container_runtime="cri-o",
            systemd_unit=f"crio-{CID}.scope",
            systemd_slice="machine.slice",
            kind="other",
        ),
        f"docker:{CID}",
    ),
    # Podman.
    (
        f"/machine.slice/libpod-{CID}.scope",
        CgroupAttribution(
            container_id=CID,
            container_runtime="podman",
            systemd_unit=f"libpod-{CID}.scope",
            systemd_slice="machine.slice",
            kind="podman",
        ),
        f"docker:{CID}",
    ),
    (
        f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope/container",
        CgroupAttribution(
            container_id=CID,
            container_runtime="podman",
            systemd_unit=f"libpod-{CID}.scope",
            systemd_slice="user.slice",
            kind="podman",
        ),
        f"docker:{CID}",
    ),
    (
        f"/libpod_parent/libpod-{CID}/ctr",
        CgroupAttribution(container_id=CID, container_runtime="podman", kind="podman"),
        f"docker:{CID}",
    ),
    # LXC.
    (
        "/lxc/foo",
        CgroupAttribution(container_runtime="lxc", lxc_name="foo", kind="lxc"),
        "lxc:foo",
    ),
    (
        "/lxc.payload.foo",
        CgroupAttribution(container_runtime="lxc", lxc_name="foo", kind="lxc"),
        "lxc:foo",
    ),
    (
        "/lxc.payload/foo",
        CgroupAttribution(container_runtime="lxc", lxc_name="foo", kind="lxc"),
        "lxc:foo",
    ),
    (
        "/lxc/105/ns",
        CgroupAttribution(container_runtime="lxc", lxc_name="105", kind="lxc"),
        "lxc:105",
    ),
    (
        "/lxc/105",
        CgroupAttribution(container_runtime="lxc", lxc_name="105", kind="lxc"),
        "lxc:105",
    ),
    # systemd units.
    (
        "/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-thunderbird-265606.scope",
        CgroupAttribution(
            systemd_unit="app-gnome-thunderbird-265606.scope",
            systemd_slice="app.slice",
            kind="systemd",
        ),
        "systemd:app-gnome-thunderbird-265606.scope",
    ),
    (
        "/system.slice/nginx.service",
        CgroupAttribution(
            systemd_unit="nginx.service", systemd_slice="system.slice", kind="systemd"
        ),
        "systemd:nginx.service",
    ),
    (
        "/system.slice",
        CgroupAttribution(systemd_slice="system.slice", kind="systemd"),
        None,
    ),
    # Root and unknown shapes.
    ("/", CgroupAttribution(kind="root"), None),
    ("/mygroup/job-7", CgroupAttribution(kind="other"), None),
]


@pytest.mark.parametrize(("path", "expected", "hint"), CASES, ids=[c[0] for c in CASES])
def test_path_shapes(path, expected, hint):
    attribution = attribute_cgroup(path)
    assert attribution == expected
    assert container_hint(attribution) == hint


@pytest.mark.parametrize("path", [None, "", "   "])
def test_missing_path(path):
    assert attribute_cgroup(path) == CgroupAttribution(kind="other")
    assert container_hint(attribute_cgroup(path)) is None


def test_short_or_uppercase_ids_are_not_containers():
    # Runtime ids in cgroup paths are 64 lowercase hex digits; anything else is a name.
    assert attribute_cgroup("/docker/abc123").kind == "other"
    assert attribute_cgroup(f"/system.slice/docker-{CID[:12]}.scope") == CgroupAttribution(
        systemd_unit=f"docker-{CID[:12]}.scope", systemd_slice="system.slice", kind="systemd"
    )


def test_podman_conmon_scope_is_not_the_container():
    attribution = attribute_cgroup(f"/machine.slice/libpod-conmon-{CID}.scope")
    assert attribution.container_id is None
    assert attribution.kind == "systemd"
    assert container_hint(attribution) == f"systemd:libpod-conmon-{CID}.scope"


def test_kubernetes_inside_docker_is_kubernetes():
    # kind / docker-in-docker nodes nest the kubelet's hierarchy under the node container.
    path = f"/docker/{DOCKER_ID}/kubepods/burstable/pod{UID}/{CID}"
    attribution = attribute_cgroup(path)
    assert attribution.kind == "kubernetes"
    assert attribution.pod_uid == UID
    assert attribution.container_id == CID


def test_a_kubelet_with_a_cgroup_root_prefixes_its_slices_and_names_the_pod():
    """kind or minikube in Podman: `--cgroup-root=kubelet` names the slices
    kubelet-kubepods-burstable-pod<uid_>.slice, under the node's libpod scope."""
    node = f"/user.slice/user@1000.service/user.slice/libpod-{DOCKER_ID}.scope/container"
    underscored = UID.replace("-", "_")
    pod = (
        f"{node}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
        f"kubelet-kubepods-burstable-pod{underscored}.slice"
    )
    attribution = attribute_cgroup(pod)
    assert (attribution.kind, attribution.pod_uid, attribution.qos_class) == (
        "kubernetes",
        UID,
        "burstable",
    )
    assert attribute_cgroup(f"{pod}/cri-containerd-{CID}.scope").container_id == CID


def test_docker_in_docker_is_the_inner_container():
    assert attribute_cgroup(f"/docker/{DOCKER_ID}/{CID}").container_id == CID


def test_attribution_is_frozen():
    with pytest.raises(FrozenInstanceError):
        attribute_cgroup("/").kind = "other"  # type: ignore[misc]


def test_surrounding_whitespace_is_ignored():
    assert attribute_cgroup(f" /docker/{DOCKER_ID}\n").container_id == DOCKER_ID


def _corpus_cgroups() -> list[tuple[str, str, str | None]]:
    """(file, task_memcg, container_hint) from every corpus fact file with a task cgroup."""
    cases = []
    for facts_path in sorted(CORPUS.glob("*.json")):
        facts = json.loads(facts_path.read_text())
        cgroup = facts.get("cgroup") or {}
        if cgroup.get("task_memcg"):
            cases.append((facts_path.name, cgroup["task_memcg"], facts.get("container_hint")))
    return cases


CORPUS_CGROUPS = _corpus_cgroups()


def test_corpus_has_cgroups():
    assert len(CORPUS_CGROUPS) >= 8


@pytest.mark.parametrize(("name", "task_memcg", "hint"), CORPUS_CGROUPS)
def test_hint_matches_corpus_facts(name, task_memcg, hint):
    assert container_hint(attribute_cgroup(task_memcg)) == hint, name


def test_a_directory_inside_a_unit_that_is_no_unit_name_is_not_the_unit():
    """Konsole makes `tab(2336326).scope` inside its own scope: parentheses are in no unit
    name (systemd.unit(5)), so the unit is the scope above it, not that directory."""
    attribution = attribute_cgroup(
        "/user.slice/user-1000.slice/user@1000.service/app.slice/"
        "app-org.kde.konsole-10418.scope/tab(2336326).scope"
    )
    assert (attribution.systemd_unit, attribution.systemd_slice) == (
        "app-org.kde.konsole-10418.scope",
        "app.slice",
    )
    assert container_hint(attribution) == "systemd:app-org.kde.konsole-10418.scope"
    escaped = attribute_cgroup(r"/system.slice/system-getty.slice/getty@tty1.service")
    assert escaped.systemd_unit == "getty@tty1.service"
