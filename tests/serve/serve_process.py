"""`oom-enricher serve` as a child process fed over the forward port, for durability tests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import msgpack
from elasticsearch import Elasticsearch

from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.installer import install

SURROGATE = "surrogateescape"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def oom_report(host: str, n: int, name: str = "caf\udce9") -> list[str]:
    """A short complete global OOM report; `name` may hold raw bytes (as lone surrogates)."""
    pid = 1000 + n
    stamp = 100 + n
    lines = [
        "stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        f"CPU: 1 PID: {pid} Comm: stress Not tainted 5.15.0 #1",
        "Tasks state (memory values in pages):",
        "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
        f"[   {pid}]     0  {pid}     8740      712    81920     1041             0 {name}",
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
        f"global_oom,task_memcg=/,task={name},pid={pid},uid=0",
        f"Out of memory: Killed process {pid} ({name}) total-vm:34960kB, anon-rss:2848kB, "
        "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:84kB oom_score_adj:0",
    ]
    return [f"[{stamp:6d}.{i:06d}] {text}" for i, text in enumerate(lines, 1)]


def entries(host: str, lines: list[str], base: int = 1_790_000_000) -> list:
    return [[base + i, {"host": host, "log": line}] for i, line in enumerate(lines)]


def pack_chunk(tag: str, items: list, chunk: str) -> bytes:
    """PackedForward, strings packed as they are (raw bytes stay raw, as Fluent Bit does)."""
    payload = b"".join(msgpack.packb(e, unicode_errors=SURROGATE) for e in items)
    options = {"chunk": chunk, "size": len(items)}
    return msgpack.packb([tag, payload, options], unicode_errors=SURROGATE)


def send_once(port: int, request: bytes, timeout: float = 10.0, source: str = "127.0.0.1"):
    """Sends one request on a new connection; the ack (a dict) or None when none came."""
    try:
        with socket.create_connection(
            ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
        ) as sock:
            sock.sendall(request)
            unpacker = msgpack.Unpacker(raw=False)
            while True:
                data = sock.recv(4096)
                if not data:
                    return None
                unpacker.feed(data)
                for reply in unpacker:
                    return reply
    except OSError:
        return None


def send_until_acked(port: int, request: bytes, chunk: str, deadline: float = 60.0) -> int:
    """Resends like an at-least-once shipper until the ack arrives; returns the resends."""
    stop = time.monotonic() + deadline
    resends = 0
    while time.monotonic() < stop:
        if send_once(port, request) == {"ack": chunk}:
            return resends
        resends += 1
        time.sleep(0.2)
    raise AssertionError(f"chunk {chunk} never acknowledged")


def http_get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


class Serve:
    """One config, any number of successive server processes (restarts)."""

    def __init__(
        self,
        tmp_path: Path,
        es_url: str,
        state_dir: Path | None = None,
        sink_url: str = "",
        namespace: str | None = None,
        extra_config: str = "",
    ) -> None:
        self.namespace = namespace or f"j{abs(hash(str(tmp_path))) % 10**8}"
        self.es = Elasticsearch(es_url, request_timeout=60)
        install(self.es, self.namespace)
        self.port = free_port()
        self.http_port = free_port()
        self.state_dir = state_dir or tmp_path / "state"
        self.log = tmp_path / "serve.log"
        self.config = tmp_path / "serve.toml"
        self.config.write_text(
            f'state_dir = "{self.state_dir}"\n'
            "tick_interval = 0.2\n"
            f"[http]\nport = {self.http_port}\n"
            f"[sources.forward]\nport = {self.port}\n"
            f'[sinks.elasticsearch]\nurl = "{sink_url or es_url}"\nnamespace = "{self.namespace}"\n'
            f'spool_dir = "{tmp_path / "spool"}"\n' + extra_config
        )
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oom_enricher", "--log-level", "INFO", "serve", "-c",
             str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115 - the child owns it
        )  # fmt: skip
        self.procs.append(proc)
        stop = time.monotonic() + 60
        while time.monotonic() < stop:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {self.log_text()}")
            try:
                http_get(self.http_port, "/health")
                return proc
            except (OSError, ValueError):
                time.sleep(0.1)
        raise AssertionError("serve did not start")

    def stop(self) -> int:
        proc = self.procs[-1]
        proc.terminate()
        return proc.wait(timeout=60)

    def kill(self) -> None:
        proc = self.procs[-1]
        proc.kill()
        proc.wait()

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def hits(self) -> list[dict]:
        stream = names.data_stream_name(self.namespace)
        if not self.es.indices.exists(index=stream):
            return []
        self.es.indices.refresh(index=stream)
        return self.es.search(index=stream, size=1000, query={"match_all": {}})["hits"]["hits"]

    def wait_for_documents(self, count: int, timeout: float = 60.0) -> list[dict]:
        stop = time.monotonic() + timeout
        while True:
            hits = self.hits()
            if len(hits) >= count or time.monotonic() > stop:
                return hits
            time.sleep(0.3)
