"""Test input for the Kafka tests: a fleet of hosts whose OOM reports overlap in time, as
(key, value) Kafka records, plus what `oom-enricher parse` makes of the same lines."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from bench.fleet_log import report_templates
from oom_enricher.reassembly.markers import Marker, classify
from tests.serve.fleet import fleet_events

START = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
NOISE = ("eth0: renamed from veth{n}", "IPv6: ADDRCONF(NETDEV_CHANGE): veth{n}: link becomes ready")


@dataclass
class Fleet:
    lines: list[str]  # rsyslog high-precision lines, in the order they are produced
    records: list[tuple[bytes, bytes]]  # (key, value)
    # Indexes where no report has printed its kill line without its last line: a pause in
    # the stream there cannot trip `tail_grace` (a killed report waits that long for its
    # reaper lines) however long it lasts; reports in progress are cut there all the same.
    quiet_cuts: list[int]

    def cut_near(self, index: int) -> int:
        return min(self.quiet_cuts, key=lambda cut: abs(cut - index))

    def write(self, path: Path) -> Path:
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return path


def generated_fleet(
    hosts: int = 200, seed: int = 11, noise_every: int = 3, concurrent: int = 3
) -> Fleet:
    """Each host has one real report (the corpus's reports, re-hosted); at least `concurrent`
    are in progress at a time (with 3, a few dozen), each line 1 ms after the last."""
    rng = random.Random(seed)
    templates = report_templates()
    queue = [
        (f"host-{i:03d}.fleet.test", list(templates[i % len(templates)]), 5000.0 + i)
        for i in range(hosts)
    ]
    lines: list[str] = []
    quiet_cuts: list[int] = []
    killed: set[str] = set()  # hosts whose report printed its kill line and goes on
    open_reports: list[list] = []
    stamp = START
    n = 0
    while queue or open_reports:
        if queue and (len(open_reports) < concurrent or (concurrent > 1 and rng.random() < 0.15)):
            host, messages, mono = queue.pop(0)
            open_reports.append([host, messages, mono])
        report = rng.choice(open_reports)
        host, messages, mono = report
        report[2] = mono + 0.000113
        message = messages.pop(0)
        lines.append(_line(stamp, host, f"[{report[2]:12.6f}] {message}"))
        found = classify(message)
        if found is not None and found[0] is Marker.KILLED:
            killed.add(host)
        if not messages:
            open_reports.remove(report)
            killed.discard(host)
        if not killed:
            quiet_cuts.append(len(lines))
        n += 1
        if n % noise_every == 0:
            noise_host = f"host-{rng.randrange(hosts):03d}.fleet.test"
            lines.append(_line(stamp, noise_host, rng.choice(NOISE).format(n=n)))
        stamp += timedelta(milliseconds=1)
    records = [(line.split(" ", 2)[1].encode(), line.encode()) for line in lines]
    return Fleet(lines, records, quiet_cuts)


def _line(stamp: datetime, host: str, message: str) -> str:
    return f"{stamp.isoformat(timespec='microseconds')} {host} kernel: {message}"


def corpus_records() -> list[tuple[bytes, bytes]]:
    """The corpus as Fluent Bit `tail` records written by out_kafka (JSON, `@timestamp`)."""
    out = []
    for event in fleet_events():
        record = {"@timestamp": event["time"][0] + event["time"][1] / 1e9, **event["record"]}
        out.append((record["host"].encode(), orjson.dumps(record)))
    return out


def parse_ids(path: Path) -> dict[str, dict]:
    """What `oom-enricher parse` gives for the file: event.id -> document."""
    proc = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", str(path)],
        capture_output=True,
        check=True,
    )
    docs = [orjson.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {doc["event"]["id"]: doc for doc in docs}
