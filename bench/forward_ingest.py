"""Forward ingest: records per second per core through the whole server, against msgpack alone.

A load generator (a separate process) sends PackedForward requests over loopback the way
Fluent Bit's `kmsg` input + `forward` output does: kmsg-shaped records of many hosts, mostly
ordinary kernel noise with real OOM reports (the corpus' kernel lines) inside, each request
with a `chunk` waiting for its ack. The server side is the real ForwardServer -> record shapes
-> Processor (pipeline, journal group commit before every ack) -> a counting sink.

The same request bytes are also decoded with msgpack alone (outer request + inner entries),
in the same run, as the ceiling. Report latency is measured from the arrival of a report's
last line at the server to its document being handed to the sink.

    python bench/forward_ingest.py --records 200000 --hosts 100 --batch 500
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import re
import resource
import socket
import tempfile
import time
from pathlib import Path

import msgpack

from oom_enricher.serve.journal import Journal
from oom_enricher.serve.metrics import quantile_of
from oom_enricher.serve.processor import Processor
from oom_enricher.sources.forward_codec import ext_hook
from oom_enricher.sources.forward_server import ForwardBatch, ForwardServer, ForwardServerConfig
from oom_enricher.sources.record_shapes import from_record

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus"
SYSLOG_KERNEL = re.compile(
    r"^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: (?:\[\s*[\d.]+\] )?(.*)$"
)
NOISE = (
    "IPv6: ADDRCONF(NETDEV_CHANGE): veth{a}{b}: link becomes ready",
    "cni0: port {a}(veth{b}) entered forwarding state",
    'audit: type=1400 audit({t}:{a}): apparmor="STATUS" operation="profile_load"',
    "EXT4-fs (sda{a}): mounted filesystem with ordered data mode. Quota mode: none.",
    "TCP: request_sock_TCP: Possible SYN flooding on port {b}. Sending cookies.",
)


def report_lines() -> list[str]:
    path = next(CORPUS.glob("013-*.log"))  # one complete event per report
    return [m[1] for line in path.read_text().splitlines() if (m := SYSLOG_KERNEL.match(line))]


def build_requests(records: int, hosts: int, batch: int, oom_every: int, seed: int = 7):
    """PackedForward request bytes, and per host the number of reports sent."""
    rng = random.Random(seed)
    report = report_lines()
    seq = {h: 0 for h in range(hosts)}
    pending: dict[int, list[str]] = {}
    reports = {h: 0 for h in range(hosts)}
    base = 1_790_000_000
    entries: list[bytes] = []
    requests: list[bytes] = []
    for n in range(records):
        host = n % hosts
        if host not in pending and rng.randrange(oom_every) == 0:
            pending[host] = list(report)
            reports[host] += 1
        if host in pending:
            msg = pending[host].pop(0)
            last = not pending[host]
            if last:
                del pending[host]
        else:
            template = NOISE[rng.randrange(len(NOISE))]
            msg = template.format(a=rng.randrange(10), b=rng.randrange(9999), t=n)
            last = False
        seq[host] += 1
        usec = 1_000_000 * 3600 + n
        record = {"priority": 4, "sequence": seq[host], "sec": usec // 1_000_000,
                  "usec": usec % 1_000_000, "msg": msg, "hostname": f"node-{host:04d}"}  # fmt: skip
        if last:
            record["bench_last"] = reports[host]
        when = msgpack.ExtType(
            0, (base + n // 1000).to_bytes(4, "big") + ((n % 1000) * 10**6).to_bytes(4, "big")
        )
        entries.append(msgpack.packb([when, record]))
        if len(entries) == batch:
            requests.append(_request(entries, len(requests)))
            entries = []
    if entries:
        requests.append(_request(entries, len(requests)))
    return requests, reports


def _request(entries: list[bytes], n: int) -> bytes:
    payload = b"".join(entries)
    return msgpack.packb(["kernel", payload, {"chunk": f"bench-{n}", "size": len(entries)}])


def decode_alone(requests: list[bytes]) -> tuple[int, float]:
    """Records and CPU seconds to decode every request and its entries with msgpack only."""
    started = time.process_time()
    count = 0
    for raw in requests:
        outer = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape", ext_hook=ext_hook)
        outer.feed(raw)
        for obj in outer:
            inner = msgpack.Unpacker(raw=False, ext_hook=ext_hook)
            inner.feed(obj[1])
            count += sum(1 for _ in inner)
    return count, time.process_time() - started


def generator(port: int, records: int, hosts: int, batch: int, oom_every: int, conns: int):
    requests, _ = build_requests(records, hosts, batch, oom_every)
    share = [requests[i::conns] for i in range(conns)]

    def send(mine: list[bytes]) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        unpacker = msgpack.Unpacker(raw=False)
        for raw in mine:
            sock.sendall(raw)
            while True:
                data = sock.recv(4096)
                unpacker.feed(data)
                if any(True for _ in unpacker):
                    break
        sock.close()

    import threading

    threads = [threading.Thread(target=send, args=(m,)) for m in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class TimingSink:
    name = "bench"

    def __init__(self, last_seen: dict) -> None:
        self.last_seen = last_seen
        self.per_host: dict[str, int] = {}
        self.latencies: list[float] = []
        self.docs = 0

    def send(self, doc: dict) -> None:
        now = time.monotonic()
        self.docs += 1
        host = doc["host"]["name"]
        k = self.per_host.get(host, 0) + 1
        self.per_host[host] = k
        arrived = self.last_seen.pop((host, k), None)
        if arrived is not None:
            self.latencies.append(now - arrived)

    def flush(self, timeout=None) -> bool:
        return True

    def close(self) -> None:
        pass


async def serve(args, state_dir: Path) -> dict:
    last_seen: dict = {}
    sink = TimingSink(last_seen)
    processor = Processor(sinks=[sink], journal=Journal(state_dir / "journal", fsync=args.fsync))

    async def handler(batch: ForwardBatch) -> None:
        now = time.monotonic()
        records = []
        for seconds, record in batch.entries:
            if "bench_last" in record:
                last_seen[(record["hostname"], record["bench_last"])] = now
            shipped = from_record(record, event_time=seconds, tag=batch.tag, peer=batch.peer)
            if shipped is not None:
                records.append(shipped)
        await processor.handle("forward", records, chunk=batch.chunk, sender=batch.peer)

    server = ForwardServer(ForwardServerConfig(port=0), handler, processor.metrics)
    await server.start()
    gen = multiprocessing.Process(
        target=generator,
        args=(server.port, args.records, args.hosts, args.batch, args.oom_every, args.connections),
    )
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    gen.start()
    while gen.is_alive():
        await asyncio.sleep(0.05)
        await processor.tick()
    wall = time.monotonic() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    # Reports still waiting for their tail (reaper lines) close on the wall-clock bound.
    deadline = time.monotonic() + processor.options.bounds.tail_grace + 1
    while last_seen and time.monotonic() < deadline:
        await processor.tick()
        await asyncio.sleep(0.05)
    await server.stop()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "records": int(processor.metrics.get("records_in", {"source": "forward"})),
        "cpu": cpu,
        "wall": wall,
        "docs": sink.docs,
        "latencies": sink.latencies,
        "state_writes": processor.commits.stats.commits if processor.commits else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500, help="entries per request (chunk)")
    parser.add_argument("--oom-every", type=int, default=2000, help="a report starts ~1 in N")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--no-fsync", dest="fsync", action="store_false")
    args = parser.parse_args()

    requests, reports = build_requests(args.records, args.hosts, args.batch, args.oom_every)
    size = sum(len(r) for r in requests)
    count, decode_cpu = decode_alone(requests)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(serve(args, Path(tmp)))
    per_core = result["records"] / result["cpu"]
    alone = count / decode_cpu
    lat = result["latencies"]
    lines = [
        f"requests: {len(requests)} x {args.batch} entries, {size / 1e6:.1f} MB, "
        f"{args.hosts} hosts, {sum(reports.values())} OOM reports, fsync={args.fsync}",
        f"msgpack alone:  {alone:12,.0f} records/s (1 core, {decode_cpu:.2f} s CPU)",
        f"server:         {per_core:12,.0f} records/s per core ({result['records']:,} records, "
        f"{result['cpu']:.2f} s CPU, {result['wall']:.2f} s wall, "
        f"{result['records'] / result['wall']:,.0f} records/s wall)",
        f"ratio:          server / msgpack alone = {per_core / alone:.3f} "
        f"({alone / per_core:.1f}x slower)",
        f"documents:      {result['docs']}, state writes {result['state_writes']}",
    ]
    if lat:
        lines.append(
            f"report latency: p50 {quantile_of(lat, 0.5) * 1000:.1f} ms, "
            f"p99 {quantile_of(lat, 0.99) * 1000:.1f} ms over {len(lat)} reports "
            "(last line received -> document handed to the sink)"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
