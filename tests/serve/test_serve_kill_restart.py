"""`oom-enricher serve` killed with SIGKILL mid-stream: the sender resends what was not
acknowledged, and every report lands exactly once in a real Elasticsearch node."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import pytest
from elasticsearch import Elasticsearch

from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.installer import install
from tests.serve.fleet import (
    ACROSS_RESTART,
    comparable,
    expected_documents,
    fleet_events,
    projection,
)

pytestmark = pytest.mark.integration

CHUNK = 25
WALL_AGE = 8.0  # seconds without lines before the server closes a report itself
# Reports close at their deadline to the millisecond; a killed report's next lines can come
# more than the default 2 s later here only because the server waits for a loaded
# Elasticsearch (and restarts), so the grace is wider than that wait.
TAIL_GRACE = 6.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "oom_enricher", "--log-level", "INFO", "serve", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115 - the child owns it
    )


class ResendingSender:
    """At-least-once like Fluent Bit: a chunk is resent until its ack arrives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.resends = 0
        self.after_send = None  # called once, right after a chunk's bytes went out

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + 60
        while True:
            try:
                return socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def send_chunk(self, tag: str, entries: list, chunk_id: str) -> None:
        payload = b"".join(msgpack.packb(e) for e in entries)
        request = msgpack.packb([tag, payload, {"chunk": chunk_id, "size": len(entries)}])
        while True:
            try:
                if self.sock is None:
                    self.sock = self._connect()
                self.sock.sendall(request)
                if self.after_send is not None:
                    hook, self.after_send = self.after_send, None
                    hook()
                unpacker = msgpack.Unpacker(raw=False)
                while True:
                    data = self.sock.recv(4096)
                    if not data:
                        raise ConnectionResetError("closed")
                    unpacker.feed(data)
                    for reply in unpacker:
                        assert reply == {"ack": chunk_id}
                        return
            except OSError:
                if self.sock is not None:
                    self.sock.close()
                self.sock = None
                self.resends += 1


def test_sigkill_mid_stream_then_restart_indexes_every_report_once(es_url, tmp_path):
    namespace = f"kill{os.getpid()}"
    es = Elasticsearch(es_url, request_timeout=60)
    install(es, namespace)
    port = free_port()
    config = tmp_path / "serve.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f"tick_interval = 0.5\n"
        f"[pipeline]\nmax_wall_age = {WALL_AGE}\ntail_grace = {TAIL_GRACE}\n"
        f"[http]\nport = {free_port()}\n"
        f"[sources.forward]\nport = {port}\n"
        f'[sinks.elasticsearch]\nurl = "{es_url}"\nnamespace = "{namespace}"\n'
    )
    log = tmp_path / "serve.log"
    events = fleet_events()
    entries = [[e["time"][0], e["record"]] for e in events]
    chunks = [entries[i : i + CHUNK] for i in range(0, len(entries), CHUNK)]

    servers = [start_server(config, log)]
    sender = ResendingSender(port)

    def kill_and_restart() -> None:
        # SIGKILL while this chunk is on the wire and unacknowledged; start a new process.
        servers[-1].send_signal(signal.SIGKILL)
        servers[-1].wait()
        servers.append(start_server(config, log))

    try:
        for n, chunk in enumerate(chunks):
            if n == len(chunks) // 2:
                sender.after_send = kill_and_restart
            sender.send_chunk("kern.oom", chunk, f"chunk-{n}")
        server = servers[-1]
        # Let the last reports reach max_wall_age, then stop gracefully.
        time.sleep(WALL_AGE + 3)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert sender.resends >= 1, log.read_text()

    stream = names.data_stream_name(namespace)
    es.indices.refresh(index=stream)
    hits = es.search(index=stream, size=1000, query={"match_all": {}})["hits"]["hits"]
    docs = [h["_source"] for h in hits]
    # Reports still open at the end were closed by max_wall_age, not by end of input.
    for doc in docs:
        if doc["oom"].get("incomplete_reason") == "max_wall_age":
            doc["oom"]["incomplete_reason"] = "end_of_input"
    assert len({h["_id"] for h in hits}) == len(hits)
    got, want = comparable(projection(docs), projection(expected_documents()), known=ACROSS_RESTART)
    assert got == want, log.read_text()[-3000:]
