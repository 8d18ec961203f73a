"""`serve` under abuse and bad data: a low descriptor limit, bad times, a fuzzed forward port."""

import asyncio
import contextlib
import resource
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgpack
import pytest

from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import from_dict
from tests.peers.forward_client import RawForwardClient
from tests.sources.test_forward_abuse import amplifying_record

pytestmark = pytest.mark.integration

IDLE_SOCKETS = 1100
DESCRIPTOR_LIMIT = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTOR_LIMIT, DESCRIPTOR_LIMIT))


def start_serve(tmp_path: Path, **popen) -> tuple[subprocess.Popen, int, int]:
    """`oom-enricher serve` as a process: forward port, /metrics and a stdout sink."""
    forward, http = free_port(), free_port()
    config = tmp_path / "serve.toml"
    config.write_text(
        f"[http]\nport = {http}\n[sources.forward]\nport = {forward}\n[sinks.stdout]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "oom_enricher", "serve", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "wb"),  # noqa: SIM115 - the child owns it
        **popen,
    )
    return proc, forward, http


def wait_until_serving(port: int, proc: subprocess.Popen) -> None:
    for _ in range(600):
        assert proc.poll() is None, "serve exited"
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        time.sleep(0.1)
    raise AssertionError("serve never listened")


def acked_chunk(port: int, chunk: str) -> object:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        entries = b"".join(
            msgpack.packb([1790000000, {"host": "edge-1", "log": f"line {i}"}]) for i in range(3)
        )
        s.sendall(msgpack.packb(["kern", entries, {"chunk": chunk}]))
        return msgpack.unpackb(s.recv(4096))


def test_idle_sockets_at_a_low_descriptor_limit_do_not_stop_ingestion_or_health(tmp_path):
    """1,100 idle sockets against a serve whose RLIMIT_NOFILE is 1024 (the usual default)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= IDLE_SOCKETS + 100, "the test itself needs the descriptors"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE_SOCKETS + 100), hard))
    proc, forward, http = start_serve(tmp_path, preexec_fn=low_descriptor_limit)
    idle: list[socket.socket] = []
    try:
        wait_until_serving(forward, proc)
        # From five loopback addresses, so that the per-peer cap is not what saves the day.
        for n in range(IDLE_SOCKETS):
            address = f"127.0.0.{2 + n % 5}"
            idle.append(
                socket.create_connection(("127.0.0.1", forward), 30, source_address=(address, 0))
            )
        for _ in range(600):  # until serve has taken every one of them in
            status, text = http_get(http, "/metrics")
            accepted = metric(text, 'oom_enricher_connections_total{source="forward"}')
            if status == 200 and accepted >= IDLE_SOCKETS:
                break
            time.sleep(0.1)
        assert acked_chunk(forward, "after-idle") == {"ack": "after-idle"}
        status, body = http_get(http, "/health")
        assert status == 200, body
        _, text = http_get(http, "/metrics")
        assert metric(text, 'oom_enricher_errors_total{kind="evicted_idle",source="forward"}') > 0
    finally:
        for s in idle:
            s.close()
        proc.terminate()
        proc.wait(timeout=60)
    log = (tmp_path / "serve.log").read_text()
    assert "Too many open files" not in log, log[-3000:]
    assert "connection cap 960" in log


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_object_amplification_keeps_serve_within_its_memory_max(tmp_path):
    """29 MiB requests that decode into tens of times their bytes (a PackedForward entry the
    prefilter reads for its "oom", a Forward-mode frame) are refused while they decode;
    serve's peak RSS stays far below the unit's MemoryMax=512M (2.2 GB on the starting
    main), and the next chunk is acked."""
    proc, forward, http = start_serve(tmp_path)
    entry = b"\x92\xce" + struct.pack(">I", 1790000000) + amplifying_record("empty arrays")
    frames = [
        msgpack.packb(["kern", entry, {"chunk": "packed"}]),
        b"\x93\xa4kern\x91" + entry + msgpack.packb({"chunk": "forward"}),
    ]
    try:
        wait_until_serving(forward, proc)
        for frame in frames:
            with socket.create_connection(("127.0.0.1", forward), timeout=120) as s:
                with contextlib.suppress(ConnectionError):
                    s.sendall(frame)
                with contextlib.suppress(ConnectionError):
                    assert s.recv(4096) == b"", "a refused request is never acked"
        assert acked_chunk(forward, "after") == {"ack": "after"}
        _, text = http_get(http, "/metrics")
        refused = 'oom_enricher_errors_total{kind="too_many_objects",source="forward"}'
        assert metric(text, refused) == 2
        assert peak_rss_mb(proc.pid) < 400
    finally:
        proc.terminate()
        proc.wait(timeout=60)


ODD_TIMES = [float("nan"), float("inf"), 1e20]


def run_app(config: dict, scenario) -> ServeApp:
    async def main() -> ServeApp:
        app = ServeApp(from_dict(config), sinks=[])
        await app.start()
        try:
            await scenario(app)
        finally:
            await app.stop()
        return app

    return asyncio.run(main())


def test_bad_times_never_cost_a_chunk():
    """NaN, inf, 1e20 as entry times, a 400-digit __REALTIME_TIMESTAMP: each chunk is acked,
    the lines are kept with the receive time, and every bad time is counted."""
    # Lines with a marker needle ("oom"), so that they are decoded: records that cannot matter
    # are acked unread, their times never looked at.
    chunks = [
        ("nan-inf-1e20", [[t, {"host": "edge-1", "log": "oom a"}] for t in ODD_TIMES]),
        ("journal", [[1790000000, {"MESSAGE": "oom b", "__REALTIME_TIMESTAMP": "9" * 400}]]),
    ]

    async def scenario(app: ServeApp) -> None:
        client = await RawForwardClient.connect(app.forward.port)
        for chunk, entries in chunks:
            assert await client.send_acked("kern", entries, chunk) == {"ack": chunk}
        await client.close()

    app = run_app({"http": {"port": None}, "sources": {"forward": {"port": 0}}}, scenario)
    assert app.metrics.get("errors", {"source": "forward", "kind": "bad_time"}) == 3 + 1
    assert app.metrics.get("records_in", {"source": "forward"}) == 4
    assert app.metrics.get("errors", {"source": "forward", "kind": "handler"}) == 0


def test_inf_time_with_time_key_is_acked_and_serve_stays_alive():
    config = {
        "http": {"port": 0},
        "records": {"time_key": "time"},
        "sources": {"forward": {"port": 0}},
    }
    seen = {}

    async def scenario(app: ServeApp) -> None:
        client = await RawForwardClient.connect(app.forward.port)
        entries = [[1790000000, {"host": "edge-1", "log": "oom x", "time": "inf"}]]  # read
        assert await client.send_acked("kern", entries, "inf") == {"ack": "inf"}
        await client.close()
        seen["health"] = await asyncio.to_thread(http_get, app.http.port, "/health")

    app = run_app(config, scenario)
    assert seen["health"][0] == 200
    assert app.metrics.get("errors", {"source": "forward", "kind": "bad_time"}) == 1


def test_serve_toml_limits_table_reaches_the_listeners(tmp_path: Path):
    config = from_dict(
        {
            "limits": {"idle_timeout": 7, "max_entries_per_request": 10},
            "sources": {"forward": {"port": 0}},
        }
    )

    async def scenario(app: ServeApp) -> None:
        assert app.forward.limits.idle_timeout == 7.0
        client = await RawForwardClient.connect(app.forward.port)
        await client.send(["kern", [[1790000000, {"log": "x"}]] * 11, {"chunk": "many"}])
        with pytest.raises(ConnectionError):
            await client.read_object()
        await client.close()

    async def main() -> ServeApp:
        app = ServeApp(config, sinks=[])
        await app.start()
        try:
            await scenario(app)
        finally:
            await app.stop()
        return app

    app = asyncio.run(main())
    assert app.metrics.get("errors", {"source": "forward", "kind": "too_many_entries"}) == 1


def test_serve_toml_limits_errors_are_config_errors():
    from oom_enricher.serve.config import ConfigError

    with pytest.raises(ConfigError, match="unknown limits setting"):
        from_dict({"limits": {"max_conections": 1}, "sources": {"forward": {}}})
    with pytest.raises(ConfigError, match="positive"):
        from_dict({"limits": {"idle_timeout": -1}, "sources": {"forward": {}}})
