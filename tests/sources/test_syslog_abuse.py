"""The syslog TCP receiver under hostile senders: framing bounded in time and in memory."""

import asyncio
import contextlib

import pytest

from oom_enricher.model import ShippedRecord
from oom_enricher.sources.limits import SourceLimits
from oom_enricher.sources.syslog_receiver import SyslogConfig, SyslogReceiver

pytestmark = pytest.mark.integration

KiB = 1024
MiB = 1024 * KiB
LINE = b"<4>Oct 12 19:00:20 edge-1 kernel: [ 1.000000] sh invoked oom-killer: gfp_mask=0x0\n"


class Collector:
    def __init__(self) -> None:
        self.records: list[ShippedRecord] = []

    async def __call__(self, records: list[ShippedRecord]) -> None:
        self.records.extend(records)


def run(scenario, limits: SourceLimits) -> tuple[SyslogReceiver, Collector]:
    async def main() -> tuple[SyslogReceiver, Collector]:
        collector = Collector()
        receiver = SyslogReceiver(SyslogConfig(udp_port=None, tcp_port=0, limits=limits), collector)
        await receiver.start()
        try:
            await scenario(receiver, collector)
        finally:
            await receiver.stop()
        return receiver, collector

    return asyncio.run(main())


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 60) == b""
    except ConnectionError:
        return True


async def line_arrives(receiver: SyslogReceiver, collector: Collector) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", receiver.tcp_port)
    before = len(collector.records)
    writer.write(LINE)
    await writer.drain()
    for _ in range(500):
        if len(collector.records) > before:
            break
        await asyncio.sleep(0.02)
    writer.close()
    assert collector.records[-1].message == "[ 1.000000] sh invoked oom-killer: gfp_mask=0x0"


def errors(receiver: SyslogReceiver, kind: str) -> float:
    return receiver.metrics.get("errors", {"source": "syslog", "kind": kind})


def test_octet_count_that_lies_is_bounded_in_time_not_only_in_size():
    """`1000 <4>...` followed by a byte now and then: never idle, never complete."""

    async def scenario(receiver, collector):
        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.tcp_port)
        writer.write(b"1000 <4>Oct 12 19:00:20 edge-1 kernel: x")
        sent = 0
        while not reader.at_eof() and sent < 1000:
            try:
                writer.write(b"x")
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
            await asyncio.sleep(0.05)
        assert await closed_by_server(reader)
        assert sent < 1000  # closed while the frame was still being trickled
        writer.close()
        await line_arrives(receiver, collector)

    receiver, _ = run(scenario, SourceLimits(request_deadline=0.5, idle_timeout=600))
    assert errors(receiver, "frame_deadline") == 1


def test_many_connections_without_newline_share_one_buffer_budget():
    """500 connections each sending 250 KiB without a newline: at most the budget is held."""
    budget = 16 * MiB
    limits = SourceLimits(
        max_line_bytes=256 * KiB, max_buffered_bytes=budget, max_connections_per_peer=1000
    )
    chunk = b"<4>Oct 12 19:00:20 edge-1 kernel: " + b"y" * (250 * KiB)

    async def scenario(receiver, collector):
        async def hog() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.1", receiver.tcp_port)
            with contextlib.suppress(ConnectionError):
                writer.write(chunk)
                await writer.drain()
            return reader, writer

        hogs = await asyncio.gather(*(hog() for _ in range(500)))

        def settled() -> bool:  # every connection holds all it sent, or was refused
            alive = len(receiver.gate)
            refused = errors(receiver, "buffer_budget")
            return alive + refused == 500 and receiver.budget.used == alive * len(chunk)

        for _ in range(1500):
            if settled():
                break
            await asyncio.sleep(0.02)
        assert settled()
        # Without the budget 500 x 250 KiB = 122 MiB would be held; at most 16 MiB is.
        assert receiver.budget.peak <= budget
        assert 0 < len(receiver.gate) <= budget // len(chunk)
        for _, writer in hogs:
            writer.close()
        for _ in range(500):
            if receiver.budget.used == 0:
                break
            await asyncio.sleep(0.02)
        assert receiver.budget.used == 0
        await line_arrives(receiver, collector)

    run(scenario, limits)


def test_line_longer_than_the_limit_closes_only_that_connection():
    async def scenario(receiver, collector):
        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.tcp_port)
        with contextlib.suppress(ConnectionError):
            writer.write(b"<4>" + b"z" * (80 * KiB))
            await writer.drain()
        assert await closed_by_server(reader)
        writer.close()
        await line_arrives(receiver, collector)

    receiver, _ = run(scenario, SourceLimits(max_line_bytes=64 * KiB))
    assert errors(receiver, "framing") == 1
