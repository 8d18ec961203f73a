import socket
import time

import pytest

from oom_enricher.sinks.elasticsearch import EsConnection, names
from oom_enricher.sinks.elasticsearch.bulk_sink import ElasticsearchSink, SinkConfig
from oom_enricher.sinks.elasticsearch.dead_letter import read_dead_letters
from oom_enricher.sinks.elasticsearch.installer import install

from .helpers import client, make_document, unique_namespace


def _sink(url: str, tmp_path, namespace: str, **kw) -> ElasticsearchSink:
    config = SinkConfig(
        EsConnection(url, request_timeout=10),
        namespace=namespace,
        spool_dir=tmp_path / "spool",
        dead_letter_path=tmp_path / "dead.jsonl",
        **kw,
    )
    return ElasticsearchSink(config)


def _count(es, namespace: str) -> int:
    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    return es.count(index=stream).body["count"]


def _ids(es, namespace: str) -> list[str]:
    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    hits = es.search(index=stream, size=10_000, source=False, sort=["_doc"]).body["hits"]["hits"]
    return sorted(h["_id"] for h in hits)


@pytest.fixture()
def namespace(es_url):
    ns = unique_namespace()
    install(client(es_url), ns)
    return ns


@pytest.mark.integration
def test_documents_are_indexed_once_and_a_replay_counts_duplicates(es_url, tmp_path, namespace):
    es = client(es_url)
    docs = [make_document(n) for n in range(120)]
    sink = _sink(es_url, tmp_path, namespace, chunk_size=50)
    for doc in docs:
        sink.send(doc)
    sink.close()
    assert (sink.stats.indexed, sink.stats.duplicates, sink.stats.dead_lettered) == (120, 0, 0)
    assert _count(es, namespace) == 120

    replay = _sink(es_url, tmp_path, namespace, chunk_size=50)
    for doc in docs:
        replay.send(doc)
    replay.close()
    assert (replay.stats.indexed, replay.stats.duplicates) == (0, 120)
    assert _count(es, namespace) == 120

    stored = es.get(
        index=es.indices.resolve_index(name=names.data_stream_name(namespace)).body["data_streams"][
            0
        ]["backing_indices"][0],
        id=docs[7]["event"]["id"],
    ).body["_source"]
    assert stored["oom"]["tasks"] == docs[7]["oom"]["tasks"]
    assert stored["event"]["original"] == docs[7]["event"]["original"]
    assert stored["event"]["ingested"]


@pytest.mark.integration
def test_a_replay_after_a_rollover_is_not_indexed_again(es_url, tmp_path, namespace):
    es = client(es_url)
    docs = [make_document(n, host="roll") for n in range(30)]
    sink = _sink(es_url, tmp_path, namespace)
    for doc in docs[:20]:
        sink.send(doc)
    sink.flush()
    es.indices.rollover(alias=names.data_stream_name(namespace))
    for doc in docs:  # 20 resent into a new write index, 10 new
        sink.send(doc)
    sink.close()
    assert (sink.stats.indexed, sink.stats.duplicates) == (30, 20)
    assert _ids(es, namespace) == sorted(d["event"]["id"] for d in docs)


@pytest.mark.integration
def test_a_single_document_is_flushed_without_waiting_for_a_batch(es_url, tmp_path, namespace):
    es = client(es_url)
    sink = _sink(es_url, tmp_path, namespace, flush_after_seconds=1.0)
    sink.send(make_document(1, host="lonely"))
    try:
        deadline = time.monotonic() + 30
        while sink.stats.indexed == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sink.stats.indexed == 1  # no flush() was called
        assert _count(es, namespace) == 1
    finally:
        sink.close()


@pytest.mark.integration
def test_a_rejected_document_goes_to_the_dead_letter_file_and_the_rest_is_indexed(
    es_url, tmp_path, namespace
):
    es = client(es_url)
    good = [make_document(n, host="dl") for n in range(5)]
    bad = make_document(99, host="dl", process__pid="not-a-number")
    sink = _sink(es_url, tmp_path, namespace)
    for doc in [*good[:2], bad, *good[2:]]:
        sink.send(doc)
    sink.close()
    assert (sink.stats.indexed, sink.stats.dead_lettered) == (5, 1)
    assert _count(es, namespace) == 5
    (letter,) = read_dead_letters(tmp_path / "dead.jsonl")
    assert letter["document"] == bad
    assert letter["status"] == 400
    assert letter["reason"]["type"] in {"mapper_parsing_exception", "document_parsing_exception"}
    assert "process.pid" in letter["reason"]["reason"]
    assert letter["index"] == names.data_stream_name(namespace)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.integration
def test_the_spool_survives_a_process_restart_and_drains_in_order(es_url, tmp_path, namespace):
    es = client(es_url)
    docs = [make_document(n, host="spool") for n in range(25)]
    down = _sink(_closed_port_url(), tmp_path, namespace, chunk_size=10)
    for doc in docs:
        down.send(doc)
    assert down.flush()
    down.close(drain_timeout=0.5)
    assert down.stats.indexed == 0
    assert down.stats.spooled == 25 and down.stats.spool_pending == 25
    segments = sorted((tmp_path / "spool").glob("*.jsonl"))
    assert [len(p.read_text().splitlines()) for p in segments] == [10, 10, 5]

    up = _sink(es_url, tmp_path, namespace)  # a new process would do exactly this
    assert up.drain(timeout=60)
    up.close()
    assert (up.stats.indexed, up.stats.spool_pending) == (25, 0)
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    hits = es.search(index=stream, size=100, sort=["event.ingested", "_doc"]).body["hits"]["hits"]
    assert [h["_id"] for h in hits] == [d["event"]["id"] for d in docs]


@pytest.mark.integration
def test_elasticsearch_stopped_mid_run_then_restarted_loses_and_duplicates_nothing(
    es_node_factory, tmp_path
):
    node = es_node_factory.create()
    url = node.start()
    ns = unique_namespace()
    install(client(url), ns)
    docs = [make_document(n, host="outage") for n in range(60)]
    sink = _sink(url, tmp_path, ns, chunk_size=10, max_retries=1, initial_backoff=0.2)
    try:
        for doc in docs[:20]:
            sink.send(doc)
        assert sink.flush()
        node.stop()
        for doc in docs[20:45]:
            sink.send(doc)
        assert sink.flush()
        assert sink.stats.spool_pending == 25
        node.start()  # same data directory and port
        for doc in docs[10:]:  # a resend overlapping what is indexed and what is spooled
            sink.send(doc)
        assert sink.drain(timeout=120)
    finally:
        sink.close()
    stats = sink.stats
    assert stats.spool_pending == 0
    assert stats.indexed == 60
    assert stats.indexed + stats.duplicates == 20 + 25 + 50
    assert _ids(client(url), ns) == sorted(d["event"]["id"] for d in docs)


@pytest.mark.integration
def test_429_rejections_are_retried_with_backoff_then_spooled_not_dead_lettered(
    es_node_factory, tmp_path
):
    node = es_node_factory.create()
    # Every bulk request is larger than this, so the node answers each one with a 429.
    node.extra_args = ["--setting", "indexing_pressure.memory.limit=1kb"]
    url = node.start()
    ns = unique_namespace()
    install(client(url), ns)
    sink = _sink(url, tmp_path, ns, max_retries=3, initial_backoff=0.05, max_backoff=0.2)
    for n in range(5):
        sink.send(make_document(n, host="pressure"))
    assert sink.flush()
    sink.close(drain_timeout=0)
    assert (sink.stats.indexed, sink.stats.dead_lettered, sink.stats.spool_pending) == (0, 0, 5)
    stats = client(url).nodes.stats(metric="indexing_pressure").body["nodes"]
    (node_stats,) = stats.values()
    rejected = node_stats["indexing_pressure"]["memory"]["total"]["coordinating_rejections"]
    assert rejected >= 1 + 3  # the first attempt and three retries of the one batch


def _two_versions() -> tuple[dict, dict]:
    """A report emitted without its head, then amended by the head a retry brought."""
    from tests.core.kernel_order_harness import TEMPLATES, ServeLike, kmsg_records

    records = kmsg_records("amended", [TEMPLATES[0]])
    serve = ServeLike()
    serve.deliver(records[len(records) // 2 :])
    serve.advance_to(1010)
    serve.deliver(records[: len(records) // 2])
    first, second = serve.close()
    assert first["event"]["id"] == second["event"]["id"]
    return first, second


def _stored(es, namespace: str, doc_id: str) -> list[dict]:
    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    query = {"ids": {"values": [doc_id]}}
    hits = es.search(index=stream, query=query, seq_no_primary_term=True).body["hits"]["hits"]
    return hits


@pytest.mark.integration
def test_a_later_version_with_more_lines_replaces_the_stored_one(es_url, tmp_path, namespace):
    """One document per kill: the amended version replaces the first in the backing index
    that holds it (also after a rollover); replays and stale versions change nothing."""
    es = client(es_url)
    first, second = _two_versions()
    doc_id = first["event"]["id"]
    sink = _sink(es_url, tmp_path, namespace)
    sink.send(first)
    assert sink.flush()
    es.indices.rollover(alias=names.data_stream_name(namespace))  # now in an older index
    sink.send(second)
    assert sink.flush()
    (hit,) = _stored(es, namespace, doc_id)
    assert hit["_source"]["oom"]["lines_count"] == second["oom"]["lines_count"]
    assert hit["_source"]["oom"]["complete"] is True
    assert hit["_index"].endswith("-000001")
    for stale in (first, second, first):  # replay, and the first version arriving last
        sink.send(stale)
    sink.close()
    (again,) = _stored(es, namespace, doc_id)
    assert again["_seq_no"] == hit["_seq_no"]
    assert again["_source"]["oom"]["lines_count"] == second["oom"]["lines_count"]
    assert (sink.stats.indexed, sink.stats.amended, sink.stats.duplicates) == (1, 1, 3)


@pytest.mark.integration
def test_versions_in_one_batch_keep_the_most_complete(es_url, tmp_path, namespace):
    es = client(es_url)
    first, second = _two_versions()
    sink = _sink(es_url, tmp_path, namespace)
    for doc in (first, second):
        sink.send(doc)
    sink.close()
    (hit,) = _stored(es, namespace, first["event"]["id"])
    assert hit["_source"]["oom"]["lines_count"] == second["oom"]["lines_count"]


def _superseding_versions() -> tuple[dict, dict]:
    """A report emitted without its kill line (past the hold), then completed by it: the
    second version has the id `parse` gives and names the first in `event.supersedes`."""
    from oom_enricher.pipeline import PipelineOptions
    from oom_enricher.reassembly.bounds import Bounds
    from tests.core.kernel_order_harness import TEMPLATES, ServeLike, kmsg_records

    records = kmsg_records("superseded", [TEMPLATES[1]])
    serve = ServeLike(options=PipelineOptions(bounds=Bounds(max_wall_age=10.0)))
    serve.deliver(records[:-3])
    serve.advance_to(1080)
    serve.deliver(records[-3:])
    first, second = serve.close()
    assert second["event"]["supersedes"] == [first["event"]["id"]]
    return first, second


@pytest.mark.integration
def test_a_version_under_a_new_id_deletes_the_one_it_supersedes(es_url, tmp_path, namespace):
    """The first version is stored, then the data stream rolls over; the version completed
    by its late kill line is indexed under its own id and the first is deleted from the
    older backing index; the first arriving again afterwards is not indexed."""
    es = client(es_url)
    first, second = _superseding_versions()
    sink = _sink(es_url, tmp_path, namespace)
    sink.send(first)
    assert sink.flush()
    es.indices.rollover(alias=names.data_stream_name(namespace))
    sink.send(second)
    assert sink.flush()
    sink.send(first)  # a stale copy of the replaced version
    sink.close()
    assert _ids(es, namespace) == [second["event"]["id"]]
    (hit,) = _stored(es, namespace, second["event"]["id"])
    assert hit["_source"]["oom"]["victims_count"] == 1
    assert hit["_source"]["event"]["supersedes"] == [first["event"]["id"]]
    assert (sink.stats.indexed, sink.stats.superseded, sink.stats.duplicates) == (2, 1, 1)


@pytest.mark.integration
def test_a_superseded_version_in_the_same_batch_is_not_indexed(es_url, tmp_path, namespace):
    es = client(es_url)
    first, second = _superseding_versions()
    sink = _sink(es_url, tmp_path, namespace)
    for doc in (first, second):
        sink.send(doc)
    sink.close()
    assert _ids(es, namespace) == [second["event"]["id"]]
    assert (sink.stats.indexed, sink.stats.superseded, sink.stats.duplicates) == (1, 0, 1)


def _given_back_versions() -> tuple[list[dict], dict[str, dict]]:
    """The documents of a report's tail emitted alone, taken into the report before it and
    given back to its own, in the order serve emits them; and the in-order documents."""
    from tests.core.kernel_order_harness import (
        GIVEN_BACK_PLAN,
        ServeLike,
        chunks_of,
        given_back_stream,
        in_order,
    )

    stream = given_back_stream("given-back")
    chunks = chunks_of(stream, 30)
    serve = ServeLike()
    for when, index in GIVEN_BACK_PLAN:
        serve.advance_to(1000 + when)
        serve.deliver(chunks[index])
    return serve.close(), {doc["event"]["id"]: doc for doc in in_order(stream)}


@pytest.mark.integration
@pytest.mark.parametrize("batches", ["one per document", "one batch"])
def test_a_fragment_given_back_to_its_own_report_is_stored(es_url, tmp_path, namespace, batches):
    """The tail's id is named superseded by the report that took it in, then comes again
    with its head: it is stored (the sink dropped every id ever named superseded), and each
    kill is stored once with the lines of its report."""
    es = client(es_url)
    docs, expected = _given_back_versions()
    sink = _sink(es_url, tmp_path, namespace)
    for doc in docs:
        sink.send(doc)
        if batches == "one per document":
            assert sink.flush()
    sink.close()
    assert _ids(es, namespace) == sorted(expected)
    (given_back,) = next(
        doc["event"]["supersedes"] for doc in docs if doc["event"].get("supersedes")
    )
    for doc_id, doc in expected.items():  # the report that took the tail in gave it back
        (hit,) = _stored(es, namespace, doc_id)
        assert hit["_source"]["oom"]["lines_count"] == doc["oom"]["lines_count"]
        assert hit["_source"]["oom"]["victims"] == doc["oom"]["victims"]
    assert given_back in expected
