"""deploy/: the files parse, validate against the official schemas, mount files that exist,
pin their images, and use the shipped pipelines/ configurations rather than copies."""

import configparser
import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest

from oom_enricher.serve.config import load_config
from tests.deploy.manifests import (
    COMPOSE,
    DEPLOY,
    K8S_VERSION,
    KUSTOMIZATIONS,
    PIPELINES,
    REPO,
    generator_files,
    images,
    kustomization,
    load_yaml,
    pod_specs,
    resources,
)

PINNED = re.compile(r"^[\w./-]+(:[\w][\w.-]*\d[\w.-]*)$")  # a tag with a version number
ALL_YAML = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path):
    assert load_yaml(path)


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.toml")), ids=lambda p: p.name)
def test_toml_parses(path):
    assert tomllib.loads(path.read_text())


@pytest.mark.parametrize("name", ["config.toml", "config-edge.toml"])
def test_serve_accepts_the_shipped_configs(name):
    config = load_config(DEPLOY / "config" / name)
    assert config.http_host == "0.0.0.0" and config.http_port == 8686
    assert config.sinks["elasticsearch"]["password_env"] == "OOM_ENRICHER_ES_PASSWORD"
    assert "password" not in config.sinks["elasticsearch"]
    if name == "config.toml":
        assert config.sources["forward"]["port"] == 24224
        assert "shared_key" not in config.sources["forward"]  # comes from --shared-key-file
    else:
        assert config.sources == {"kmsg": {"path": "/dev/kmsg"}}


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kubernetes_objects_validate_against_official_schemas(directory):
    objects = resources(directory)
    assert {o["kind"] for o in objects} >= {"Namespace", "Secret", "ConfigMap"}
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_every_mounted_file_exists_and_every_reference_resolves(directory):
    generated = generator_files(directory)
    for files in generated.values():
        for path in files.values():
            assert path.is_file(), f"{directory.name}: {path} does not exist"
            assert REPO in path.parents
    objects = resources(directory)
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    secrets.update(_secrets_the_readme_creates())
    claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
    for _owner, spec in pod_specs(objects):
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            for mount in container["volumeMounts"]:
                volume = volumes[mount["name"]]
                if "configMap" in volume:
                    keys = generated[volume["configMap"]["name"]]
                    for item in volume["configMap"].get("items", []):
                        assert item["key"] in keys
                    if "subPath" in mount:
                        assert mount["subPath"] in keys
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims
                if "secret" in volume:
                    data = secrets[volume["secret"]["secretName"]]["stringData"]
                    for item in volume["secret"].get("items", []):
                        assert item["key"] in data
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]


def _secrets_the_readme_creates() -> dict[str, dict]:
    """Secrets the operator guide tells people to create with kubectl (certificates)."""
    readme = (DEPLOY / "README.md").read_text().replace("\\\n", " ")
    found = {}
    for name, args in re.findall(r"create secret generic (\S+)((?:\s+--from-\S+)+)", readme):
        keys = re.findall(r"--from-(?:file|literal)=([\w.-]+)", args)
        found[name] = {"stringData": dict.fromkeys(keys, "")}
    return found


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_oom_enricher_pods_have_limits_and_health_probes(directory):
    objects = resources(directory)
    found = 0
    for _owner, spec in pod_specs(objects):
        for container in spec["containers"]:
            assert container["resources"]["limits"]["memory"]
            assert container["resources"]["requests"]["cpu"]
            if not container["image"].startswith("oom-enricher"):
                continue
            found += 1
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports["http"] == 8686
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                get = container[probe]["httpGet"]
                assert (get["path"], ports[get["port"]]) == ("/health", 8686)
            assert container["args"][:3] == ["serve", "--config", "/etc/oom-enricher/config.toml"]
    assert found == 1


def test_central_service_exposes_forward_port():
    objects = resources(KUSTOMIZATIONS[0])
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "forward": 24224,
        "http": 8686,
    }
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0


def test_edge_daemonset_reads_dev_kmsg():
    objects = resources(KUSTOMIZATIONS[1])
    (daemonset,) = [o for o in objects if o["kind"] == "DaemonSet"]
    volumes = daemonset["spec"]["template"]["spec"]["volumes"]
    assert {"path": "/dev/kmsg", "type": "CharDevice"} in [v.get("hostPath") for v in volumes]


def test_compose_stack_services_mounts_and_images():
    (compose,) = load_yaml(COMPOSE)
    services = compose["services"]
    assert {"elasticsearch", "kibana", "fluent-bit", "oom-enricher", "setup"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = (COMPOSE.parent / source).resolve()
                assert path.exists(), f"{name} mounts {source}, which does not exist"
        build = service.get("build")
        if build:
            context = (COMPOSE.parent / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file()
    setup = " ".join(services["setup"]["command"])
    assert "oom-enricher setup --es" in setup and "oom-enricher kibana import" in setup
    assert "--overwrite" in setup


def _all_images() -> list[str]:
    found = [s["image"] for s in load_yaml(COMPOSE)[0]["services"].values()]
    for directory in KUSTOMIZATIONS:
        found += images(resources(directory))
    return found


def test_image_tags_are_pinned():
    for image in _all_images():
        assert PINNED.match(image), f"{image} is not pinned to a version"
        assert not image.endswith(":latest")
    for directory in KUSTOMIZATIONS:
        for override in kustomization(directory).get("images", []):
            assert PINNED.match(f"x:{override['newTag']}")
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base)
    assert all(
        line.split()[1] in {"${PYTHON_IMAGE}"}
        for line in dockerfile.splitlines()
        if line.startswith("FROM ")
    )


def test_dockerfile_runs_as_non_root_and_copies_what_exists():
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        if source.startswith("--"):
            continue
        assert (REPO / source).exists(), source
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M))
    assert {c.rstrip("/") for c in copied} <= kept  # nothing copied is excluded


def test_systemd_unit_is_hardened():
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(DEPLOY / "systemd" / "oom-enricher.service")
    service = parser["Service"]
    assert " serve --config /etc/oom-enricher/config.toml " in service["ExecStart"]
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "DynamicUser": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictSUIDSGID": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
    }
    assert {k: service.get(k) for k in expected} == expected
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_unit_descriptor_limit_covers_the_default_connection_cap():
    from oom_enricher.sources.limits import RESERVED_DESCRIPTORS, SourceLimits

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(DEPLOY / "systemd" / "oom-enricher.service")
    limit = int(parser["Service"]["LimitNOFILE"])
    assert limit >= SourceLimits().max_connections + RESERVED_DESCRIPTORS


def _fluent_bit_references() -> list[Path]:
    refs = []
    for volume in load_yaml(COMPOSE)[0]["services"]["fluent-bit"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("."):
            refs.append((COMPOSE.parent / source).resolve())
    for directory in KUSTOMIZATIONS:
        for name, files in generator_files(directory).items():
            if name.startswith("fluent-bit"):
                refs.extend(files.values())
    return refs


def test_fluent_bit_configs_are_the_pipelines_files():
    refs = _fluent_bit_references()
    assert len(refs) >= 2  # compose and Kubernetes
    for path in refs:
        assert path.is_relative_to(PIPELINES / "fluent-bit"), path
        assert path.is_file(), f"{path.relative_to(REPO)} is not in pipelines/ yet"


def _fluent_bit_config() -> dict:
    (config,) = load_yaml(PIPELINES / "fluent-bit" / "fluent-bit.yaml")
    return config


def _fluent_bit_env_names() -> set[str]:
    text = (PIPELINES / "fluent-bit" / "fluent-bit.yaml").read_text()
    return set(re.findall(r"\$\{(\w+)\}", text))


def _fluent_bit_paths() -> set[str]:
    """Files and folders the shipped config reads or writes: storage and the TLS CA."""
    config = _fluent_bit_config()
    paths = {config["service"]["storage.path"]}
    for output in config["pipeline"]["outputs"]:
        if output.get("tls.ca_file"):
            paths.add(output["tls.ca_file"])
    return paths


def test_fluent_bit_gets_its_environment_and_paths_in_compose():
    service = load_yaml(COMPOSE)[0]["services"]["fluent-bit"]
    assert _fluent_bit_env_names() <= set(service["environment"])
    targets = [v.split(":")[1] for v in service["volumes"]]
    for path in _fluent_bit_paths():
        assert any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets), path


def test_fluent_bit_gets_its_environment_and_paths_in_kubernetes():
    objects = resources(KUSTOMIZATIONS[0])
    (daemonset,) = [o for o in objects if o["metadata"]["name"] == "fluent-bit-kernel"]
    (container,) = daemonset["spec"]["template"]["spec"]["containers"]
    assert _fluent_bit_env_names() <= {e["name"] for e in container["env"]}
    hostname = next(e for e in container["env"] if e["name"] == "HOSTNAME")
    assert hostname["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    targets = [m["mountPath"] for m in container["volumeMounts"]]
    for path in _fluent_bit_paths():
        assert any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets), path


def test_forward_tls_files_are_mounted_where_the_config_says():
    config = load_config(DEPLOY / "config" / "config.toml").sources["forward"]
    wanted = {config["tls_cert"], config["tls_key"]}
    service = load_yaml(COMPOSE)[0]["services"]["oom-enricher"]
    targets = [v.split(":")[1] for v in service["volumes"]]
    for path in wanted:
        assert any(path.startswith(t.rstrip("/") + "/") for t in targets), path
    (deployment,) = [o for o in resources(KUSTOMIZATIONS[0]) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        items = volumes[mount["name"]].get("secret", {}).get("items", [])
        for item in items:
            wanted.discard(f"{mount['mountPath']}/{item['path']}")
    assert wanted == set()


def test_no_drifting_copies_of_pipeline_configs_in_deploy():
    shipped = {p.read_bytes() for p in PIPELINES.rglob("*") if p.is_file()}
    for path in DEPLOY.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_bytes()
        assert text not in shipped, f"{path.relative_to(REPO)} copies a pipelines/ file"
        lowered = text.decode("utf-8", "replace")
        # Fluent Bit classic ([INPUT]/[OUTPUT]) or YAML (pipeline: inputs/outputs) configs
        assert not re.search(r"^\s*\[(INPUT|OUTPUT|FILTER|SERVICE)\]", lowered, re.M), path
        assert not re.search(r"^pipeline:\s*$", lowered, re.M), path
