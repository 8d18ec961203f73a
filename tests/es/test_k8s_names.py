"""Kubernetes names for kills, looked up in container logs shaped as each shipper indexes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oom_enricher.pipeline import documents_from_lines
from oom_enricher.sinks.elasticsearch import EsConnection, names
from oom_enricher.sinks.elasticsearch.bulk_sink import ElasticsearchSink, SinkConfig
from oom_enricher.sinks.elasticsearch.installer import install
from oom_enricher.sinks.elasticsearch.k8s_enricher import EnrichStats, KubernetesEnricher
from oom_enricher.sinks.elasticsearch.k8s_lookup import EsPodLookup
from tests.core.report_lines import memcg_report

from .helpers import client, unique_namespace

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
REPO = Path(__file__).resolve().parents[2]

# corpus 007 (AKS, systemd cgroup driver: the uid is written with `_` in the cgroup path)
UID_007 = "5931aa75-4603-4e65-b552-7c71cf55cfb5"
CID_007 = "25a38b5b8d556d7983d975577f5ac75ebbcfb4b269e6deaa0a0440c1ffc969ca"
# corpus 016 (memory.oom.group kill of a guaranteed pod)
UID_016 = "f9411888-a753-41f4-9520-afc45712f5b5"
CID_016 = "85d3a7f5db9b92df4f5930b5bf062cff540084aacfc05310acc6c5cc963023ad"
# a report written here with the cgroupfs driver's path: the uid keeps its dashes
UID_CGROUPFS = "0d4c7a5e-1f2b-4c3d-9e8f-a1b2c3d4e5f6"
CID_CGROUPFS = "f" * 8 + "0123456789abcdef" * 3 + "a" * 8
OTHER_CID = "e" * 64


def _corpus_docs(name: str) -> list[dict]:
    text = (CORPUS / name).read_text(encoding="utf-8", errors="replace").splitlines()
    return [doc for doc in documents_from_lines(text) if doc.get("kubernetes")]


def _cgroupfs_doc() -> dict:
    path = f"/kubepods/burstable/pod{UID_CGROUPFS}/{CID_CGROUPFS}"
    lines = [
        line.replace(
            "oom_memcg=/app.slice,task_memcg=/app.slice", f"oom_memcg={path},task_memcg={path}"
        )
        for line in memcg_report("java", 4100, 4101)
    ]
    [doc] = list(documents_from_lines(lines))
    assert doc["kubernetes"]["pod"]["uid"] == UID_CGROUPFS
    return doc


def _fluent_bit_record(uid: str, cid: str, pod: str, container: str, **labels) -> dict:
    """Fluent Bit tail + kubernetes filter (Owner_References On) + es output, Replace_Dots On."""
    template_hash = pod.rsplit("-", 2)[1]
    return {
        "@timestamp": "2026-11-30T10:00:00.000Z",
        "log": "GET /health 200\n",
        "stream": "stdout",
        "time": "2026-11-30T10:00:00.123456789Z",
        "kubernetes": {
            "pod_name": pod,
            "namespace_name": "payments",
            "pod_id": uid,
            "labels": {"app": "api", "pod-template-hash": template_hash, **labels},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"api-{template_hash}",
                    "uid": "1a12c3e2-d6c4-4a8a-b877-dd3c857d1aea",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "host": "aks-nodepool1-12345678-vmss000000",
            "pod_ip": "10.244.1.17",
            "container_name": container,
            "docker_id": cid,
            "container_hash": "registry.example/api@sha256:" + "ab" * 32,
            "container_image": "registry.example/api:1.4.2",
        },
    }


def _filebeat_record(uid: str, cid: str, pod: str, container: str) -> dict:
    """Filebeat container input + add_kubernetes_metadata (ECS layout, labels de-dotted)."""
    return {
        "@timestamp": "2026-11-30T10:00:01.000Z",
        "message": "worker started",
        "stream": "stdout",
        "input": {"type": "container"},
        "log": {"file": {"path": f"/var/log/containers/{pod}_batch_{container}-{cid}.log"}},
        "container": {"id": cid, "runtime": "containerd", "image": {"name": "ghcr.io/x/y:2"}},
        "kubernetes": {
            "pod": {"name": pod, "uid": uid, "ip": "10.0.3.4"},
            "namespace": "batch",
            "namespace_uid": "9b2f8f54-7a4c-4f8c-8d0e-3c5f5e0d2a11",
            "node": {"name": "ip-10-0-3-4.ec2.internal"},
            "labels": {"app_kubernetes_io/name": "reports", "pod-template-hash": "5c8d9f7b64"},
            "container": {"name": container},
            "replicaset": {"name": "reports-5c8d9f7b64"},
            "deployment": {"name": "reports"},
        },
        "ecs": {"version": "8.0.0"},
    }


def _fluentd_record(uid: str, cid: str, pod: str, container: str) -> dict:
    """Fluentd in_tail + kubernetes_metadata filter (de_dot) + elasticsearch output."""
    return {
        "@timestamp": "2026-11-30T10:00:02.000000000+00:00",
        "log": "checkpoint written\n",
        "stream": "stderr",
        "docker": {"container_id": cid},
        "kubernetes": {
            "container_name": container,
            "namespace_name": "ledger",
            "pod_name": pod,
            "container_image": "postgres:16",
            "container_image_id": "docker-pullable://postgres@sha256:" + "cd" * 32,
            "pod_id": uid,
            "pod_ip": "10.1.2.3",
            "host": "worker-3",
            "labels": {
                "app_kubernetes_io/name": "ledger-db",
                "statefulset_kubernetes_io/pod-name": pod,
                "controller-revision-hash": "ledger-6d5f8c7b9",
            },
            "master_url": "https://10.96.0.1:443/api",
            "namespace_id": "2f4e6a8c-0b1d-4e3f-8a5c-7e9d1b3f5a7c",
        },
    }


@pytest.fixture()
def es(es_url):
    return client(es_url)


@pytest.fixture()
def ns(es_url):
    namespace = unique_namespace("k")
    install(client(es_url), namespace)
    return namespace


def _index_kills(es_url: str, tmp_path: Path, ns: str, docs: list[dict]) -> None:
    sink = ElasticsearchSink(
        SinkConfig(
            EsConnection(es_url, request_timeout=10),
            namespace=ns,
            spool_dir=tmp_path / "spool",
            dead_letter_path=tmp_path / "dead.jsonl",
        )
    )
    for doc in docs:
        sink.send(doc)
    assert sink.flush(30)
    sink.close()


def _index_logs(es, index: str, records: list[dict]) -> None:
    for record in records:
        es.index(index=index, document=record)
    es.indices.refresh(index=index)


def _enrich(es, ns: str, logs_index: str, **kw):
    lookup = EsPodLookup(es, logs_index)
    enricher = KubernetesEnricher(es, names.data_stream_name(ns), lookup, **kw)
    return enricher, lookup, enricher.run_once()


def _stored(es, ns: str) -> dict[str, dict]:
    stream = names.data_stream_name(ns)
    es.indices.refresh(index=stream)
    hits = es.search(index=stream, size=100).body["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def _by_pod(stored: dict[str, dict], uid: str) -> dict:
    [doc] = [d for d in stored.values() if d.get("kubernetes", {}).get("pod", {}).get("uid") == uid]
    return doc


def test_fluent_bit_records_name_a_kill_whose_uid_has_underscores(es_url, es, ns, tmp_path):
    _index_kills(
        es_url, tmp_path, ns, _corpus_docs("007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log")
    )
    logs = f"logstash-{ns}-2026.11.30"
    _index_logs(es, logs, [_fluent_bit_record(UID_007, CID_007, "api-7d9f8b6c5d-x2kqz", "worker")])
    _, _, stats = _enrich(es, ns, logs)
    assert stats.enriched == 1
    doc = _by_pod(_stored(es, ns), UID_007)
    k8s = doc["kubernetes"]
    assert k8s["namespace"] == "payments"
    assert k8s["pod"] == {"uid": UID_007, "qos_class": "burstable", "name": "api-7d9f8b6c5d-x2kqz"}
    assert k8s["container"] == {"name": "worker"}
    assert k8s["workload"] == {"kind": "Deployment", "name": "api", "rule": "owner_reference"}
    assert k8s["labels"]["app"] == "api"
    assert k8s["names"] == {
        "status": "found",
        "source": "fluent-bit",
        "container_rule": "container_id",
    }
    assert doc["container"]["name"] == "worker"
    assert doc["container"]["id"] == CID_007
    assert doc["orchestrator"] == {
        "type": "kubernetes",
        "namespace": "payments",
        "resource": {"type": "pod", "name": "api-7d9f8b6c5d-x2kqz"},
    }


def test_filebeat_records_name_a_kill_and_give_the_deployment(es_url, es, ns, tmp_path):
    _index_kills(es_url, tmp_path, ns, _corpus_docs("016-k8s-memcg-oom-group-multikill-dmesgT.log"))
    logs = f"filebeat-{ns}-8.14.3"
    _index_logs(
        es, logs, [_filebeat_record(UID_016, CID_016, "reports-5c8d9f7b64-q8w2p", "render")]
    )
    _enrich(es, ns, logs)
    k8s = _by_pod(_stored(es, ns), UID_016)["kubernetes"]
    assert (k8s["namespace"], k8s["pod"]["name"], k8s["container"]["name"]) == (
        "batch",
        "reports-5c8d9f7b64-q8w2p",
        "render",
    )
    assert k8s["workload"] == {"kind": "Deployment", "name": "reports", "rule": "workload_field"}
    assert k8s["names"]["source"] == "filebeat"
    assert k8s["labels"]["app_kubernetes_io/name"] == "reports"


def test_fluentd_records_name_a_kill_whose_uid_has_dashes(es_url, es, ns, tmp_path):
    _index_kills(es_url, tmp_path, ns, [_cgroupfs_doc()])
    logs = f"fluentd-{ns}"
    _index_logs(es, logs, [_fluentd_record(UID_CGROUPFS, CID_CGROUPFS, "ledger-db-0", "postgres")])
    _enrich(es, ns, logs)
    k8s = _by_pod(_stored(es, ns), UID_CGROUPFS)["kubernetes"]
    assert (k8s["namespace"], k8s["pod"]["name"], k8s["container"]["name"]) == (
        "ledger",
        "ledger-db-0",
        "postgres",
    )
    assert k8s["workload"] == {
        "kind": "StatefulSet",
        "name": "ledger-db",
        "rule": "controller_label",
    }
    assert k8s["names"]["source"] == "fluentd"


def test_names_not_found_at_first_are_filled_in_by_a_later_pass(es_url, es, ns, tmp_path):
    _index_kills(es_url, tmp_path, ns, [_cgroupfs_doc()])
    logs = f"logstash-{ns}-late"
    _index_logs(
        es,
        logs,
        [
            _fluent_bit_record(
                "0" * 8 + "-aaaa-bbbb-cccc-" + "d" * 12, OTHER_CID, "x-5f6d7c8b9-abcde", "x"
            )
        ],
    )
    enricher, _, first = _enrich(es, ns, logs)
    assert (first.candidates, first.enriched, first.not_found) == (1, 0, 1)
    assert "namespace" not in _by_pod(_stored(es, ns), UID_CGROUPFS)["kubernetes"]
    _index_logs(es, logs, [_fluentd_record(UID_CGROUPFS, CID_CGROUPFS, "ledger-db-0", "postgres")])
    enricher.lookup.cache = type(enricher.lookup.cache)()  # the miss would expire by itself
    second = enricher.run_once()
    assert second.enriched == 1
    assert _by_pod(_stored(es, ns), UID_CGROUPFS)["kubernetes"]["namespace"] == "ledger"


def test_two_containers_of_one_pod_each_keep_their_own_name(es_url, es, ns, tmp_path):
    _index_kills(
        es_url, tmp_path, ns, _corpus_docs("007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log")
    )
    logs = f"logstash-{ns}-two"
    pod = "api-7d9f8b6c5d-x2kqz"
    _index_logs(
        es,
        logs,
        [
            _fluent_bit_record(UID_007, OTHER_CID, pod, "envoy"),
            _fluent_bit_record(UID_007, CID_007, pod, "worker"),
            _fluent_bit_record(UID_007, OTHER_CID, pod, "envoy"),
        ],
    )
    _enrich(es, ns, logs)
    k8s = _by_pod(_stored(es, ns), UID_007)["kubernetes"]
    assert k8s["container"]["name"] == "worker"
    assert k8s["names"]["container_rule"] == "container_id"


def test_a_restarted_container_gets_its_name_from_the_pod(es_url, es, ns, tmp_path):
    _index_kills(
        es_url, tmp_path, ns, _corpus_docs("007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log")
    )
    logs = f"logstash-{ns}-restart"
    # only the logs of the container's previous run (another id) are indexed so far
    _index_logs(
        es, logs, [_fluent_bit_record(UID_007, OTHER_CID, "api-7d9f8b6c5d-x2kqz", "worker")]
    )
    _enrich(es, ns, logs)
    k8s = _by_pod(_stored(es, ns), UID_007)["kubernetes"]
    assert k8s["pod"]["name"] == "api-7d9f8b6c5d-x2kqz"
    assert k8s["container"]["name"] == "worker"
    assert k8s["names"]["container_rule"] == "only_container"


def test_a_lookup_index_that_does_not_exist_costs_one_request_per_batch(es_url, es, ns, tmp_path):
    docs = _corpus_docs("007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log")
    docs += _corpus_docs("016-k8s-memcg-oom-group-multikill-dmesgT.log") + [_cgroupfs_doc()]
    _index_kills(es_url, tmp_path, ns, docs)
    enricher, lookup, stats = _enrich(es, ns, f"nosuch-{ns}", max_attempts=2)
    assert (stats.candidates, stats.enriched, stats.not_found) == (3, 0, 3)
    assert lookup.stats.requests == 1
    again = enricher.run_once()  # the misses are cached: no request at all
    assert lookup.stats.requests == 1
    assert again.gave_up == 3
    stored = _stored(es, ns)
    assert {d["kubernetes"]["names"]["status"] for d in stored.values()} == {"not_found"}
    assert enricher.run_once().candidates == 0  # serve stops asking


def test_a_newer_version_of_a_document_is_never_overwritten(es_url, es, ns, tmp_path):
    _index_kills(
        es_url, tmp_path, ns, _corpus_docs("007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log")
    )
    logs = f"logstash-{ns}-race"
    _index_logs(es, logs, [_fluent_bit_record(UID_007, CID_007, "api-7d9f8b6c5d-x2kqz", "worker")])
    enricher = KubernetesEnricher(es, names.data_stream_name(ns), EsPodLookup(es, logs))
    es.indices.refresh(index=names.data_stream_name(ns))
    [hits] = list(enricher._pages({"match_all": {}}, None))
    hit = hits[0]
    newer = dict(_full(es, hit), tags=["amended"])  # as an amended version would be
    es.index(
        index=hit["_index"],
        id=hit["_id"],
        document=newer,
        if_seq_no=hit["_seq_no"],
        if_primary_term=hit["_primary_term"],
    )
    stats = EnrichStats()
    enricher._enrich_page(hits, stats)
    assert stats.conflicts == 1
    assert "namespace" not in _stored(es, ns)[hit["_id"]]["kubernetes"]
    assert enricher.run_once().enriched == 1  # the next pass updates the newer version
    stored = _stored(es, ns)[hit["_id"]]
    assert (stored["tags"], stored["kubernetes"]["namespace"]) == (["amended"], "payments")


def _full(es, hit: dict) -> dict:
    return es.get(index=hit["_index"], id=hit["_id"]).body["_source"]


def test_enrich_command_fills_names_in(es_url, es, ns, tmp_path):
    _index_kills(es_url, tmp_path, ns, _corpus_docs("016-k8s-memcg-oom-group-multikill-dmesgT.log"))
    logs = f"filebeat-{ns}-cli"
    _index_logs(
        es, logs, [_filebeat_record(UID_016, CID_016, "reports-5c8d9f7b64-q8w2p", "render")]
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "oom_enricher",
            "enrich",
            "--es",
            es_url,
            "--namespace",
            ns,
            "--logs-index",
            logs,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"enriched": 1' in done.stderr
    assert (
        _by_pod(_stored(es, ns), UID_016)["kubernetes"]["pod"]["name"] == "reports-5c8d9f7b64-q8w2p"
    )


def test_backfill_fills_kubernetes_names_in(es_url, es, ns, tmp_path):
    from tests.es.test_backfill import _index_raw

    lines = (CORPUS / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log").read_text()
    raw = f"fluentbit-raw-{ns}"
    _index_raw(es, raw, lines.splitlines())
    logs = f"logstash-{ns}-backfill"
    _index_logs(es, logs, [_fluent_bit_record(UID_007, CID_007, "api-7d9f8b6c5d-x2kqz", "worker")])
    args = ["backfill", "--es", es_url, "--source", raw, "--namespace", ns, "--year", "2026"]
    args += ["--state", str(tmp_path / "state.json"), "--spool-dir", str(tmp_path / "spool")]
    args += ["--dead-letter", str(tmp_path / "dead.jsonl"), "--kubernetes-logs-index", logs]
    from oom_enricher.cli.main import main

    assert main(args) == 0
    k8s = _by_pod(_stored(es, ns), UID_007)["kubernetes"]
    assert (k8s["namespace"], k8s["container"]["name"]) == ("payments", "worker")
