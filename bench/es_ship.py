"""Indexing throughput on one real node, in one run: the bulk helper alone vs the sink vs ship.

    .venv/bin/python -m bench.es_ship [--copies 1000] [--es URL]

Without --es (or $OOM_ENRICHER_ES_URL) it starts a node with scripts/es-node/start and stops it
at the end. The same enriched documents go (1) through `helpers.bulk` with op_type=create
alone, (2) through ElasticsearchSink (batching, rollover-aware id lookup, outcome accounting),
and (3) through `oom-enricher ship` end to end (parsing included), each into its own data
stream, after a warm-up. Prints documents/second and the overhead ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from elasticsearch import Elasticsearch, helpers

from bench.bench_node import es_for_bench
from oom_enricher.cli.main import main as cli_main
from oom_enricher.pipeline import documents_from_lines
from oom_enricher.sinks.elasticsearch import ElasticsearchSink, EsConnection, SinkConfig, names
from oom_enricher.sinks.elasticsearch.installer import install

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "tests" / "corpus" / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log"
SOURCE_HOST = "aks-nodepool1-24207654-vmss000001"


def fleet_log(path: Path, copies: int, tag: str) -> Path:
    text = SOURCE.read_text()
    with path.open("w") as fh:
        for i in range(copies):
            fh.write(text.replace(SOURCE_HOST, f"{tag}-{i:06d}"))
    return path


def bench_bulk(es: Elasticsearch, docs: list[dict], namespace: str) -> float:
    stream = names.data_stream_name(namespace)
    start = time.perf_counter()
    ok, errors = helpers.bulk(
        es,
        (
            {"_op_type": "create", "_index": stream, "_id": d["event"]["id"], "_source": d}
            for d in docs
        ),
        chunk_size=500,
        stats_only=True,
        raise_on_error=False,
    )
    elapsed = time.perf_counter() - start
    assert ok == len(docs) and not errors, (ok, errors)
    return elapsed


def bench_sink(url: str, docs: list[dict], namespace: str, work: Path) -> float:
    config = SinkConfig(
        EsConnection(url, request_timeout=60),
        namespace=namespace,
        spool_dir=work / f"spool-{namespace}",
        dead_letter_path=work / f"dead-{namespace}.jsonl",
    )
    start = time.perf_counter()
    sink = ElasticsearchSink(config)
    for doc in docs:
        sink.send(doc)
    sink.close()
    elapsed = time.perf_counter() - start
    assert sink.stats.indexed == len(docs), sink.stats
    return elapsed


def bench_ship(url: str, log: Path, namespace: str, work: Path) -> float:
    args = ["ship", str(log), "--es", url, "--namespace", namespace, "--no-setup"]
    args += ["--spool-dir", str(work / f"spool-{namespace}")]
    args += ["--dead-letter", str(work / f"dead-{namespace}.jsonl")]
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = cli_main(args)
    elapsed = time.perf_counter() - start
    assert code == 0, out.getvalue()
    return elapsed


def run(url: str, copies: int, rounds: int) -> None:
    es = Elasticsearch(url, request_timeout=120)
    run_id = str(int(time.time()))
    times: dict[str, list[float]] = {"bulk": [], "sink": [], "ship": []}
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        warm = list(documents_from_lines(fleet_log(work / "w.log", copies, "warm").open()))
        install(es, f"benchwarm{run_id}")
        bench_bulk(es, warm, f"benchwarm{run_id}")
        for r in range(rounds):  # interleaved rounds: the node warms up evenly for all three
            for key in times:
                ns = f"bench{key}{r}x{run_id}"
                install(es, ns)
                log = fleet_log(work / f"{key}{r}.log", copies, f"{key}{r}")
                if key == "ship":
                    times[key].append(bench_ship(url, log, ns, work))
                    continue
                docs = list(documents_from_lines(log.open()))
                n = len(docs)
                if key == "bulk":
                    times[key].append(bench_bulk(es, docs, ns))
                else:
                    times[key].append(bench_sink(url, docs, ns, work))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{n} enriched documents per run, {rounds} rounds (median), node {url}")
    print(f"bulk helper alone : {n / med['bulk']:8.0f} docs/s ({med['bulk']:.2f} s)")
    print(f"ElasticsearchSink : {n / med['sink']:8.0f} docs/s ({med['sink']:.2f} s)")
    print(f"ship (parse+sink) : {n / med['ship']:8.0f} docs/s ({med['ship']:.2f} s)")
    print(
        f"overhead ratio sink/bulk = {med['sink'] / med['bulk']:.2f}, "
        f"ship/bulk = {med['ship'] / med['bulk']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es", default=os.environ.get("OOM_ENRICHER_ES_URL"))
    parser.add_argument("--copies", type=int, default=1000, help="copies of the 2-report log")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with es_for_bench(args.es) as url:
        run(url, args.copies, args.rounds)


if __name__ == "__main__":
    main()
