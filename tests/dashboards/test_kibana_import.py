"""`oom-enricher kibana import` against a recording stand-in for Kibana's import API."""

import argparse
import base64

import pytest

from oom_enricher.cli import kibana_cmd
from oom_enricher.dashboards.generate import NDJSON_PATH
from oom_enricher.dashboards.kibana_import import import_ndjson
from tests.dashboards.fake_kibana import FakeKibana, start
from tests.dashboards.ndjson import load_objects


@pytest.fixture()
def kibana():
    fake = FakeKibana()
    server, thread = start(fake)
    yield fake
    server.shutdown()
    thread.join(timeout=10)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    kibana_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.run(args)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch):
    for name in ("USERNAME", "PASSWORD", "API_KEY", "BEARER_TOKEN"):
        monkeypatch.delenv(f"OOM_ENRICHER_ES_{name}", raising=False)


def test_upload_is_multipart_with_xsrf_and_auth(kibana, capsys, tmp_path):
    kibana.credentials = "Basic " + base64.b64encode(b"elastic:s3cret").decode()
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    argv = ["kibana", "import", "--kibana", kibana.url, "--overwrite"]
    argv += ["--username", "elastic", "--password-file", str(secret)]
    assert _cli(argv) == 0
    (req,) = kibana.requests
    assert req.path == "/api/saved_objects/_import"
    assert req.query == {"overwrite": ["true"]}
    assert req.headers["kbn-xsrf"]
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    name, filename, content = req.form_file()
    assert (name, filename) == ("file", "oom_enricher.ndjson")
    assert content == NDJSON_PATH.read_bytes()
    assert capsys.readouterr().out == f"imported 6 objects into {kibana.url}\n"


def test_api_key_space_and_no_overwrite(kibana, monkeypatch):
    kibana.credentials = "ApiKey abc123=="
    monkeypatch.setenv("OOM_ENRICHER_ES_API_KEY", "abc123==")
    assert _cli(["kibana", "import", "--kibana", kibana.url + "/", "--space", "ops"]) == 0
    (req,) = kibana.requests
    assert req.path == "/s/ops/api/saved_objects/_import"
    assert req.query == {}


def test_per_object_errors_are_reported(kibana, capsys):
    objects = load_objects()
    dashboard = next(o for o in objects if o["type"] == "dashboard")
    kibana.missing = {dashboard["id"]}
    assert _cli(["kibana", "import", "--kibana", kibana.url]) == 4
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: dashboard {dashboard['id']} 'OOM kills — fleet overview': "
        "missing_references (index-pattern gone)\n"
    )
    assert captured.out == f"imported 5 objects into {kibana.url}, 1 failed\n"


def test_refusals_carry_kibanas_message(kibana, tmp_path, capsys):
    kibana.credentials = "ApiKey right"
    result = import_ndjson(kibana.url, NDJSON_PATH, headers={"Authorization": "ApiKey wrong"})
    assert (result.success, result.status) == (False, 401)
    assert result.error_lines() == [
        "HTTP 401: [security_exception]: missing authentication credentials"
    ]
    # a file not named .ndjson is still sent under a .ndjson name
    copy = tmp_path / "objects.txt"
    copy.write_bytes(NDJSON_PATH.read_bytes())
    ok = import_ndjson(kibana.url, copy, headers={"Authorization": "ApiKey right"})
    assert ok.success and ok.success_count == 6
    assert kibana.requests[-1].form_file()[1] == "objects.ndjson"
    unreachable = _cli(["kibana", "import", "--kibana", "http://127.0.0.1:9", "--file", str(copy)])
    assert unreachable == 3
    assert "kibana import:" in capsys.readouterr().err


def test_the_stand_in_refuses_requests_without_xsrf_like_kibana(kibana):
    import urllib.error
    import urllib.request

    from oom_enricher.dashboards.kibana_import import multipart_body

    body, content_type = multipart_body("x.ndjson", NDJSON_PATH.read_bytes())
    request = urllib.request.Request(
        kibana.url + "/api/saved_objects/_import",
        data=body,
        method="POST",
        headers={"Content-Type": content_type},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert b"kbn-xsrf" in refused.value.read()
