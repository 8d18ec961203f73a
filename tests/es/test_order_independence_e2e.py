"""End to end: the npm fluent-logger client ships several hosts' kernel lines (Fluent Bit kmsg
records of corpus reports) over 3 connections, each chunk at its own random delay and the
chunks of one host spread over all three, into `serve` (a process, state_dir, fsync on) with
the Elasticsearch sink. Read back from Elasticsearch: every report once, complete, with the
facts and the `event.id` that `oom-enricher parse` gives for the same text; a report emitted
before its kill line came is replaced by the version under the kill's id."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from oom_enricher.reassembly.markers import Marker, classify
from tests.core.kernel_order_harness import TEMPLATES, facts, kmsg_records
from tests.es.helpers import unique_namespace
from tests.peers.node import PEERS
from tests.serve.serve_process import Serve

pytestmark = pytest.mark.integration

HOSTS = 4
REPORTS_PER_HOST = 3
CONNECTIONS = 3
BOOT = 1_790_000_000  # wall-clock time of boot of every host
LATE_HOST = "e2e-3"  # its last report's summary and kill lines come after it was emitted
# Short wall-clock bounds, so a report missing its kill line is emitted within seconds.
PIPELINE = "[pipeline]\nmax_wall_age = 3.0\nhold_unkilled = 2.0\n"


def streams(rng: random.Random) -> dict[str, list[dict]]:
    return {
        f"e2e-{n}": kmsg_records(
            f"e2e-{n}",
            [rng.choice(TEMPLATES) for _ in range(REPORTS_PER_HOST)],
            first_seq=1 + 10_000 * n,
        )
        for n in range(HOSTS)
    }


def syslog_text(records: list[dict]) -> str:
    """The same lines as syslog with the bracketed kernel stamp, hosts interleaved."""
    ordered = sorted(records, key=lambda r: (r["sec"], r["usec"], r["host"]))
    lines = []
    for r in ordered:
        wall = datetime.fromtimestamp(BOOT + r["sec"] + r["usec"] / 1e6, UTC)
        stamp = wall.strftime(f"%b %d %H:%M:%S {r['host']} kernel: ")
        lines.append(f"{stamp}[{r['sec']:5d}.{r['usec']:06d}] {r['msg']}")
    return "\n".join(lines) + "\n"


def parse_cli(path: Path) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", "--year", "2026", str(path)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def kind(record: dict) -> Marker | None:
    found = classify(record["msg"])
    return found[0] if found is not None else None


def is_kill(record: dict) -> bool:
    return kind(record) in (Marker.SUMMARY, Marker.KILLED)


def plan(rng: random.Random, hosts: dict[str, list[dict]], go: Path) -> list[list[dict]]:
    """Per connection, its batches: each host's records cut into chunks of 5-25, each chunk
    on a random connection at its write time plus a random delay of 0-1.5 s."""
    own = hosts[LATE_HOST]
    last_start = max(i for i, r in enumerate(own) if kind(r) is Marker.START)
    late = [r for r in own[last_start:] if is_kill(r)]
    batches: list[list[dict]] = [[] for _ in range(CONNECTIONS)]
    for records in hosts.values():
        start = 0
        while start < len(records):
            size = rng.randint(5, 25)
            chunk = [r for r in records[start : start + size] if not any(r is x for x in late)]
            written = 10 * start  # ms: lines are written 10 ms apart
            at = written + rng.randint(0, 1500)
            batches[rng.randrange(CONNECTIONS)].append({"at": at, "events": events(chunk)})
            start += size
    for connection in batches:
        connection.sort(key=lambda batch: batch["at"])
    batches[-1].append({"at": 0, "waitFor": str(go), "events": events(late)})
    return batches


def reordered_hosts(batches: list[list[dict]]) -> set[str]:
    """Hosts some of whose chunks are sent before chunks written earlier."""
    sent = sorted(
        (batch["at"], batch["events"][0]["record"]["sequence"], batch["events"][0]["record"])
        for connection in batches
        for batch in connection
        if "waitFor" not in batch
    )
    hosts: set[str] = set()
    newest: dict[str, int] = {}
    for _, sequence, record in sent:
        if sequence < newest.get(record["host"], -1):
            hosts.add(record["host"])
        newest[record["host"]] = max(sequence, newest.get(record["host"], -1))
    return hosts


def events(records: list[dict]) -> list[dict]:
    return [{"tag": "kern.kmsg", "time": BOOT + r["sec"], "record": r} for r in records]


def wait_until(predicate, timeout: float, what: str):
    stop = time.monotonic() + timeout
    while time.monotonic() < stop:
        if (found := predicate()) is not None:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_npm_fluent_logger_over_3_connections_with_random_delays_every_report_once(
    es_url, tmp_path, node_peer
):
    seed = int(os.environ.get("E2E_SEED", "20261201"))
    rng = random.Random(seed)
    hosts = streams(rng)
    all_records = [r for records in hosts.values() for r in records]
    text = tmp_path / "fleet.log"
    text.write_text(syslog_text(all_records))
    expected = {doc["event"]["id"]: facts(doc) for doc in parse_cli(text)}
    assert len(expected) == HOSTS * REPORTS_PER_HOST
    assert all(item["complete"] for item in expected.values())

    go = tmp_path / "send-the-kill-lines"
    serve = Serve(tmp_path, es_url, namespace=unique_namespace("e2e"), extra_config=PIPELINE)
    senders: list[subprocess.Popen] = []
    resends: list[int] = []  # batches sent again because their ack did not come (reported)
    try:
        serve.start()
        connections = plan(rng, hosts, go)
        assert reordered_hosts(connections) == set(hosts)  # arrival order is not kernel order
        for n, batches in enumerate(connections):
            spec = tmp_path / f"connection-{n}.json"
            spec.write_text(json.dumps({"host": "127.0.0.1", "port": serve.port,
                                        "batches": batches}))  # fmt: skip
            senders.append(
                subprocess.Popen(
                    [shutil.which("node") or "node", str(PEERS / "forward_batches.js"), str(spec)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

        def early_version():
            return next(
                (
                    hit
                    for hit in serve.hits()
                    if hit["_source"]["host"]["name"] == LATE_HOST and hit["_id"] not in expected
                ),
                None,
            )

        # the late host's last report went out without its kill: now the kill lines leave
        early = wait_until(early_version, 90, "the report emitted without its kill")
        assert early["_source"]["oom"]["complete"] is False
        go.touch()
        for sender in senders:
            out, err = sender.communicate(timeout=120)
            assert sender.returncode == 0, f"{err}\n{serve.log_text()}"
            resends.append(int(out))

        def settled():
            hits = serve.hits()
            return hits if {hit["_id"] for hit in hits} == set(expected) else None

        wait_until(settled, 90, "the documents parse gives")
        assert serve.stop() == 0, serve.log_text()
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
        serve.cleanup()
    hits = serve.hits()  # after serve flushed and exited
    context = f"seed {seed}, resends {resends}\n{serve.log_text()}"
    assert sorted(hit["_id"] for hit in hits) == sorted(expected), context
    assert {hit["_id"]: facts(hit["_source"]) for hit in hits} == expected, context
    (replacing,) = [h for h in hits if early["_id"] in h["_source"]["event"].get("supersedes", [])]
    assert replacing["_source"]["host"]["name"] == LATE_HOST
    assert replacing["_source"]["oom"]["complete"] is True
