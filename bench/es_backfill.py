"""backfill throughput: raw syslog documents scanned per second, and reports indexed.

    .venv/bin/python -m bench.es_backfill [--copies 500] [--es URL]

Indexes Fluent Bit-shaped syslog documents (syslog-rfc3164 parser fields + @timestamp, one
line per document, hosts interleaved) into a plain index, then times `Backfill` reading them
back with point in time + search_after and indexing the enriched reports through the sink.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

from bench.bench_node import es_for_bench
from oom_enricher.jobs.es_backfill import Backfill, BackfillOptions
from oom_enricher.sinks.elasticsearch import ElasticsearchSink, EsConnection, SinkConfig
from oom_enricher.sinks.elasticsearch.installer import install

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "tests" / "corpus" / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log"
SOURCE_HOST = "aks-nodepool1-24207654-vmss000001"
LINE = re.compile(r"^(\w{3} +\d+ [\d:]{8}) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$")


def raw_documents(copies: int):
    lines = SOURCE.read_text().splitlines()
    for n, line in enumerate(lines):  # interleaved: line n of every host, then line n+1
        m = LINE.match(line)
        stamp = datetime.strptime(f"2026 {m[1]}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
        for i in range(copies):
            yield {
                "@timestamp": stamp.isoformat(),
                "host": f"bf-{i:06d}",
                "ident": m[3],
                "message": m[5],
                "seq": n,
            }


def run(url: str, copies: int) -> None:
    es = Elasticsearch(url, request_timeout=120)
    suffix = str(int(time.time()))
    raw, namespace = f"fluentbit-bench-{suffix}", f"benchbf{suffix}"
    helpers.bulk(es, ({"_index": raw, "_source": d} for d in raw_documents(copies)))
    es.indices.refresh(index=raw)
    total = es.count(index=raw).body["count"]
    install(es, namespace)
    with tempfile.TemporaryDirectory() as tmp:
        sink = ElasticsearchSink(
            SinkConfig(
                EsConnection(url, request_timeout=120),
                namespace=namespace,
                spool_dir=Path(tmp) / "spool",
                dead_letter_path=Path(tmp) / "dead.jsonl",
            )
        )
        start = time.perf_counter()
        stats = Backfill(es, sink.send, sink.flush, BackfillOptions(source=raw)).run()
        sink.close()
        elapsed = time.perf_counter() - start
    print(f"{total} raw documents ({copies} hosts), node {url}")
    print(
        f"backfill scanned {stats.scanned} in {elapsed:.2f} s: {stats.scanned / elapsed:.0f} docs/s"
    )
    print(
        f"reports {stats.reports}, indexed {sink.stats.indexed}, duplicates {sink.stats.duplicates}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es", default=os.environ.get("OOM_ENRICHER_ES_URL"))
    parser.add_argument("--copies", type=int, default=500, help="hosts, 2 reports each")
    args = parser.parse_args()
    with es_for_bench(args.es) as url:
        run(url, args.copies)


if __name__ == "__main__":
    main()
