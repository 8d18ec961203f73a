"""backfill over syslog documents shaped like Fluent Bit's es output writes them."""

import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oom_enricher.cli.main import main
from oom_enricher.jobs.es_backfill import (
    Backfill,
    BackfillOptions,
    kernel_lines_query,
    to_record,
)
from oom_enricher.normalize.line_normalizer import NormalizeOptions
from oom_enricher.pipeline import PipelineOptions, documents_from_lines
from oom_enricher.sinks.elasticsearch import ElasticsearchSink, EsConnection, SinkConfig, names
from oom_enricher.sinks.elasticsearch.installer import install

from .helpers import client, unique_namespace

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SYSLOG_FILES = [
    "002-global-2.6.30-apt-check-no-kill-line.log",
    "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log",
    "025-k8s-memcg-v1-4.19-loongarch-syslog-kill-line-ratelimited.log",
    "037-docker-memcg-v1-4.8-fedora24-messages.log",
]
LINE = re.compile(r"^(\w{3} +\d+ [\d:]{8}) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$")
REFERENCE = datetime(2026, 12, 31, tzinfo=UTC)  # as `ship --year 2026`
SHIP_OPTIONS = PipelineOptions(normalize=NormalizeOptions(reference_time=REFERENCE))


def _fluent_bit_doc(line: str) -> dict:
    """What Fluent Bit's syslog-rfc3164 parser + es output (Logstash_Format) index."""
    m = LINE.match(line)
    assert m, line
    stamp = datetime.strptime(f"{REFERENCE.year} {m[1]}", "%Y %b %d %H:%M:%S")
    stamp = stamp.replace(tzinfo=UTC)  # Fluent Bit gives year-less stamps the current year
    doc = {
        "@timestamp": stamp.isoformat().replace("+00:00", ".000Z"),
        "time": m[1],
        "host": m[2],
        "ident": m[3],
        "message": m[5],
    }
    if m[4]:
        doc["pid"] = m[4]
    return doc


def _interleaved_lines() -> list[str]:
    per_file = [(CORPUS / name).read_text().splitlines() for name in SYSLOG_FILES]
    merged = itertools.chain.from_iterable(itertools.zip_longest(*per_file))
    return [line for line in merged if line]


def _index_raw(es, index: str, lines: list[str]) -> None:
    operations: list[dict] = []
    for line in lines:
        operations += [{"create": {"_index": index}}, _fluent_bit_doc(line)]
    # a userspace line that must not disturb the kernel reports
    operations += [
        {"create": {"_index": index}},
        {"@timestamp": "2026-10-12T19:00:20.000Z", "host": "aks-nodepool1-24207654-vmss000001"}
        | {"ident": "systemd", "message": "Started Session 7 of user azureuser."},
    ]
    resp = es.bulk(operations=operations, refresh=True)
    assert not resp["errors"]


def _expected_docs() -> dict[str, dict]:
    """What ship produces from the same lines (file by file, as a host would send them)."""
    docs = {}
    for name in SYSLOG_FILES:
        lines = (CORPUS / name).read_text().splitlines()
        for doc in documents_from_lines(lines, SHIP_OPTIONS):
            docs[doc["event"]["id"]] = doc
    return docs


def _comparable(doc: dict) -> dict:
    volatile = {"created", "ingested", "original"}
    return {**doc, "event": {k: v for k, v in doc["event"].items() if k not in volatile}}


def _stored(es, namespace: str) -> dict[str, dict]:
    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    hits = es.search(index=stream, size=1000).body["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def test_fluent_bit_record_shape_becomes_a_kernel_record():
    doc = _fluent_bit_doc(
        "Oct 12 19:00:20 aks-node-1 kernel: [ 8523.347168] stress-ng-vm invoked oom-killer: x"
    )
    record = to_record(doc, BackfillOptions().fields)
    assert record.host == "aks-node-1"
    assert record.time == datetime(2026, 10, 12, 19, 0, 20, tzinfo=UTC)
    assert record.fields["is_kernel"] is True
    assert record.message.startswith("[ 8523.347168] stress-ng-vm invoked")


@pytest.mark.integration
def test_backfill_produces_the_documents_ship_produces_and_resumes(es_url, tmp_path, capsys):
    es = client(es_url)
    raw_index = f"fluentbit-{unique_namespace()}"
    _index_raw(es, raw_index, _interleaved_lines())
    expected = _expected_docs()
    assert len(expected) >= 4

    namespace = unique_namespace()
    args = ["backfill", "--es", es_url, "--source", raw_index, "--namespace", namespace]
    args += ["--state", str(tmp_path / "state.json"), "--spool-dir", str(tmp_path / "spool")]
    args += ["--dead-letter", str(tmp_path / "dead.jsonl"), "--year", "2026"]
    args += ["--no-kubernetes-names"]  # other tests index container logs of these pods
    assert main(args) == 0
    out = capsys.readouterr().out
    fields = BackfillOptions().fields
    selected = es.count(index=raw_index, query=kernel_lines_query(fields)).body["count"]
    kernel_lines = sum(
        1 for d in map(_fluent_bit_doc, _interleaved_lines()) if d["ident"] == "kernel"
    )
    assert kernel_lines < selected < len(_interleaved_lines()) + 1  # + oom notices, - the rest
    assert f"scanned {selected} raw documents" in out
    stored = _stored(es, namespace)
    assert set(stored) == set(expected)
    for doc_id, doc in expected.items():
        back = _comparable(stored[doc_id])
        assert back == _comparable(doc), doc_id

    # a finished job is not read again; --restart re-reads and only finds duplicates
    assert main(args) == 0
    assert "already complete" in capsys.readouterr().out
    assert main([*args, "--restart"]) == 0
    again = capsys.readouterr().out
    assert f"indexed 0, duplicates {len(expected)}" in again


@pytest.mark.integration
def test_an_interrupted_backfill_resumes_without_losing_or_doubling_reports(es_url, tmp_path):
    es = client(es_url)
    raw_index = f"fluentbit-{unique_namespace()}"
    lines = _interleaved_lines()
    _index_raw(es, raw_index, lines)
    expected = _expected_docs()
    namespace = unique_namespace()
    install(es, namespace)
    state = tmp_path / "state.json"

    def make_sink():
        return ElasticsearchSink(
            SinkConfig(
                EsConnection(es_url),
                namespace=namespace,
                spool_dir=tmp_path / "spool",
                dead_letter_path=tmp_path / "dead.jsonl",
            )
        )

    class Interrupted(Exception):
        pass

    sink = make_sink()
    sent = []

    def emit_then_die(doc):
        if len(sent) == 2:
            raise Interrupted
        sent.append(doc)
        sink.send(doc)

    options = BackfillOptions(source=raw_index, page_size=25, state_path=state)
    with pytest.raises(Interrupted):
        Backfill(es, emit_then_die, sink.flush, options).run()
    sink.close()
    assert state.exists()

    sink = make_sink()
    stats = Backfill(es, sink.send, sink.flush, options).run()
    sink.close()
    assert stats.resumed_from is not None
    assert set(_stored(es, namespace)) == set(expected)
    es.indices.refresh(index=names.data_stream_name(namespace))
    assert es.count(index=names.data_stream_name(namespace)).body["count"] == len(expected)
