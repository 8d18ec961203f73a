"""`serve` in process: real forward clients deliver a fleet's interleaved kernel lines."""

import asyncio
import urllib.request

import pytest
from fluent import sender as fluent_sender

from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import from_dict
from tests.peers.node import node_send
from tests.serve.fleet import (
    ListSink,
    comparable,
    expected_documents,
    fleet_events,
    projection,
)

pytestmark = pytest.mark.integration

KEY = "fleet-key"


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


async def run_app(config: dict, scenario) -> tuple[ServeApp, list[dict]]:
    sink = ListSink()
    app = ServeApp(from_dict(config), sinks=[sink])
    await app.start()
    try:
        await scenario(app)
    finally:
        await app.stop()
    # End of input for what is still in progress, as the file reader does at EOF.
    return app, sink.docs + app.processor.pipeline.finish()


@pytest.mark.parametrize("mode", ["PackedForward", "CompressedPackedForward"])
def test_node_fleet_over_tls_with_shared_key_and_ack(mode, node_peer, tls_files, tmp_path):
    events = fleet_events()
    config = {
        "http": {"port": 0},
        "sources": {
            "forward": {
                "port": 0,
                "shared_key": KEY,
                "self_hostname": "enricher-test",
                "tls_cert": str(tls_files.server_cert),
                "tls_key": str(tls_files.server_key),
                "ack_delay": 0.02,
            }
        },
    }
    seen: dict = {}

    async def scenario(app: ServeApp) -> None:
        spec = {
            "host": "127.0.0.1",
            "port": app.forward.port,
            "eventMode": mode,
            "requireAckResponse": True,
            "security": {"clientHostname": "fluent-node", "sharedKey": KEY},
            "tls": True,
            "caFile": str(tls_files.ca_cert),
            "events": events,
        }
        code, err = await node_send(spec, tmp_path)
        assert code == 0, err
        seen["metrics"] = await asyncio.to_thread(http_get, app.http.port, "/metrics")
        seen["health"] = await asyncio.to_thread(http_get, app.http.port, "/health")

    app, docs = asyncio.run(run_app(config, scenario))
    got, want = comparable(projection(docs), projection(expected_documents()))
    assert got == want
    status, text = seen["metrics"]
    assert status == 200
    assert f'oom_enricher_records_in_total{{source="forward"}} {len(events)}\n' in text
    assert 'oom_enricher_oom_kills_total{container="none",host=' in text
    assert "oom_enricher_ack_latency_seconds_count" in text
    assert seen["health"][0] == 200 and '"status":"ok"' in seen["health"][1]


def test_pypi_fluent_logger_message_mode_fleet():
    events = fleet_events()
    config = {"http": {"port": None}, "sources": {"forward": {"port": 0}}}

    async def scenario(app: ServeApp) -> None:
        def send() -> None:
            s = fluent_sender.FluentSender("kern", host="127.0.0.1", port=app.forward.port)
            for e in events:
                t = fluent_sender.EventTime(e["time"][0] + e["time"][1] / 1e9)
                assert s.emit_with_time("oom", t, e["record"]), s.last_error
            s.close()

        await asyncio.to_thread(send)
        for _ in range(600):  # the sender returns before the server has read everything
            if app.metrics.get("records_in", {"source": "forward"}) >= len(events):
                break
            await asyncio.sleep(0.05)

    app, docs = asyncio.run(run_app(config, scenario))
    got, want = comparable(projection(docs), projection(expected_documents()))
    assert got == want


def test_syslog_and_kmsg_sources_feed_the_same_pipeline(tmp_path):
    """logger over TCP (octet counting) and a kmsg-format file, each its own host."""
    from tests.sources.corpus_stream import kernel_lines, offline_documents

    syslog_lines = kernel_lines("037")
    kmsg_path = tmp_path / "kmsg"
    kmsg_path.write_text("".join(f"4,{n},{n * 1000},-;{msg}\n" for n, (_, _, msg) in
                                 enumerate(kernel_lines("013"), start=1)))  # fmt: skip
    config = {
        "http": {"port": None},
        "sources": {
            "syslog": {"udp_port": None, "tcp_port": 0},
            "kmsg": {"path": str(kmsg_path), "host": "kmsg-node"},
        },
    }

    async def scenario(app: ServeApp) -> None:
        proc = await asyncio.create_subprocess_exec(
            "logger", "--tcp", "--rfc5424", "--octet-count", "-n", "127.0.0.1",
            "-P", str(app.syslog.tcp_port), "-t", "kernel", stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await proc.communicate("".join(m + "\n" for _, _, m in syslog_lines).encode())
        want = len(syslog_lines) + len(kernel_lines("013"))
        for _ in range(600):
            if (
                sum(app.metrics.get("records_in", {"source": s}) for s in ("syslog", "kmsg"))
                >= want
            ):
                break
            await asyncio.sleep(0.05)

    app, docs = asyncio.run(run_app(config, scenario))
    want = offline_documents([line for line, _, _ in kernel_lines("037")]) + offline_documents(
        [line for line, _, _ in kernel_lines("013")]
    )
    assert projection(docs) == projection(want)
    assert {d["host"]["name"] for d in docs} >= {"kmsg-node"}
