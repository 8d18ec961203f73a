"""serve skips forward records that cannot matter, on the raw request bytes, and keeps no
state for idle hosts; the documents stay those of each host's stream read alone."""

from __future__ import annotations

import asyncio
import socket

import msgpack

from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import ServeConfig
from tests.serve.fleet import comparable, expected_documents, fleet_events, projection

BASE = 1_790_000_000


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.docs: list[dict] = []

    def send(self, doc: dict) -> None:
        self.docs.append(doc)

    def flush(self, timeout=None) -> bool:
        return True

    def close(self) -> None:
        pass


def packed(tag: str, entries: list, chunk: str) -> bytes:
    payload = b"".join(msgpack.packb(e) for e in entries)
    return msgpack.packb([tag, payload, {"chunk": chunk, "size": len(entries)}])


def send_and_wait_acks(port: int, requests: list[bytes]) -> list:
    acks = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        unpacker = msgpack.Unpacker(raw=False)
        for raw in requests:
            sock.sendall(raw)
            while True:
                unpacker.feed(sock.recv(65536))
                replies = list(unpacker)
                if replies:
                    acks.extend(replies)
                    break
    return acks


async def run_app(requests: list[bytes], config: ServeConfig | None = None):
    """Send the requests to a real forward server of a ServeApp; the app, its sink, acks."""
    config = config or ServeConfig(sources={"forward": {"port": 0}}, http_port=None)
    sink = ListSink()
    app = ServeApp(config, sinks=[sink])
    await app.start()
    assert app.forward is not None
    acks = await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests)
    return app, sink, acks


def noise_entries(hosts: int, per_host: int) -> list:
    entries = []
    for n in range(per_host):
        for h in range(hosts):
            record = {"host": f"idle-{h:05d}", "log": f"eth0: link up, 1000 Mbps ({n})"}
            entries.append([BASE + n, record])
    return entries


def test_request_without_marker_or_open_host_is_acked_with_no_record_shaped():
    requests = [packed("kern", noise_entries(5, 1), "c1")]

    async def main():
        app, _, acks = await run_app(requests)
        await app.stop()
        return app, acks

    app, acks = asyncio.run(main())
    assert acks == [{"ack": "c1"}]
    assert app.metrics.get("records_shaped", {"source": "forward"}) == 0
    assert app.metrics.get("records_unread", {"source": "forward"}) == 5
    assert app.metrics.get("requests_unread", {"source": "forward"}) == 1


def test_interleaved_fleet_through_the_prefilter_gives_the_documents_of_each_file_alone():
    entries = [[e["time"][0], e["record"]] for e in fleet_events()]
    requests = [
        packed("kern.oom", entries[i : i + 25], f"c{i}") for i in range(0, len(entries), 25)
    ]

    async def main():
        app, sink, acks = await run_app(requests)
        sink.docs.extend(app.processor.pipeline.finish())
        await app.stop()
        return app, sink, acks

    app, sink, acks = asyncio.run(main())
    assert len(acks) == len(requests)
    got, want = comparable(projection(sink.docs), projection(expected_documents()))
    assert got == want
    assert app.metrics.get("records_unread", {"source": "forward"}) > 0
