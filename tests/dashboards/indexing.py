"""Indexing test documents the way production does: `setup`, then the Elasticsearch sink."""

from __future__ import annotations

from pathlib import Path

from elasticsearch import Elasticsearch

from oom_enricher.cli.main import main
from oom_enricher.sinks.elasticsearch import ElasticsearchSink, EsConnection, SinkConfig


def setup_and_index(es_url: str, namespace: str, docs: list[dict], work: Path) -> Elasticsearch:
    """Installs the templates for `namespace`, indexes `docs`, refreshes; returns a client."""
    assert main(["setup", "--es", es_url, "--namespace", namespace]) == 0
    config = SinkConfig(
        EsConnection(es_url),
        namespace=namespace,
        spool_dir=work / "spool",
        dead_letter_path=work / "dead-letter.jsonl",
    )
    sink = ElasticsearchSink(config)
    for doc in docs:
        sink.send(doc)
    sink.close(drain_timeout=60)
    stats = sink.stats
    assert stats.dead_lettered == 0 and stats.spool_pending == 0, stats.errors
    assert stats.indexed + stats.duplicates == len(docs)
    assert stats.indexed > 0
    client = Elasticsearch(es_url, request_timeout=60)
    client.indices.refresh(index=config.data_stream)
    return client
