"""The fluent sink delivers documents to a forward receiver (our own server as aggregator)."""

import asyncio
import io
import json
import os
import socket

import orjson
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


def test_torn_json_line(tmp_path, monkeypatch):
    """A writer killed mid-document left a fragment; the next run's first document must not
    be glued to it, and each document goes out in one write of the complete line."""
    out = tmp_path / "docs.jsonl"
    big = {"event": {"id": "x"}, "original": "y" * 100_000}
    out.write_bytes(orjson.dumps(big)[:2048])  # what the killed predecessor left
    writes: list[int] = []
    real_write = os.write

    def counting_write(fd, data):
        writes.append(len(data))
        return real_write(fd, data)

    with open(out, "ab") as stream:
        sink = JsonLinesSink(stream)
        monkeypatch.setattr(os, "write", counting_write)
        sink.send(big)
        sink.send(DOCS[0])
        monkeypatch.undo()
        sink.close()
    lines = out.read_bytes().split(b"\n")
    assert len(lines[0]) == 2048 and lines[3] == b""
    assert [orjson.loads(line) for line in lines[1:3]] == [big, DOCS[0]]
    assert writes == [len(orjson.dumps(big)) + 1, len(orjson.dumps(DOCS[0])) + 1]
    assert sink.stats.torn_lines_closed == 1
