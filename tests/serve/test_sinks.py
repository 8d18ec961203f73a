"""The fluent sink delivers documents to a forward receiver (our own server as aggregator)."""

import asyncio
import io
import json
import socket

import pytest

from oom_enricher.sinks.fluent_forward import FluentForwardSink
from oom_enricher.sinks.stdout_jsonl import JsonLinesSink
from oom_enricher.sources.forward_server import ForwardBatch, ForwardServer, ForwardServerConfig

pytestmark = pytest.mark.integration

DOCS = [
    {"host": {"name": f"n{i}"}, "oom": {"victims": [{"pid": i, "name": "java"}]}} for i in range(3)
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fluent_sink_keeps_documents_while_the_aggregator_is_down_then_delivers():
    port = free_port()
    got: list[ForwardBatch] = []

    async def handler(batch: ForwardBatch) -> None:
        got.append(batch)

    async def main() -> FluentForwardSink:
        sink = FluentForwardSink(port=port, tag="oom.docs", timeout=1.0)
        await asyncio.to_thread(sink.send, DOCS[0])  # nobody listens yet
        assert not await asyncio.to_thread(sink.flush)
        assert sink.spool_pending > 0
        server = ForwardServer(ForwardServerConfig(port=port), handler)
        await server.start()
        assert await asyncio.to_thread(sink.flush)
        for doc in DOCS[1:]:
            await asyncio.to_thread(sink.send, doc)
        assert await asyncio.to_thread(sink.flush)
        await asyncio.to_thread(sink.close)
        for _ in range(200):
            if sum(len(b.entries) for b in got) >= len(DOCS):
                break
            await asyncio.sleep(0.02)
        await server.stop()
        return sink

    sink = asyncio.run(main())
    assert [record for b in got for _, record in b.entries] == DOCS
    assert {b.tag for b in got} == {"oom.docs"}
    assert sink.stats.received == 3


def test_json_lines_sink_writes_one_document_per_line():
    out = io.BytesIO()
    sink = JsonLinesSink(out)
    for doc in DOCS:
        sink.send(doc)
    assert sink.flush()
    assert [json.loads(x) for x in out.getvalue().splitlines()] == DOCS
