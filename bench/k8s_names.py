"""Cost of Kubernetes names: per document with a warm cache, and lookups against a real node.

    .venv/bin/python -m bench.k8s_names [--pods 2000] [--es URL]

1. Warm cache: resolving a kill's (pod uid, container id) from the cache and building the
   partial update, per document, against building the document itself (parse + enrich of a
   real Kubernetes report), both in this run.
2. Lookup rate: container-log records of `--pods` pods (Fluent Bit layout) are indexed on one
   node; their uids are then resolved with a cold cache, in batches of 500 as the enricher
   does: pods resolved per second and requests per second.
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

from bench.bench_node import es_for_bench
from oom_enricher.enrich.document import build_document
from oom_enricher.enrich.k8s_names import names_update
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.reassembly.assembler import Assembler
from oom_enricher.sinks.elasticsearch.k8s_lookup import EsPodLookup

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "tests" / "corpus" / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log"
BATCH = 500


def _record(uid: str, cid: str, n: int) -> dict:
    return {
        "@timestamp": "2026-11-30T10:00:00.000Z",
        "log": "request served\n",
        "kubernetes": {
            "pod_name": f"api-7d9f8b6c5d-{n:05d}",
            "namespace_name": "payments",
            "pod_id": uid,
            "labels": {"app": "api", "pod-template-hash": "7d9f8b6c5d"},
            "container_name": "worker",
            "docker_id": cid,
        },
    }


def _kube_block():
    normalizer, assembler = LineNormalizer(), Assembler()
    blocks = []
    for raw in REPORT.read_text().splitlines():
        for line in normalizer.normalize(raw):
            blocks += assembler.feed(line)
    blocks += assembler.finish()
    return next(b for b in blocks if build_document(b).get("kubernetes"))


def bench_warm_cache(lookup: EsPodLookup, keys: list[tuple[str, str]], rounds: int) -> None:
    block = _kube_block()
    start = time.perf_counter()
    for _ in range(rounds):
        build_document(block)
    build_s = (time.perf_counter() - start) / rounds
    lookup.resolve(keys[:BATCH])  # warm
    start = time.perf_counter()
    done = 0
    for _ in range(max(1, rounds // BATCH)):
        for found in lookup.resolve(keys[:BATCH]).values():
            names_update(found.names, found.container_name, found.container_rule)
            done += 1
    names_s = (time.perf_counter() - start) / max(done, 1)
    print(
        f"warm cache: names {names_s * 1e6:7.1f} µs/document, document build "
        f"{build_s * 1e6:7.1f} µs/document: +{names_s / build_s * 100:.1f}% per document"
    )


def bench_lookups(es: Elasticsearch, index: str, keys: list[tuple[str, str]]) -> EsPodLookup:
    lookup = EsPodLookup(es, index)
    start = time.perf_counter()
    for i in range(0, len(keys), BATCH):
        lookup.resolve([(uid, None) for uid, _ in keys[i : i + BATCH]])
    elapsed = time.perf_counter() - start
    print(
        f"cold lookups: {len(keys)} pods in {elapsed:.2f} s = {len(keys) / elapsed:,.0f} pods/s, "
        f"{lookup.stats.requests / elapsed:.1f} requests/s ({lookup.stats.found} found)"
    )
    return lookup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--es", help="an existing node (default: start one)")
    args = parser.parse_args(argv)
    keys = [(str(uuid.uuid4()), uuid.uuid4().hex * 2) for _ in range(args.pods)]
    with es_for_bench(args.es) as url:
        es = Elasticsearch(url, request_timeout=120)
        index = f"logstash-bench-{uuid.uuid4().hex[:8]}"
        helpers.bulk(
            es, ({"_index": index, "_source": _record(u, c, n)} for n, (u, c) in enumerate(keys))
        )
        es.indices.refresh(index=index)
        lookup = bench_lookups(es, index, keys)
        bench_warm_cache(lookup, keys, args.rounds)
        es.indices.delete(index=index)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
