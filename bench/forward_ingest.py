"""Forward ingest: records per CPU-second of the `serve` process, against bare msgpack decode.

`oom-enricher serve` runs as users run it: the CLI as its own process, with a state_dir and
fsync on as shipped, forwarding its documents to a receiver in this process (`[sinks.fluent]`).
Load generators (separate processes) send PackedForward requests over loopback, each with
a `chunk` waiting for its ack, in two shapes:

* aggregator: 500-record chunks mixing 100 hosts, on one connection;
* fleet: 5-record chunks, each from one of 5,000 hosts (Fluent Bit `Flush 1` on every node),
  over 20 connections.

Records are Fluent Bit `kmsg` records: about 97% ordinary kernel noise, with real OOM reports
(the corpus' kernel lines) interleaved. The baseline is msgpack alone decoding the same
request bytes (outer request and every entry), in the same run, the fastest of three. The
same load is also sent to a bare server on serve's event loop that only unpacks each
request's outer array and acks it (no record decoded, no journal): its ratio is what reading
and acking alone cost in Python on this machine, the ceiling for any server built the same
way. The server's CPU is counted until the last document reached the receiver (reports of
hosts that went quiet close at their deadline, after the last request). Each shape also runs
once more with no report line in it (noise only: what the common case costs), and the
difference between the two runs per document is printed as what one report costs. Also
printed: the report latency from the sending of a report's last line to its document
reaching the receiver, minus the reaper grace; and in a last run the RSS of the whole server
with 10,000 hosts mid-report and the extra RSS of 100,000 idle hosts.

    python -m bench.forward_ingest [--records 200000] [--skip-memory] [--skip-ack-only]
                                   [--skip-noise-only]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from oom_enricher.reassembly.bounds import Bounds
from oom_enricher.serve.app import loop_factory
from oom_enricher.serve.metrics import quantile_of
from oom_enricher.sources.forward_codec import ext_hook
from oom_enricher.sources.forward_server import ForwardBatch, ForwardServer, ForwardServerConfig

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
REPORT_SHARE = 0.03  # of all records, lines of an OOM report
BASE_TIME = 1_790_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
BASELINE_RUNS = 3  # msgpack-alone decodes of the same requests; the fastest is the baseline


def report_lines() -> list[str]:
    path = next(CORPUS.glob("013-*.log"))  # one complete event per report
    return [m[1] for line in path.read_text().splitlines() if (m := SYSLOG_KERNEL.match(line))]


@dataclass
class Load:
    """Request bytes per connection, and which request carries each report's last line."""

    name: str
    per_connection: list[list[bytes]]
    last_line: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    records: int = 0
    reports: int = 0

    def requests(self) -> list[bytes]:
        return [raw for conn in self.per_connection for raw in conn]


class HostStream:
    """One host's kmsg records: noise, with a report starting now and then.

    A host whose report ended may go quiet (`quiet_after`): its report then closes by its
    wall-clock deadline, which is what the latency figure measures; the reports of hosts that
    keep talking close earlier, on their next lines' time stamps, and are not counted there.
    """

    def __init__(
        self, name: str, rng: random.Random, report: list[str], share: float = REPORT_SHARE
    ) -> None:
        self.name, self.rng, self.report = name, rng, report
        self.pending: list[str] = []
        self.seq = 0
        self.reports = 0
        self.quiet = False
        self.quiet_after = False
        self.start_chance = share / (len(report) * (1 - share))

    def next(self, n: int) -> tuple[bytes, bool]:
        """The packed entry of record n, and whether it is the last line of a report."""
        if not self.pending and self.rng.random() < self.start_chance:
            self.pending = list(self.report)
            self.reports += 1
        last = False
        if self.pending:
            msg = self.pending.pop(0)
            last = not self.pending
            self.quiet = last and self.quiet_after
        else:
            template = NOISE[self.rng.randrange(len(NOISE))]
            msg = template.format(a=self.rng.randrange(10), b=self.rng.randrange(9999), t=n)
        self.seq += 1
        usec = 1_000_000 * 3600 + n
        record = {"priority": 4, "sequence": self.seq, "sec": usec // 1_000_000,
                  "usec": usec % 1_000_000, "msg": msg, "hostname": self.name}  # fmt: skip
        when = msgpack.ExtType(
            0, (BASE_TIME + n // 1000).to_bytes(4, "big") + ((n % 1000) * 10**6).to_bytes(4, "big")
        )
        return msgpack.packb([when, record]), last


def streams_of(hosts: int, seed: int, share: float = REPORT_SHARE) -> list[HostStream]:
    rng, report = random.Random(seed), report_lines()
    streams = [HostStream(f"node-{h:05d}", rng, report, share) for h in range(hosts)]
    for stream in streams[: hosts // 2]:  # half the hosts go quiet after their first report
        stream.quiet_after = True
    return streams


def request(entries: list[bytes], chunk: str) -> bytes:
    payload = b"".join(entries)
    return msgpack.packb(["kernel", payload, {"chunk": chunk, "size": len(entries)}])


def aggregator_load(
    records: int, hosts: int = 100, batch: int = 500, seed: int = 7, share: float = REPORT_SHARE
) -> Load:
    """Chunks that mix every host, as a Fluentd aggregator forwards them."""
    streams = streams_of(hosts, seed, share)
    load = Load("aggregator", [[]])
    entries: list[bytes] = []
    n = turn = 0
    while n < records:
        stream = streams[turn % hosts]
        turn += 1
        if stream.quiet:
            continue
        entry, last = stream.next(n)
        n += 1
        entries.append(entry)
        if last and stream.quiet:
            load.last_line[(stream.name, stream.reports)] = (0, len(load.per_connection[0]))
        if len(entries) == batch or n == records:
            load.per_connection[0].append(request(entries, f"a-{len(load.per_connection[0])}"))
            entries = []
    load.records, load.reports = n, sum(s.reports for s in streams)
    return load


def fleet_load(
    records: int,
    hosts: int = 5000,
    batch: int = 5,
    connections: int = 20,
    seed: int = 7,
    share: float = REPORT_SHARE,
) -> Load:
    """Each chunk from one host; a host always sends on the same connection, in order. A
    report goes out at once, in consecutive chunks, as a node's kernel prints it."""
    streams = streams_of(hosts, seed, share)
    load = Load("fleet", [[] for _ in range(connections)])
    n = 0
    while n < records:
        for h, stream in enumerate(streams):
            if stream.quiet:
                continue
            conn = load.per_connection[h % connections]
            while True:
                entries = []
                for _ in range(batch):
                    entry, last = stream.next(n)
                    entries.append(entry)
                    n += 1
                    if last and stream.quiet:
                        load.last_line[(stream.name, stream.reports)] = (h % connections, len(conn))
                    if stream.quiet:
                        break
                conn.append(request(entries, f"f-{h}-{len(conn)}"))
                if not stream.pending:
                    break
            if n >= records:
                break
    load.records, load.reports = n, sum(s.reports for s in streams)
    return load


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


def send_all(port: int, per_connection: list[list[bytes]], sent_at) -> None:
    """One thread per connection, each request sent after the previous one was acked."""

    def send(index: int, mine: list[bytes]) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        unpacker = msgpack.Unpacker(raw=False)
        for number, raw in enumerate(mine):
            sent_at[(index, number)] = time.monotonic()
            sock.sendall(raw)
            while not any(True for _ in unpacker):
                unpacker.feed(sock.recv(4096))
        sock.close()

    threads = [
        threading.Thread(target=send, args=(i, mine)) for i, mine in enumerate(per_connection)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def generator(port: int, per_connection: list[list[bytes]], results) -> None:
    sent_at: dict = {}
    send_all(port, per_connection, sent_at)
    results.put(sent_at)


class Receiver:
    """Where the server's fluent sink delivers documents: arrival time per (host, k-th doc)."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, int], float] = {}
        self._counts: dict[str, int] = {}
        self._ready = threading.Event()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = ForwardServer(ForwardServerConfig(port=0, udp_heartbeat=False), self._on_batch)
        self._loop.run_until_complete(server.start())
        self.port = server.port
        self._ready.set()
        self._loop.run_forever()

    async def _on_batch(self, batch: ForwardBatch) -> None:
        now = time.monotonic()
        for _, doc in batch.entries:
            host = doc.get("host", {}).get("name", "")
            k = self._counts.get(host, 0) + 1
            self._counts[host] = k
            self.arrived[(host, k)] = now

    @property
    def documents(self) -> int:
        return sum(self._counts.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class _AckOnly(asyncio.Protocol):
    """Reads each request's outer array and acks its chunk: no entry decoded, nothing kept."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.unpacker = msgpack.Unpacker(raw=False, unicode_errors="surrogateescape")

    def data_received(self, data: bytes) -> None:
        self.unpacker.feed(data)
        acks = [msgpack.packb({"ack": request[2]["chunk"]}) for request in self.unpacker]
        if acks:
            self.transport.write(b"".join(acks))


def _serve_ack_only(ports) -> None:
    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(_AckOnly, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    # the event loop serve runs on by default
    with asyncio.Runner(loop_factory=loop_factory("auto")) as runner:
        runner.run(run())


def ack_only_cpu(load: Load) -> float:
    """Server CPU seconds of the same load against a bare asyncio server that only acks."""
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve_ack_only, args=(ports,), daemon=True)
    server.start()
    try:
        port, results = ports.get(timeout=60), multiprocessing.Queue()
        gen = multiprocessing.Process(target=generator, args=(port, load.per_connection, results))
        cpu0 = cpu_seconds(server.pid)
        gen.start()
        results.get()
        gen.join()
        return cpu_seconds(server.pid) - cpu0
    finally:
        server.kill()
        server.join()


class ServerProcess:
    """`oom-enricher serve` with a state_dir (fsync on) and a fluent sink to `receiver_port`."""

    def __init__(self, state_dir: Path, receiver_port: int, state: bool = True) -> None:
        self.port = free_port()
        config = state_dir / "serve.toml"
        config.write_text(
            (f'state_dir = "{state_dir / "state"}"\n' if state else "")
            + f"[sources.forward]\nport = {self.port}\n"
            f'[sinks.fluent]\nhost = "127.0.0.1"\nport = {receiver_port}\ntag = "bench"\n'
        )
        self.log = open(state_dir / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oom_enricher", "serve", "-c", str(config), "--no-http"],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("serve did not start listening")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss_mb(self, key: str = "VmRSS") -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_shape(load: Load, state: bool = True) -> dict:
    receiver = Receiver()
    receiver.start()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), receiver.port, state)
        try:
            results: multiprocessing.Queue = multiprocessing.Queue()
            gen = multiprocessing.Process(
                target=generator, args=(server.port, load.per_connection, results)
            )
            cpu0, wall0 = server.cpu_seconds(), time.monotonic()
            gen.start()
            sent_at = results.get()
            gen.join()
            wall = time.monotonic() - wall0
            # Reports still waiting for their reaper lines close at their deadline: what
            # closing them and sending their documents costs is the load's CPU too.
            deadline = time.monotonic() + Bounds().tail_grace + 10
            while receiver.documents < load.reports and time.monotonic() < deadline:
                time.sleep(0.05)
            cpu = server.cpu_seconds() - cpu0
        finally:
            server.stop()
    latencies = [
        receiver.arrived[key] - sent_at[where]
        for key, where in load.last_line.items()
        if key in receiver.arrived and where in sent_at
    ]
    return {"cpu": cpu, "wall": wall, "docs": receiver.documents, "latencies": latencies}


def memory_run(open_hosts: int = 10_000, idle_hosts: int = 100_000, state: bool = True) -> dict:
    """RSS of the server: after 100,000 idle hosts sent one record each, then with 10,000
    hosts each 20 lines into a report."""
    receiver = Receiver()
    receiver.start()
    report = report_lines()
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp), receiver.port, state)
        try:
            rss_start = server.rss_mb()
            idle = [
                HostStream(f"idle-{h:06d}", random.Random(h), report) for h in range(idle_hosts)
            ]
            for stream in idle:
                stream.start_chance = 0.0
            entries = [stream.next(n)[0] for n, stream in enumerate(idle)]
            chunks = [
                request(entries[i : i + 5000], f"i-{i}") for i in range(0, len(entries), 5000)
            ]
            send_all(server.port, [chunks], {})
            rss_idle = server.rss_mb()
            entries = []
            for line in range(20):
                for h in range(open_hosts):
                    record = {"priority": 4, "sequence": line, "sec": 3600, "usec": line,
                              "msg": report[line], "hostname": f"open-{h:05d}"}  # fmt: skip
                    entries.append(msgpack.packb([BASE_TIME, record]))
            chunks = [
                request(entries[i : i + 10_000], f"o-{i}") for i in range(0, len(entries), 10_000)
            ]
            send_all(server.port, [chunks], {})
            rss_open, peak = server.rss_mb(), server.rss_mb("VmHWM")
        finally:
            server.stop()
    return {"start": rss_start, "idle": rss_idle, "open": rss_open, "peak": peak}


def _cpu(decoded: tuple[int, float]) -> float:
    return decoded[1]


def msgpack_alone(requests: list[bytes]) -> tuple[float, float]:
    """Records per CPU-second of msgpack alone decoding the requests, and its CPU.
    The machine is shared: one baseline run varied by up to 2x between runs, so the ratio
    moved with the load rather than with serve. The fastest of three is the baseline."""
    count, decode_cpu = min((decode_alone(requests) for _ in range(BASELINE_RUNS)), key=_cpu)
    return count / decode_cpu, decode_cpu


def print_shape(load: Load, result: dict) -> None:
    requests = load.requests()
    alone, decode_cpu = msgpack_alone(requests)
    per_cpu = load.records / result["cpu"]
    grace = Bounds().tail_grace
    size = sum(len(r) for r in requests)
    print(
        f"[{load.name}] {len(requests):,} requests, {load.records:,} records, {size / 1e6:.1f} MB, "
        f"{len(load.per_connection)} connection(s), {load.reports} reports"
    )
    print(f"  msgpack alone: {alone:12,.0f} records per CPU-second ({decode_cpu:.2f} s)")
    print(
        f"  serve:         {per_cpu:12,.0f} records per CPU-second ({result['cpu']:.2f} s CPU, "
        f"{result['wall']:.2f} s wall)"
    )
    print(f"  ratio:         {per_cpu / alone:.3f} (serve / msgpack alone; goal >= 1.0)")
    if result.get("ack_only_cpu"):
        bare = load.records / result["ack_only_cpu"]
        print(
            f"  ack only:      {bare:12,.0f} records per CPU-second, ratio {bare / alone:.3f} "
            "(a bare server on the same loop: read, ack, decode no record)"
        )
    elif "ack_only_cpu" in result:
        print("  ack only:      under one clock tick of CPU (a load this small cannot tell)")
    if "noise" in result:
        print_noise_only(load, result, result["noise"])
    lat = result["latencies"]
    if not lat:
        print(f"  latency:       no report completed ({result['docs']} documents)")
    else:
        print(
            f"  latency:       p50 {(quantile_of(lat, 0.5) - grace) * 1000:+.0f} ms, "
            f"p99 {(quantile_of(lat, 0.99) - grace) * 1000:+.0f} ms beyond the {grace:.0f} s "
            f"grace over {len(lat)} reports ({result['docs']} documents; goal p99 <= 50 ms)"
        )


def print_noise_only(load: Load, result: dict, noise: tuple[Load, dict]) -> None:
    """The same shape with no report line, and what each report costs beyond the noise
    records its lines took the place of."""
    quiet, run = noise
    if run["cpu"] <= 0:
        print("  noise only:    under one clock tick of CPU (a load this small cannot tell)")
    else:
        alone, _ = msgpack_alone(quiet.requests())
        per_cpu = quiet.records / run["cpu"]
        print(
            f"  noise only:    {per_cpu:12,.0f} records per CPU-second, ratio "
            f"{per_cpu / alone:.3f} (the same load without a report line: what the common case "
            "costs)"
        )
    if load.reports and result["docs"]:
        extra = (result["cpu"] - run["cpu"]) / result["docs"]
        print(
            f"  per report:    {extra * 1000:.1f} ms of server CPU beyond the noise it replaced "
            f"(its lines read, journaled and fed, its document built and sent)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000, help="aggregator records")
    # 5,000 hosts x 5 records a round: a report of ~80 lines takes 16 rounds to complete.
    parser.add_argument("--fleet-records", type=int, default=500_000, help="fleet records")
    parser.add_argument("--skip-memory", action="store_true", help="no RSS run")
    parser.add_argument("--skip-ack-only", action="store_true", help="no bare ack-only server run")
    parser.add_argument(
        "--skip-noise-only", action="store_true", help="no run of each shape without reports"
    )
    parser.add_argument(
        "--also-without-state", action="store_true", help="each shape again without state_dir"
    )
    args = parser.parse_args()
    shapes = (
        (aggregator_load, args.records),
        (fleet_load, args.fleet_records),
    )
    for make, records in shapes:
        load = make(records)
        result = run_shape(load)
        if not args.skip_ack_only:
            result["ack_only_cpu"] = ack_only_cpu(load)
        if not args.skip_noise_only:
            quiet = make(records, share=0.0)
            result["noise"] = (quiet, run_shape(quiet))
        print_shape(load, result)
        if args.also_without_state:
            load.name += ", no state_dir"
            print_shape(load, run_shape(load, state=False))
    if not args.skip_memory:
        for state in (True, False) if args.also_without_state else (True,):
            rss = memory_run(state=state)
            print(
                f"[memory{'' if state else ', no state_dir'}] RSS {rss['open']:.0f} MB with "
                f"10,000 hosts mid-report (goal < 200 MB; peak {rss['peak']:.0f} MB); 100,000 "
                f"idle hosts added {rss['idle'] - rss['start']:.1f} MB (goal < 20 MB)"
            )


if __name__ == "__main__":
    main()
