"""`serve` indexes a kill at once and fills its Kubernetes names in later, in place."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.installer import install
from tests.es.test_k8s_names import CID_007, UID_007, _fluent_bit_record, _index_logs
from tests.serve.test_serve_kill_restart import ResendingSender, free_port, start_server

from .helpers import client, unique_namespace

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _wait_for(predicate, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError("timed out")


def test_serve_indexes_at_once_and_names_the_pod_when_its_logs_appear(es_url, tmp_path):
    es, ns = client(es_url), unique_namespace("ks")
    install(es, ns)
    logs = f"logstash-{ns}-serve"
    port = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        "[pipeline]\nmax_wall_age = 2.0\n"
        f"[http]\nport = {free_port()}\n"
        f"[sources.forward]\nport = {port}\n"
        f'[sinks.elasticsearch]\nurl = "{es_url}"\nnamespace = "{ns}"\n'
        f'kubernetes_logs_index = "{logs}"\nkubernetes_interval = 0.5\n'
        # the logs are indexed after the first misses: ask again soon, and do not give up
        "kubernetes_miss_ttl = 0.5\nkubernetes_max_attempts = 100000\n"
    )
    log = tmp_path / "serve.log"
    server = start_server(config, log)
    stream = names.data_stream_name(ns)

    def kill_doc():
        if not es.indices.exists(index=stream):
            return None  # the ack means the lines are journaled; indexing follows
        es.indices.refresh(index=stream)
        hits = es.search(index=stream, query={"term": {"kubernetes.pod.uid": UID_007}}).body
        return hits["hits"]["hits"][0]["_source"] if hits["hits"]["hits"] else None

    try:
        lines = (CORPUS / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log").read_text()
        entries = [[1790000000 + n, {"log": line}] for n, line in enumerate(lines.splitlines())]
        ResendingSender(port).send_chunk("kern", entries, "k8s-1")
        first = _wait_for(kill_doc)
        assert "namespace" not in first["kubernetes"]  # indexed without waiting for names
        _index_logs(
            es, logs, [_fluent_bit_record(UID_007, CID_007, "api-7d9f8b6c5d-x2kqz", "worker")]
        )
        named = _wait_for(lambda: (doc := kill_doc()) and "namespace" in doc["kubernetes"] and doc)
        assert named["kubernetes"]["namespace"] == "payments"
        assert named["kubernetes"]["workload"]["name"] == "api"
        assert named["event"]["id"] == first["event"]["id"]
        es.indices.refresh(index=stream)
        one = {"term": {"kubernetes.pod.uid": UID_007}}
        assert es.count(index=stream, query=one).body["count"] == 1  # updated, not added
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
