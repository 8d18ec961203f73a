"""Basic auth, API key and bearer token over TLS (CA file or fingerprint), on a secured node.

The node runs Elasticsearch's own security module (file-realm user, HTTPS)."""

import logging
import subprocess
from pathlib import Path

import pytest

from oom_enricher.cli.main import main
from oom_enricher.sinks.elasticsearch import EsConnection, names
from oom_enricher.sinks.elasticsearch.bulk_sink import ElasticsearchSink, SinkConfig
from tests.peers.tls import make_tls_files

from .helpers import make_document, unique_namespace

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
USER, PASSWORD = "oom-ops", "pw-never-logged-4242"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    from tests.es_node import EsNode

    tls = make_tls_files(tmp_path_factory.mktemp("tls"))
    node = EsNode.create()
    node.extra_args = ["--user", f"{USER}:{PASSWORD}", "--tls"]
    node.extra_args += [str(tls.server_cert), str(tls.server_key), str(tls.ca_cert)]
    url = node.start()
    try:
        yield url, tls
    finally:
        node.stop(clean=True)


def _fingerprint(cert) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().split("=", 1)[1]


def _ship_one(conn: EsConnection, tmp_path, namespace: str, n: int) -> ElasticsearchSink:
    sink = ElasticsearchSink(
        SinkConfig(
            conn,
            namespace=namespace,
            spool_dir=tmp_path / f"spool-{n}",
            dead_letter_path=tmp_path / "dead.jsonl",
            initial_backoff=0.1,
        )
    )
    sink.send(make_document(n, host="secure"))
    sink.close(drain_timeout=1)
    return sink


@pytest.mark.integration
def test_basic_auth_from_env_with_ca_file_and_fingerprint(secured, tmp_path, monkeypatch, caplog):
    url, tls = secured
    assert url.startswith("https://")
    namespace = unique_namespace()
    monkeypatch.setenv("OOM_ENRICHER_ES_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    args = ["setup", "--es", url, "--namespace", namespace, "--es-username", USER]
    assert main([*args, "--es-ca-file", str(tls.ca_cert)]) == 0

    by_ca = EsConnection(url, username=USER, password=PASSWORD, ca_file=str(tls.ca_cert))
    assert _ship_one(by_ca, tmp_path, namespace, 1).stats.indexed == 1
    pinned = EsConnection(
        url, username=USER, password=PASSWORD, fingerprint=_fingerprint(tls.server_cert)
    )
    assert _ship_one(pinned, tmp_path, namespace, 2).stats.indexed == 1

    es = by_ca.client()
    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    assert es.count(index=stream).body["count"] == 2
    assert PASSWORD not in caplog.text


@pytest.mark.integration
def test_wrong_ca_or_password_never_loses_the_document(secured, tmp_path, monkeypatch):
    url, tls = secured
    namespace = unique_namespace()
    wrong_ca = EsConnection(url, username=USER, password=PASSWORD, ca_file=str(tls.other_ca_cert))
    sink = _ship_one(wrong_ca, tmp_path, namespace, 3)
    assert (sink.stats.indexed, sink.stats.spool_pending) == (0, 1)  # kept, not dropped

    wrong_password = EsConnection(
        url, username=USER, password="not-the-password", ca_file=str(tls.ca_cert)
    )
    for dedupe in (True, False):
        sink = ElasticsearchSink(
            SinkConfig(
                wrong_password,
                namespace=namespace,
                spool_dir=tmp_path / f"spool-pw-{dedupe}",
                dead_letter_path=tmp_path / "dead.jsonl",
                dedupe_across_rollovers=dedupe,
            )
        )
        sink.send(make_document(4, host="secure"))
        sink.close(drain_timeout=1)
        assert (sink.stats.dead_lettered, sink.stats.spool_pending) == (0, 1)


@pytest.mark.integration
def test_api_key_from_file_and_bearer_token_from_env(
    secured, tmp_path, monkeypatch, capsys, caplog
):
    url, tls = secured
    admin = EsConnection(url, username=USER, password=PASSWORD, ca_file=str(tls.ca_cert)).client()
    api_key = admin.security.create_api_key(name="oom-enricher-test").body["encoded"]
    # bearer tokens need more than the basic license; a self-generated trial has them
    admin.license.post_start_trial(acknowledge=True)
    token = admin.security.get_token(grant_type="password", username=USER, password=PASSWORD).body[
        "access_token"
    ]
    namespace = unique_namespace()
    log = tmp_path / "kern.log"
    log.write_text((CORPUS / "037-docker-memcg-v1-4.8-fedora24-messages.log").read_text())
    key_file = tmp_path / "api-key"
    key_file.write_text(api_key + "\n")
    common = ["--es", url, "--namespace", namespace, "--es-ca-file", str(tls.ca_cert)]
    common += ["--spool-dir", str(tmp_path / "spool"), "--dead-letter", str(tmp_path / "dl")]
    caplog.set_level(logging.DEBUG)

    assert main(["ship", str(log), *common, "--es-api-key-file", str(key_file)]) == 0
    assert ", indexed 1, duplicates 0," in capsys.readouterr().out
    monkeypatch.setenv("OOM_ENRICHER_ES_BEARER_TOKEN", token)
    assert main(["ship", str(log), *common]) == 0
    out = capsys.readouterr().out
    assert ", indexed 0, duplicates 1," in out
    for secret in (api_key, token, PASSWORD):
        assert secret not in caplog.text
        assert secret not in out
