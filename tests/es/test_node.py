import json
import urllib.request

import pytest


@pytest.mark.integration
def test_node_answers_as_elasticsearch_8(es_url):
    with urllib.request.urlopen(f"{es_url}/_nodes/_local?filter_path=nodes.*.version") as resp:
        assert resp.headers["X-Elastic-Product"] == "Elasticsearch"
        nodes = json.load(resp)["nodes"]
    (version,) = [n["version"] for n in nodes.values()]
    assert version.split(".")[0] in {"8", "9"}
