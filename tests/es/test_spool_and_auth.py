import logging

import pytest

from oom_enricher.cli.main import build_parser
from oom_enricher.sinks.elasticsearch.auth import EsConnection, connection_from_args
from oom_enricher.sinks.elasticsearch.spool import DiskSpool, SpoolLockedError


def test_spool_keeps_order_across_reopen_and_is_bounded(tmp_path):
    spool = DiskSpool(tmp_path, max_bytes=400)
    docs = [{"event": {"id": f"id-{n}"}, "pad": "x" * 40} for n in range(10)]
    overflow = spool.append(docs[:3])
    assert overflow == []
    overflow = spool.append(docs[3:])
    assert overflow and len(overflow) < 7  # the bound holds; the caller dead-letters the rest
    kept = 10 - len(overflow)
    assert spool.pending == kept and spool.bytes <= 400
    spool.close()

    reopened = DiskSpool(tmp_path, max_bytes=400)
    assert reopened.pending == kept
    seen = []
    while (segment := reopened.oldest()) is not None:
        seen.extend(segment.documents)
        reopened.remove(segment)
    assert seen == docs[:kept]
    assert reopened.pending == 0
    reopened.close()


def test_spool_is_locked_against_a_second_process(tmp_path):
    first = DiskSpool(tmp_path)
    with pytest.raises(SpoolLockedError):
        DiskSpool(tmp_path)
    first.close()
    DiskSpool(tmp_path).close()


def test_a_crashed_append_leaves_no_half_segment(tmp_path):
    (tmp_path / "000000000001.tmp").write_bytes(b'{"half": ')
    spool = DiskSpool(tmp_path)
    assert spool.pending == 0 and not list(tmp_path.glob("*.tmp"))
    spool.close()


def test_secrets_come_from_env_or_files_and_stay_out_of_repr_and_logs(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("OOM_ENRICHER_ES_PASSWORD", "pw-from-env-123")
    key_file = tmp_path / "api-key"
    key_file.write_text("a2V5LWZyb20tZmlsZQ==\n")
    parser = build_parser()
    args = parser.parse_args(
        ["setup", "--es", "https://es.example:9200/", "--es-username", "ops"]
        + ["--es-api-key-file", str(key_file), "--es-fingerprint", "AB:CD:EF"]
    )
    conn = connection_from_args(args)
    assert conn.url == "https://es.example:9200"
    assert conn.password == "pw-from-env-123"
    assert conn.api_key == "a2V5LWZyb20tZmlsZQ=="
    assert conn.auth_kind == "api_key"
    kwargs = conn.client_kwargs()
    assert kwargs["api_key"] == "a2V5LWZyb20tZmlsZQ=="
    assert kwargs["ssl_assert_fingerprint"] == "abcdef"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("oom_enricher").info("connection %r", conn)
    for secret in ("pw-from-env-123", "a2V5LWZyb20tZmlsZQ=="):
        assert secret not in repr(conn)
        assert secret not in caplog.text


def test_bearer_and_basic_auth_client_arguments():
    bearer = EsConnection("http://127.0.0.1:9200", bearer_token="tok", ca_file="/ca.pem")
    assert bearer.client_kwargs()["bearer_auth"] == "tok"
    assert bearer.client_kwargs()["ca_certs"] == "/ca.pem"
    basic = EsConnection("http://127.0.0.1:9200", username="u", password="p")
    assert basic.client_kwargs()["basic_auth"] == ("u", "p")
    assert "tok" not in repr(bearer)
