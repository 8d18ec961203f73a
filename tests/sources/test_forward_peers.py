"""Forward server against real clients on loopback: npm and PyPI fluent-logger, raw sockets."""

import asyncio
import logging
import ssl
from pathlib import Path

import msgpack
import pytest
from fluent import sender as fluent_sender

from oom_enricher.sources.forward_handshake import HandshakeConfig
from oom_enricher.sources.forward_server import ForwardBatch, ForwardServer, ForwardServerConfig
from tests.peers.forward_client import RawForwardClient
from tests.peers.node import node_send

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
KEY = "s3cret-shared"


def interleaved_events(hosts: int = 4) -> list[dict]:
    """Corpus lines of several files, each file posing as its own host, round-robin merged."""
    files = sorted(CORPUS.glob("*.log"))[:hosts]
    streams = [
        [
            {
                "tag": "kern.oom",
                "time": [1700000000 + n, 1000 * n],
                "record": {"host": f"node-{i}", "log": line},
            }
            for n, line in enumerate(f.read_text(errors="replace").splitlines())
        ]
        for i, f in enumerate(files)
    ]
    merged = []
    while any(streams):
        for s in streams:
            if s:
                merged.append(s.pop(0))
    return merged


class Collector:
    def __init__(self) -> None:
        self.batches: list[ForwardBatch] = []

    async def __call__(self, batch: ForwardBatch) -> None:
        self.batches.append(batch)

    def records(self) -> list[dict]:
        return [record for b in self.batches for _, record in b.entries]


def by_host(records: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in records:
        out.setdefault(r["host"], []).append(r["log"])
    return out


async def with_server(config: ForwardServerConfig, scenario):
    collector = Collector()
    server = ForwardServer(config, collector)
    await server.start()
    try:
        await scenario(server, collector)
    finally:
        await server.stop()
    return server, collector


@pytest.mark.parametrize("mode", ["PackedForward", "CompressedPackedForward"])
def test_node_packed_modes_with_ack_shared_key_and_tls(mode, node_peer, tls_files, tmp_path):
    events = interleaved_events()
    config = ForwardServerConfig(
        port=0,
        handshake=HandshakeConfig(shared_key=KEY, self_hostname="enricher-under-test"),
        tls_cert=str(tls_files.server_cert),
        tls_key=str(tls_files.server_key),
        ack_delay=0.02,  # see ForwardServerConfig.ack_delay: npm client race over TLS
    )

    async def scenario(server, collector):
        spec = {
            "host": "127.0.0.1",
            "port": server.port,
            "eventMode": mode,
            "requireAckResponse": True,
            "security": {"clientHostname": "node-sender", "sharedKey": KEY},
            "tls": True,
            "caFile": str(tls_files.ca_cert),
            "events": events,
        }
        code, err = await node_send(spec, tmp_path)
        assert code == 0, err

    server, collector = asyncio.run(with_server(config, scenario))
    expected = by_host([e["record"] for e in events])
    assert by_host(collector.records()) == expected
    wire_mode = {
        "PackedForward": "packed_forward",
        "CompressedPackedForward": "compressed_packed_forward",
    }
    assert {b.mode for b in collector.batches} == {wire_mode[mode]}
    assert all(b.client_hostname == "node-sender" for b in collector.batches)
    assert all(b.chunk for b in collector.batches)
    assert server.metrics.get("records_in", {"source": "forward"}) == len(events)
    assert server.metrics.total("errors") == 0
    first = collector.batches[0].entries[0][0]
    assert first == 1700000000.0


def test_node_message_mode_with_user_password(node_peer, tmp_path):
    events = interleaved_events(2)[:50]
    config = ForwardServerConfig(
        port=0,
        handshake=HandshakeConfig(shared_key=KEY, self_hostname="enricher", users={"ops": "pw"}),
    )

    async def scenario(server, collector):
        security = {"clientHostname": "n1", "sharedKey": KEY, "username": "ops", "password": "pw"}
        spec = {"host": "127.0.0.1", "port": server.port, "requireAckResponse": True,
                "security": security, "events": events}  # fmt: skip
        code, err = await node_send(spec, tmp_path)
        assert code == 0, err
        bad = dict(spec, security=dict(security, password="wrong"), events=events[:1])
        code, err = await node_send(bad, tmp_path)
        assert code != 0
        assert "username/password mismatch" in err

    server, collector = asyncio.run(with_server(config, scenario))
    assert collector.records() == [e["record"] for e in events]
    assert server.metrics.get("errors", {"source": "forward", "kind": "auth"}) == 1


def test_pypi_fluent_logger_message_mode(tmp_path):
    events = interleaved_events(3)

    async def scenario(server, collector):
        def send() -> None:
            s = fluent_sender.FluentSender("kern", host="127.0.0.1", port=server.port)
            for e in events:
                assert s.emit_with_time("oom", e["time"][0], e["record"]), s.last_error
            s.close()

        await asyncio.to_thread(send)
        for _ in range(200):
            if len(collector.records()) == len(events):
                break
            await asyncio.sleep(0.02)

    _, collector = asyncio.run(with_server(ForwardServerConfig(port=0), scenario))
    assert collector.records() == [e["record"] for e in events]
    assert {b.tag for b in collector.batches} == {"kern.oom"}
    assert {b.mode for b in collector.batches} == {"message"}


def good_entries(n: int) -> list:
    return [[1700000000 + i, {"host": "good", "log": f"line {i}"}] for i in range(n)]


@pytest.mark.parametrize(
    "kind",
    ["garbage", "truncated", "oversized", "wrong_key", "tls_without_ca", "gzip_garbage"],
)
def test_bad_client_is_refused_while_good_client_continues(kind, tls_files, caplog):
    caplog.set_level(logging.WARNING, logger="oom_enricher.sources.forward_server")
    config = ForwardServerConfig(
        port=0,
        handshake=HandshakeConfig(shared_key=KEY, self_hostname="enricher"),
        tls_cert=str(tls_files.server_cert),
        tls_key=str(tls_files.server_key),
    )
    trusted = ssl.create_default_context(cafile=str(tls_files.ca_cert))
    untrusted = ssl.create_default_context(cafile=str(tls_files.other_ca_cert))
    expected_kind = {
        "garbage": "malformed",
        "truncated": "truncated",
        "oversized": "oversized",
        "wrong_key": "auth",
        "tls_without_ca": "tls_handshake",
        "gzip_garbage": "bad_compression",
    }[kind]

    async def misbehave(port: int) -> None:
        if kind == "tls_without_ca":
            with pytest.raises(ssl.SSLCertVerificationError):
                await RawForwardClient.connect(port, ssl_context=untrusted)
            return
        if kind == "wrong_key":
            with pytest.raises(PermissionError, match="shared_key mismatch"):
                await RawForwardClient.connect(port, shared_key="wrong", ssl_context=trusted)
            return
        bad = await RawForwardClient.connect(port, shared_key=KEY, ssl_context=trusted)
        if kind == "garbage":
            await bad.send(bytes(range(0xC1, 0xC2)) + b"\xc1garbage\x00\xff" * 10)
        elif kind == "truncated":
            whole = msgpack.packb(["t", [[1700000000, {"log": "x" * 100}]], {"chunk": "zz"}])
            await bad.send(whole[: len(whole) // 2])
        elif kind == "oversized":
            header = b"\x93\xa1t\xc6" + (100 * 1024 * 1024).to_bytes(4, "big")
            blob = b"\x00" * (1024 * 1024)
            try:
                await bad.send(header)
                for _ in range(100):
                    await bad.send(blob)
            except (ConnectionError, ssl.SSLError):
                pass  # the server hung up mid-frame, as it should
        elif kind == "gzip_garbage":
            await bad.send(["t", b"not gzip at all", {"compressed": "gzip", "chunk": "c1"}])
        if kind == "truncated":
            await bad.close()
            return
        with pytest.raises((ConnectionError, TimeoutError, ssl.SSLError)):
            await bad.read_object(timeout=10)
        await bad.close()

    async def scenario(server, collector):
        good = await RawForwardClient.connect(server.port, shared_key=KEY, ssl_context=trusted)
        assert await good.send_acked("kern", good_entries(3), "c-1") == {"ack": "c-1"}
        await misbehave(server.port)
        for _ in range(200):
            if server.metrics.get("errors", {"source": "forward", "kind": expected_kind}):
                break
            await asyncio.sleep(0.02)
        assert await good.send_acked("kern", good_entries(2), "c-2") == {"ack": "c-2"}
        await good.close()

    server, collector = asyncio.run(with_server(config, scenario))
    assert server.metrics.get("errors", {"source": "forward", "kind": expected_kind}) == 1
    assert [r["log"] for r in collector.records()] == [
        "line 0",
        "line 1",
        "line 2",
        "line 0",
        "line 1",
    ]
    refusals = [r.getMessage() for r in caplog.records if "closing connection" in r.getMessage()]
    assert len(refusals) == 1 and expected_kind in refusals[0], refusals


def test_ack_is_sent_only_after_the_handler_returned():
    release = asyncio.Event()
    order: list[str] = []

    async def slow_handler(batch: ForwardBatch) -> None:
        order.append("handler-start")
        await release.wait()
        order.append("handler-done")

    async def main() -> None:
        server = ForwardServer(ForwardServerConfig(port=0), slow_handler)
        await server.start()
        client = await RawForwardClient.connect(server.port)
        ack = asyncio.create_task(client.send_acked("kern", good_entries(1), "chunk-x"))
        await asyncio.sleep(0.2)
        assert not ack.done() and order == ["handler-start"]
        release.set()
        assert await ack == {"ack": "chunk-x"}
        order.append("acked")
        await client.close()
        await server.stop()

    asyncio.run(main())
    assert order == ["handler-start", "handler-done", "acked"]


def test_failing_handler_gets_no_ack_and_the_connection_is_closed():
    async def failing(batch: ForwardBatch) -> None:
        raise RuntimeError("sink down")

    async def main() -> ForwardServer:
        server = ForwardServer(ForwardServerConfig(port=0), failing)
        await server.start()
        client = await RawForwardClient.connect(server.port)
        with pytest.raises(ConnectionResetError):
            await client.send_acked("kern", good_entries(1), "c")
        await client.close()
        await server.stop()
        return server

    server = asyncio.run(main())
    assert server.metrics.get("errors", {"source": "forward", "kind": "handler"}) == 1


def test_many_concurrent_connections_each_get_their_acks():
    async def main() -> tuple[ForwardServer, Collector]:
        collector = Collector()
        server = ForwardServer(ForwardServerConfig(port=0), collector)
        await server.start()

        async def client(n: int) -> None:
            c = await RawForwardClient.connect(server.port)
            for k in range(20):
                entries = [[1700000000, {"host": f"h{n}", "log": f"{k}-{i}"}] for i in range(5)]
                assert await c.send_acked("kern", entries, f"{n}-{k}") == {"ack": f"{n}-{k}"}
            await c.close()

        await asyncio.gather(*(client(n) for n in range(60)))
        await server.stop()
        return server, collector

    server, collector = asyncio.run(main())
    per_host: dict[str, list[str]] = {}
    for r in collector.records():
        per_host.setdefault(r["host"], []).append(r["log"])
    assert len(per_host) == 60
    assert all(v == [f"{k}-{i}" for k in range(20) for i in range(5)] for v in per_host.values())
    assert server.metrics.get("connections", {"source": "forward"}) == 60


def test_udp_heartbeat_is_answered_on_the_forward_port():
    async def handler(batch: ForwardBatch) -> None:
        pass

    async def main() -> bytes:
        server = ForwardServer(ForwardServerConfig(port=0), handler)
        await server.start()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future = loop.create_future()

        class Probe(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                answer.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(
            Probe, remote_addr=("127.0.0.1", server.port)
        )
        transport.sendto(b"\x00")
        data = await asyncio.wait_for(answer, 5)
        transport.close()
        await server.stop()
        return data

    assert asyncio.run(main()) == b"\x00"


def test_json_requests_are_answered_in_json():
    async def main() -> tuple[list, bytes, Collector]:
        collector = Collector()
        server = ForwardServer(ForwardServerConfig(port=0), collector)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        first = b'["kern", 1700000000, {"log": "a"}, {"chunk": "j1"}]'
        second = b'["kern", [[1700000001, {"log": "b"}], [1700000002.5, {"log": "c"}]]]'
        writer.write(first[:20])
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(first[20:] + b"\n" + second)
        await writer.drain()
        ack = await asyncio.wait_for(reader.readexactly(len(b'{"ack": "j1"}')), 5)
        writer.write(b'{"not": "a request"')  # incomplete, then the connection ends
        writer.close()
        await writer.wait_closed()
        for _ in range(100):
            if server.metrics.total("errors"):
                break
            await asyncio.sleep(0.02)
        await server.stop()
        return [e for b in collector.batches for e in b.entries], ack, server

    entries, ack, server = asyncio.run(main())
    assert ack == b'{"ack": "j1"}'
    assert entries == [(1700000000.0, {"log": "a"}), (1700000001.0, {"log": "b"}),
                       (1700000002.5, {"log": "c"})]  # fmt: skip
    assert server.metrics.get("errors", {"source": "forward", "kind": "malformed"}) == 1


def test_json_character_split_between_two_reads_is_kept_whole():
    """A character's UTF-8 bytes may arrive in two reads: it is decoded once both are there
    (on the starting main each half became a U+FFFD)."""
    request = '["kern", 1700000000, {"log": "café ünïcode"}, {"chunk": "u"}]'.encode()
    cut = request.index("é".encode()) + 1

    async def main() -> Collector:
        collector = Collector()
        server = ForwardServer(ForwardServerConfig(port=0), collector)
        await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(request[:cut])
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(request[cut:])
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(len(b'{"ack": "u"}')), 5)
        writer.close()
        await server.stop()
        return collector

    collector = asyncio.run(main())
    assert [e for b in collector.batches for e in b.entries] == [
        (1700000000.0, {"log": "café ünïcode"})
    ]
