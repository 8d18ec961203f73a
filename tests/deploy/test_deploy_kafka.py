"""deploy/kubernetes/kafka: the receiving tier and the workers over Kafka validate like the
other kits, mount what exists, and run configurations `serve` accepts."""

from __future__ import annotations

import kubernetes_validate

from oom_enricher.serve.config import load_config, validate
from tests.deploy import test_deploy as kits
from tests.deploy.manifests import (
    DEPLOY,
    K8S_VERSION,
    PIPELINES,
    generator_files,
    images,
    pod_specs,
    resources,
)

KIT = DEPLOY / "kubernetes" / "kafka"


def _deployments() -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in resources(KIT) if o["kind"] == "Deployment"}


def test_kafka_kit_validates_against_official_schemas():
    objects = resources(KIT)
    assert {o["kind"] for o in objects} >= {
        "Namespace",
        "Secret",
        "ConfigMap",
        "Deployment",
        "Service",
    }
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_kafka_kit_mounts_exist_and_references_resolve():
    kits.test_every_mounted_file_exists_and_every_reference_resolves(KIT)


def test_receiving_tier_and_workers_run_configs_serve_accepts():
    files = generator_files(KIT)
    receiver = load_config(files["oom-enricher-receiver-config"]["config.toml"])
    validate(receiver)
    assert set(receiver.sinks) == {"kafka"} and {"forward", "syslog"} <= set(receiver.sources)
    worker = load_config(files["oom-enricher-worker-config"]["config.toml"])
    validate(worker)
    assert set(worker.sources) == {"kafka"} and "elasticsearch" in worker.sinks
    assert receiver.sinks["kafka"]["topic"] == worker.sources["kafka"]["topic"]
    assert files["fluent-bit-config"]["fluent-bit.yaml"].is_relative_to(PIPELINES / "fluent-bit")


def test_workers_scale_out_and_the_receivers_take_the_central_service_name():
    deployments = _deployments()
    workers, receivers = deployments["oom-enricher-worker"], deployments["oom-enricher-receiver"]
    assert workers["spec"]["replicas"] > 1 and receivers["spec"]["replicas"] > 1
    for deployment in (workers, receivers):
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
        spec = deployment["spec"]["template"]["spec"]
        [container] = spec["containers"]
        assert (
            container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
        )
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/health"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert not any("persistentVolumeClaim" in v for v in spec["volumes"])  # Kafka holds state
    (service,) = [o for o in resources(KIT) if o["kind"] == "Service"]
    assert service["metadata"]["name"] == "oom-enricher"  # what the Fluent Bit DaemonSet targets
    labels = receivers["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["forward"] == 24224
    budgets = {o["metadata"]["name"] for o in resources(KIT) if o["kind"] == "PodDisruptionBudget"}
    assert budgets == {"oom-enricher-worker", "oom-enricher-receiver"}


def test_kafka_kit_images_are_pinned():
    for image in images(resources(KIT)):
        assert kits.PINNED.match(image), image
    assert len(pod_specs(resources(KIT))) == 3  # receivers, workers, Fluent Bit
