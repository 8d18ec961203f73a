"""Fault matrix: the npm fluent-logger client streams reports with ack, resending until acked,
while serve is killed with SIGKILL at random points, its state_dir disk fills up for a while
and Elasticsearch is unreachable for a while. Every report ends up in Elasticsearch exactly
once, whole."""

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from urllib.parse import urlparse

import pytest

from tests.peers.node import PEERS
from tests.serve.serve_process import Serve, oom_report

pytestmark = pytest.mark.integration

REPORTS = 24


class SwitchableProxy:
    """A TCP proxy on loopback in front of Elasticsearch that can be cut off and restored."""

    def __init__(self, target_url: str) -> None:
        url = urlparse(target_url)
        self.target = (url.hostname, url.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.stopped = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()  # unreachable: refused at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def down(self) -> None:
        self.up = False
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def close(self) -> None:
        self.stopped = True
        self.down()
        self.listener.close()


def interleaved_events() -> list[dict]:
    streams = [
        [
            {"tag": "kern", "time": 1_790_000_000 + i, "record": {"host": f"fm-{n}", "log": line}}
            for i, line in enumerate(oom_report(f"fm-{n}", n, f"worker{n}"))
        ]
        for n in range(REPORTS)
    ]
    events = []
    while any(streams):
        for stream in streams:
            if stream:
                events.append(stream.pop(0))
    return events


def test_kill_9_disk_full_and_elasticsearch_down_while_streaming_every_report_once(
    es_url, tmp_path, node_peer
):
    seed = int(os.environ.get("FAULT_SEED", time.time()))
    rng = random.Random(seed)
    state = tmp_path / "state"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state)], check=True)
    proxy = SwitchableProxy(es_url)
    serve = Serve(tmp_path, es_url, state_dir=state, sink_url=proxy.url)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"host": "127.0.0.1", "port": serve.port,
                                "events": interleaved_events()}))  # fmt: skip
    node = None
    faults: list[str] = []
    try:
        serve.start()
        node = subprocess.Popen(
            [shutil.which("node") or "node", str(PEERS / "forward_resend.js"), str(spec)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

        def pause(low: float, high: float) -> None:
            time.sleep(rng.uniform(low, high))

        pause(0.3, 1.0)
        serve.kill()
        faults.append("kill -9")
        serve.start()
        pause(0.2, 0.8)
        filler = state / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        faults.append("disk full")
        pause(0.5, 1.5)
        filler.unlink()
        proxy.down()
        faults.append("elasticsearch down")
        pause(0.5, 1.5)
        serve.kill()
        faults.append("kill -9")
        serve.start()
        pause(0.5, 1.0)
        proxy.up = True
        out, err = node.communicate(timeout=120)
        assert node.returncode == 0, err
        hits = serve.wait_for_documents(REPORTS, timeout=60)
        time.sleep(2.5)  # a duplicate or a split part would come within the tail grace
        hits = serve.hits()
        assert serve.stop() == 0, serve.log_text()
    finally:
        if node is not None and node.poll() is None:
            node.kill()
        serve.cleanup()
        proxy.close()
        subprocess.run(["umount", "-l", str(state)], check=False)
    context = f"seed {seed}, faults {faults}, resends {out.strip()}\n{serve.log_text()}"
    hosts = Counter(h["_source"]["host"]["name"] for h in hits)
    assert hosts == Counter({f"fm-{n}": 1 for n in range(REPORTS)}), context
    assert all(h["_source"]["oom"]["complete"] for h in hits), context
    assert len({h["_id"] for h in hits}) == REPORTS
