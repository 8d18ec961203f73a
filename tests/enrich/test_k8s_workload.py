"""Workload rules, record layouts and the name cache, without Elasticsearch."""

from __future__ import annotations

import pytest

from oom_enricher.enrich.k8s_names import TtlCache, names_from_record, names_update
from oom_enricher.enrich.k8s_presets import detect, field_value
from oom_enricher.enrich.k8s_workload import Workload, workload_of

UID = "5931aa75-4603-4e65-b552-7c71cf55cfb5"


@pytest.mark.parametrize(
    ("pod", "labels", "owners", "fields", "expected"),
    [
        # owner references: a ReplicaSet of a Deployment is named <deployment>-<template hash>
        (
            "api-7d9f8b6c5d-x2kqz",
            {"pod-template-hash": "7d9f8b6c5d"},
            [{"kind": "ReplicaSet", "name": "api-7d9f8b6c5d", "controller": True}],
            None,
            Workload("Deployment", "api", "owner_reference"),
        ),
        (
            "fluentbit-gke-2p6b5",
            {},
            [{"kind": "DaemonSet", "name": "fluentbit-gke", "controller": True}],
            None,
            Workload("DaemonSet", "fluentbit-gke", "owner_reference"),
        ),
        # workload fields written by Filebeat / Elastic Agent
        (
            "nightly-28861200-7vq4x",
            {},
            None,
            {"CronJob": "nightly", "Job": "nightly-28861200"},
            Workload("CronJob", "nightly", "workload_field"),
        ),
        # controller labels
        (
            "migrate-db-r7xk2",
            {"job-name": "migrate-db", "controller-uid": "x"},
            None,
            None,
            Workload("Job", "migrate-db", "controller_label"),
        ),
        (
            "ledger-db-0",
            {"statefulset_kubernetes_io/pod-name": "ledger-db-0"},
            None,
            None,
            Workload("StatefulSet", "ledger-db", "controller_label"),
        ),
        (
            "node-exporter-k2x7z",
            {"pod-template-generation": "3", "controller-revision-hash": "6b5c"},
            None,
            None,
            Workload("DaemonSet", "node-exporter", "controller_label"),
        ),
        (
            "web-6f7d8c9b5-zx2vb",
            {"pod-template-hash": "6f7d8c9b5"},
            None,
            None,
            Workload("Deployment", "web", "controller_label"),
        ),
        # application labels name the workload; the pod name pattern gives the kind
        (
            "shop-frontend-5d7c9f8b6-8wq2c",
            {"app.kubernetes.io/name": "frontend"},
            None,
            None,
            Workload("Deployment", "frontend", "app_label"),
        ),
        # pod name patterns alone
        ("cart-85f6b7c9d4-m4n5p", {}, None, None, Workload("Deployment", "cart", "pod_name")),
        ("kafka-2", {}, None, None, Workload("StatefulSet", "kafka", "pod_name")),
        ("cleanup-x7z9k", {}, None, None, Workload(None, "cleanup", "pod_name")),
    ],
)
def test_workload_rules(pod, labels, owners, fields, expected):
    assert workload_of(pod, labels, owners, fields) == expected


def test_a_static_pod_has_no_workload():
    assert workload_of("kube-apiserver-master1", {}, None, None) is None


def test_fields_are_found_nested_or_dotted():
    assert field_value({"kubernetes": {"pod": {"uid": UID}}}, "kubernetes.pod.uid") == UID
    assert field_value({"kubernetes.pod.uid": UID}, "kubernetes.pod.uid") == UID
    assert field_value({"kubernetes.pod": {"uid": UID}}, "kubernetes.pod.uid") == UID
    assert field_value({"kubernetes": {"pod": "x"}}, "kubernetes.pod.uid") is None


def test_each_shipper_layout_is_detected():
    fluent_bit = {"kubernetes": {"pod_id": UID, "docker_id": "a" * 64}}
    fluentd = {"kubernetes": {"pod_id": UID}, "docker": {"container_id": "a" * 64}}
    filebeat = {"kubernetes": {"pod": {"uid": UID}}, "container": {"id": "a" * 64}}
    assert [detect(r).name for r in (fluent_bit, fluentd, filebeat)] == [
        "fluent-bit",
        "fluentd",
        "filebeat",
    ]
    assert detect({"log": "no metadata"}) is None


def test_labels_are_de_dotted_and_runtime_prefixes_dropped():
    record = {
        "kubernetes": {
            "pod": {"uid": UID, "name": "p-0"},
            "namespace": "n",
            "labels": {"app.kubernetes.io/name": "x", "app": {"kubernetes": {"io/part-of": "y"}}},
            "container": {"name": "c"},
        },
        "container": {"id": "containerd://" + "b" * 64},
    }
    names = names_from_record(record)
    assert names.labels == {"app_kubernetes_io/name": "x", "app_kubernetes_io/part-of": "y"}
    assert names.container_id == "b" * 64
    update = names_update(names, "c", "container_id")
    assert update["kubernetes"]["container"] == {"name": "c"}
    assert update["orchestrator"]["resource"] == {"type": "pod", "name": "p-0"}


def test_a_record_without_pod_name_gives_no_names():
    assert names_from_record({"kubernetes": {"pod_id": UID, "docker_id": "a" * 64}}) is None


def test_cache_is_bounded_and_entries_expire():
    now = [0.0]
    cache = TtlCache(max_entries=3, ttl=10, miss_ttl=2, clock=lambda: now[0])
    for key in "abcd":
        cache.put(key, key.upper())
    assert len(cache) == 3
    assert cache.get("a") == (False, None)
    assert cache.get("d") == (True, "D")
    cache.put("miss", None)
    now[0] = 3.0
    assert cache.get("miss") == (False, None)  # a miss is asked again sooner
    assert cache.get("d") == (True, "D")
    now[0] = 11.0
    assert cache.get("d") == (False, None)
