import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from oom_enricher.cli.main import main
from oom_enricher.sinks.elasticsearch import names

from .helpers import client, unique_namespace

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
REPO = Path(__file__).resolve().parents[2]
BIG_SOURCE = CORPUS / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log"
BIG_HOST = "aks-nodepool1-24207654-vmss000001"


def _parse(paths: list[str]) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", *paths],
        capture_output=True,
        check=False,
        cwd=REPO,
    )
    return [orjson.loads(line) for line in out.stdout.splitlines()]


def _ship_args(es_url: str, namespace: str, tmp_path: Path) -> list[str]:
    return [
        "--es",
        es_url,
        "--namespace",
        namespace,
        "--spool-dir",
        str(tmp_path / "spool"),
        "--dead-letter",
        str(tmp_path / "dead.jsonl"),
    ]


def _stored(es_url: str, namespace: str) -> dict[str, dict]:
    es = client(es_url)
    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    hits = es.search(index=stream, size=10_000).body["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


@pytest.mark.integration
def test_every_corpus_report_round_trips_and_a_replay_only_counts_duplicates(
    es_url, tmp_path, capsys
):
    logs = sorted(str(p) for p in CORPUS.glob("*.log"))
    parsed = _parse(logs)
    assert len(parsed) >= 17
    namespace = unique_namespace()
    assert main(["ship", *logs, *_ship_args(es_url, namespace, tmp_path)]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    n = len(parsed)
    assert first == (
        f"reports {n}, indexed {n}, duplicates 0, dead-lettered 0, spooled 0 (still in spool 0)"
    )

    stored = _stored(es_url, namespace)
    assert set(stored) == {doc["event"]["id"] for doc in parsed}
    volatile = {"ingested", "created"}  # set at ingest / when the document was built
    for doc in parsed:
        back = dict(stored[doc["event"]["id"]])
        back["event"] = {k: v for k, v in back["event"].items() if k not in volatile}
        doc = {**doc, "event": {k: v for k, v in doc["event"].items() if k not in volatile}}
        if doc.get("@timestamp") is None:  # the pipeline's fallback: the ingest time
            assert back["@timestamp"] == stored[doc["event"]["id"]]["event"]["ingested"]
            back["@timestamp"] = doc.get("@timestamp")
            if "@timestamp" not in doc:
                del back["@timestamp"]
        assert back == doc

    assert main(["ship", *logs, *_ship_args(es_url, namespace, tmp_path)]) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert second == (
        f"reports {n}, indexed 0, duplicates {n}, dead-lettered 0, spooled 0 (still in spool 0)"
    )
    assert len(_stored(es_url, namespace)) == n


@pytest.mark.integration
def test_a_killed_ship_run_rerun_leaves_every_report_exactly_once(es_url, tmp_path):
    source = BIG_SOURCE.read_text()
    big = tmp_path / "fleet.log"
    with big.open("w") as fh:
        for i in range(600):
            fh.write(source.replace(BIG_HOST, f"node-{i:05d}"))
    expected = {doc["event"]["id"] for doc in _parse([str(big)])}
    assert len(expected) == 1200

    namespace = unique_namespace()
    es = client(es_url)
    stream = names.data_stream_name(namespace)
    cmd = [sys.executable, "-m", "oom_enricher", "ship", str(big)]
    cmd += [*_ship_args(es_url, namespace, tmp_path), "--chunk-size", "50"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    indexed_at_kill = 0
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if es.indices.exists(index=stream):
            es.indices.refresh(index=stream)
            indexed_at_kill = es.count(index=stream).body["count"]
            if indexed_at_kill >= 100:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "ship finished before it could be killed"
    assert 0 < indexed_at_kill < len(expected)

    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    summary = rerun.stdout.strip().splitlines()[-1]
    fields = dict(part.strip().rsplit(" ", 1) for part in summary.split("(")[0].split(","))
    assert int(fields["reports"]) == 1200
    assert int(fields["duplicates"]) >= indexed_at_kill
    assert int(fields["indexed"]) + int(fields["duplicates"]) == 1200
    assert summary.endswith("(still in spool 0)")
    assert set(_stored(es_url, namespace)) == expected


@pytest.mark.integration
def test_elasticsearch_stopped_during_ship_then_restarted_every_report_once(
    es_node_factory, tmp_path
):
    node = es_node_factory.create()
    url = node.start()
    source = BIG_SOURCE.read_text()
    big = tmp_path / "fleet.log"
    with big.open("w") as fh:
        for i in range(600):
            fh.write(source.replace(BIG_HOST, f"host-{i:05d}"))
    expected = {doc["event"]["id"] for doc in _parse([str(big)])}
    namespace = unique_namespace()
    stream = names.data_stream_name(namespace)
    es = client(url)
    cmd = [sys.executable, "-m", "oom_enricher", "ship", str(big)]
    cmd += [
        *_ship_args(url, namespace, tmp_path),
        "--chunk-size",
        "50",
        "--drain-timeout",
        "1",
        "--es-timeout",
        "5",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if es.indices.exists(index=stream):
            es.indices.refresh(index=stream)
            if es.count(index=stream).body["count"] >= 100:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGSTOP)  # hold ship while the node goes down: no race
    assert proc.poll() is None, "ship finished before Elasticsearch could be stopped"
    node.stop()
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err  # documents wait in the spool
    assert b"still in spool 0)" not in out
    assert list((tmp_path / "spool").glob("*.jsonl"))

    node.start()
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip().endswith("(still in spool 0)")
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    assert set(_stored(url, namespace)) == expected
    assert client(url).count(index=stream).body["count"] == len(expected)


@pytest.mark.integration
def test_ship_with_no_report_exits_1_like_parse(es_url, tmp_path, capsys):
    quiet = tmp_path / "quiet.log"
    quiet.write_text("Nov 25 10:00:00 h sshd[1]: nothing to see\n")
    namespace = unique_namespace()
    assert main(["ship", str(quiet), *_ship_args(es_url, namespace, tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1].startswith("reports 0, indexed 0,")
    assert captured.err.strip().splitlines()[-1] == "oom-enricher ship: no OOM report found"
