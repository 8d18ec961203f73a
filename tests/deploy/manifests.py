"""Loading the deploy/ files the way their tools do (compose, kustomize), offline."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PIPELINES = REPO / "pipelines"
K8S_VERSION = "1.30.0"
KUSTOMIZATIONS = [DEPLOY / "kubernetes" / "central", DEPLOY / "kubernetes" / "edge"]
COMPOSE = DEPLOY / "compose" / "compose.yaml"


def load_yaml(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def kustomization(directory: Path) -> dict:
    (doc,) = load_yaml(directory / "kustomization.yaml")
    return doc


def generator_files(directory: Path) -> dict[str, dict[str, Path]]:
    """configMapGenerator name -> {key: file} (the `key=path` and plain `path` forms)."""
    out = {}
    for gen in kustomization(directory).get("configMapGenerator", []):
        files = {}
        for entry in gen.get("files", []):
            key, sep, rel = entry.partition("=")
            rel = rel if sep else key
            files[key if sep else Path(rel).name] = (directory / rel).resolve()
        out[gen["name"]] = files
    return out


def resources(directory: Path) -> list[dict]:
    """Every object the kustomization lists, plus its generated ConfigMaps (namespace set)."""
    k = kustomization(directory)
    objects = [obj for rel in k["resources"] for obj in load_yaml(directory / rel)]
    for name, files in generator_files(directory).items():
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name},
                "data": {key: path.read_text(encoding="utf-8") for key, path in files.items()},
            }
        )
    for obj in objects:
        if obj["kind"] != "Namespace":
            obj["metadata"].setdefault("namespace", k.get("namespace"))
    return objects


def pod_specs(objects: list[dict]) -> list[tuple[dict, dict]]:
    return [(o, o["spec"]["template"]["spec"]) for o in objects if "template" in o.get("spec", {})]


def images(objects: list[dict]) -> list[str]:
    return [c["image"] for _, spec in pod_specs(objects) for c in spec["containers"]]
