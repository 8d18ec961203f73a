"""`serve` workers in one consumer group against a real Kafka broker and a real Elasticsearch
node: every report indexed exactly once, complete, with the ids `oom-enricher parse` gives,
whatever happens to the workers or the broker meanwhile."""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from elasticsearch import Elasticsearch

from oom_enricher.sinks.elasticsearch.installer import install
from tests.kafka.cluster import Worker, create_topic, indexed, produce, wait_for
from tests.kafka.fleet import corpus_records, generated_fleet, parse_ids
from tests.serve.fleet import comparable, expected_documents, projection

pytestmark = pytest.mark.integration

OUTAGE_S = 8.0  # longer than the workers' session timeout
# Longer than any pause of the stream in these tests on a loaded machine (the kill, the
# producer starting again), shorter than the tests.
CORPUS_WALL_AGE_S = 20.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    fleet = generated_fleet(hosts=200)
    return fleet, parse_ids(fleet.write(tmp_path_factory.mktemp("fleet") / "fleet.log"))


def _setup(es_url: str, bootstrap: str, name: str) -> tuple[Elasticsearch, str, str]:
    namespace = f"{name}{os.getpid()}"
    es = Elasticsearch(es_url, request_timeout=60)
    install(es, namespace)
    topic = f"oom-lines-{name}-{os.getpid()}"
    create_topic(bootstrap, topic, partitions=6)
    return es, namespace, topic


def _workers(tmp_path, bootstrap, topic, es_url, namespace, count: int) -> list[Worker]:
    return [
        Worker(tmp_path / f"worker-{n}", bootstrap, topic, es_url, namespace, group=topic)
        for n in range(count)
    ]


def _assert_exactly_the_parse_documents(docs: list[dict], want: dict[str, dict], logs: str):
    ids = Counter(doc["event"]["id"] for doc in docs)
    assert [i for i, n in ids.items() if n > 1] == [], "indexed twice"
    extra = [
        (d["host"]["name"], d["oom"]["complete"], d["oom"].get("incomplete_reason"))
        for d in docs
        if d["event"]["id"] not in want
    ]
    missing = [
        (want[i]["host"]["name"], want[i]["oom"].get("lines_count")) for i in set(want) - set(ids)
    ]
    assert (extra, missing) == ([], []), logs
    for doc in docs:
        expected = want[doc["event"]["id"]]["oom"]
        got = doc["oom"]
        # none split, none cut short: the same lines as parse read, complete
        assert (got["complete"], got.get("lines_count")) == (
            expected["complete"],
            expected.get("lines_count"),
        ), doc["event"]["id"]


def _stop_all(workers: list[Worker]) -> None:
    for worker in workers:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


def test_sigkill_one_of_three_workers_and_a_fourth_joining_index_every_report_once(
    es_url, kafka_bootstrap, tmp_path, fleet
):
    lines, want = fleet
    es, namespace, topic = _setup(es_url, kafka_bootstrap, "kafkakill")
    # The corpus first: its reports cut short by the end of their file close by max_wall_age
    # while the fleet streams (its own reports all end, and close by tail_grace).
    corpus = corpus_records()
    records = corpus + lines.records
    half = len(corpus) + lines.cut_near(len(lines.records) // 2)
    workers = _workers(tmp_path, kafka_bootstrap, topic, es_url, namespace, 4)
    for worker in workers:
        worker.max_wall_age = CORPUS_WALL_AGE_S
    try:
        for worker in workers[:3]:
            worker.start()
        wait_for("3 workers sharing 6 partitions", lambda: all(w.partitions() for w in workers[:3]))
        produce(kafka_bootstrap, topic, records[:half])
        wait_for("documents of the first half", lambda: len(indexed(es, namespace)) >= 20)
        workers[0].kill()  # mid-stream: its partitions hold open reports
        produce(kafka_bootstrap, topic, records[half:])
        workers[3].start()
        wait_for(
            "every report of the generated fleet",
            lambda: len(indexed(es, namespace)) >= len(want) + len(expected_documents()),
        )
        for worker in workers[1:]:
            assert worker.stop() == 0, worker.log()
    finally:
        _stop_all(workers)
    docs = indexed(es, namespace)
    fleet_docs = [d for d in docs if d["host"]["name"].endswith(".fleet.test")]
    _assert_exactly_the_parse_documents(fleet_docs, want, workers[1].log())
    corpus_docs = [d for d in docs if not d["host"]["name"].endswith(".fleet.test")]
    for doc in corpus_docs:  # reports open when the corpus ends close by max_wall_age
        if doc["oom"].get("incomplete_reason") == "max_wall_age":
            doc["oom"]["incomplete_reason"] = "end_of_input"
    assert len({d["_id"] for d in corpus_docs}) == len(corpus_docs)
    got, expected = comparable(projection(corpus_docs), projection(expected_documents()))
    assert got == expected


def test_rebalance_while_reports_are_open_loses_nothing(es_url, kafka_bootstrap, tmp_path, fleet):
    lines, want = fleet
    es, namespace, topic = _setup(es_url, kafka_bootstrap, "rebalance")
    first, second = _workers(tmp_path, kafka_bootstrap, topic, es_url, namespace, 2)
    # A third of the stream: the reports that started last are in progress at the cut.
    cut = lines.cut_near(len(lines.records) // 3)
    try:
        first.start()
        wait_for("the first worker owning all partitions", lambda: len(first.partitions()) == 6)
        produce(kafka_bootstrap, topic, lines.records[:cut])
        wait_for("reports in progress", lambda: first.health().get("reports_in_progress", 0) > 0)
        open_before = first.health()["reports_in_progress"]
        second.start()  # partitions with open reports move to it
        wait_for(
            "both workers owning partitions", lambda: first.partitions() and second.partitions()
        )
        assert len(first.partitions()) + len(second.partitions()) == 6
        produce(kafka_bootstrap, topic, lines.records[cut:])
        wait_for("every report", lambda: len(indexed(es, namespace)) >= len(want))
        assert first.stop() == 0 and second.stop() == 0
    finally:
        _stop_all([first, second])
    assert open_before > 0
    _assert_exactly_the_parse_documents(indexed(es, namespace), want, first.log() + second.log())


def test_broker_stopped_for_a_while_workers_wait_and_resume(
    es_url, kafka_node_factory, tmp_path, fleet
):
    lines, want = fleet
    node = kafka_node_factory.create()
    bootstrap = node.start()
    es, namespace, topic = _setup(es_url, bootstrap, "outage")
    workers = _workers(tmp_path, bootstrap, topic, es_url, namespace, 2)
    half = lines.cut_near(len(lines.records) // 2)
    try:
        for worker in workers:
            worker.start()
        wait_for("2 workers sharing 6 partitions", lambda: all(w.partitions() for w in workers))
        produce(bootstrap, topic, lines.records[:half])
        wait_for("documents of the first half", lambda: len(indexed(es, namespace)) >= 20)
        node.stop()
        time.sleep(OUTAGE_S)  # the outage itself, not a wait for a result
        for worker in workers:
            assert worker.proc.poll() is None, worker.log()  # waiting, not exiting
        node.start()  # same port, same data
        produce(bootstrap, topic, lines.records[half:])
        wait_for("every report", lambda: len(indexed(es, namespace)) >= len(want))
        for worker in workers:
            assert worker.stop() == 0, worker.log()
    finally:
        _stop_all(workers)
    _assert_exactly_the_parse_documents(indexed(es, namespace), want, workers[0].log())
