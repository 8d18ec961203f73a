"""Syslog receivers (RFC 3164 / RFC 5424) over UDP and TCP, for rsyslog / syslog-ng forwarding.

Every message becomes a ShippedRecord handed to the handler coroutine in arrival order
(per TCP connection; UDP datagrams through one queue). TCP connections share the process's
connection gate and buffer budget with the forward server; a frame (an octet-counted
message or a line) must end within the request deadline, not only within a size.
Message bytes that are not UTF-8 are kept as lone surrogates (`surrogateescape`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from oom_enricher.counters import Counters, ErrorLog, Tally
from oom_enricher.model import ShippedRecord
from oom_enricher.sources.limits import (
    BufferBudget,
    ConnectionGate,
    Slot,
    SourceLimits,
    descriptor_cap,
)
from oom_enricher.sources.listener import GatedListener
from oom_enricher.sources.syslog_framing import (
    FramingError,
    StreamSplitter,
    parse_message,
    to_record,
)

log = logging.getLogger(__name__)

SOURCE = "syslog"

RecordHandler = Callable[[list[ShippedRecord]], Awaitable[None]]


@dataclass
class SyslogConfig:
    host: str = "127.0.0.1"
    udp_port: int | None = 5140
    tcp_port: int | None = 5140
    timezone: tzinfo = UTC  # zone of RFC 3164 stamps, which carry none
    host_fallback: str = "peer"
    limits: SourceLimits = field(default_factory=SourceLimits)


UDP_QUEUE = 10_000  # datagrams waiting for the handler; their bytes count in the budget


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape").rstrip("\r\n\x00")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.receiver.queue_datagram(data, str(addr[0]))


class SyslogReceiver:
    def __init__(
        self,
        config: SyslogConfig,
        handler: RecordHandler,
        metrics: Counters | None = None,
        gate: ConnectionGate | None = None,
        budget: BufferBudget | None = None,
    ) -> None:
        self.config = config
        self.limits = config.limits
        self.handler = handler
        self.metrics: Counters = metrics or Tally()
        self.errors = ErrorLog(self.metrics, SOURCE, log, self.limits.log_interval)
        self.gate = gate or ConnectionGate(
            descriptor_cap(self.limits.max_connections), self.limits.max_connections_per_peer
        )
        self.budget = budget or BufferBudget(self.limits.max_buffered_bytes)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: GatedListener | None = None
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=UDP_QUEUE)
        self._consumer: asyncio.Task | None = None
        self._connections: set[asyncio.Task] = set()
        self.udp_port: int | None = None
        self.tcp_port: int | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.udp_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self),
                local_addr=(self.config.host, self.config.udp_port),
            )
            self._udp = transport
            self.udp_port = transport.get_extra_info("sockname")[1]
            self._consumer = asyncio.create_task(self._consume_udp())
        if self.config.tcp_port is not None:
            self._tcp = GatedListener(
                self.config.host, self.config.tcp_port, self.gate, self.errors, self._on_tcp
            )
            self.tcp_port = await self._tcp.start()
        log.info(
            "syslog listening on %s udp=%s tcp=%s", self.config.host, self.udp_port, self.tcp_port
        )

    async def stop(self) -> None:
        if self._tcp is not None:
            await self._tcp.close()
        if self._udp is not None:
            self._udp.close()
            await self._queue.join()  # datagrams already received still reach the handler
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=5)

    def queue_datagram(self, data: bytes, peer: str) -> None:
        if self._queue.full() or not self.budget.resize(0, len(data)):
            self.errors.error("udp_overload", "syslog: dropping datagrams: the queue is full")
            return
        self._queue.put_nowait((data, peer))

    def _records(self, messages: list[bytes], peer: str) -> list[ShippedRecord]:
        out = []
        for raw in messages:
            parsed = parse_message(_decode(raw), zone=self.config.timezone)
            out.append(to_record(parsed, peer=peer, host_fallback=self.config.host_fallback))
        if out:
            self.metrics.inc("records_in", {"source": SOURCE}, len(out), help="Records received")
        return out

    async def _consume_udp(self) -> None:
        while True:
            data, peer = await self._queue.get()
            try:
                await self.handler(self._records([data], peer))
            except Exception as exc:
                self.errors.error(
                    "handler", "syslog: handler failed for a datagram from %s", peer, exc=exc
                )
            finally:
                self.budget.resize(len(data), 0)
                self._queue.task_done()

    async def _on_tcp(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = slot.peer
        slot.close = task.cancel  # an eviction ends the handler, which then cleans up
        self._connections.add(task)
        splitter = StreamSplitter(self.limits.max_line_bytes)
        share = _Share()
        try:
            await self._read_tcp(reader, splitter, slot, peer, share)
        except FramingError as exc:
            self.errors.error("framing", "syslog: closing connection from %s: %s", peer, exc)
        except _Refused as exc:
            self.errors.error(exc.kind, "syslog: closing connection from %s: %s", peer, exc)
        except (TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        except Exception as exc:  # the handler's or a defect: counted, never lost with the task
            self.errors.error("handler", "syslog: connection from %s failed", peer, exc=exc)
        finally:
            self.gate.release(slot)
            self.budget.resize(share.held, 0)
            self._connections.discard(task)
            writer.close()

    async def _read_tcp(
        self,
        reader: asyncio.StreamReader,
        splitter: StreamSplitter,
        slot: Slot,
        peer: str,
        share: _Share,
    ) -> None:
        limits = self.limits
        frame_start, frame_consumed = time.monotonic(), splitter.consumed
        while True:
            timeout = limits.idle_timeout
            if splitter.consumed != frame_consumed:
                frame_start, frame_consumed = time.monotonic(), splitter.consumed
            if splitter.held:
                timeout = min(timeout, frame_start + limits.request_deadline - time.monotonic())
            try:
                data = await asyncio.wait_for(reader.read(65536), max(timeout, 0))
            except TimeoutError:
                if splitter.held:
                    raise _Refused(
                        "frame_deadline", f"frame not complete within {limits.request_deadline:g} s"
                    ) from None
                return
            self.gate.touch(slot)
            if not data:
                tail = splitter.pending()
                if tail.strip():  # last line without its LF
                    await self.handler(self._records([tail], peer))
                return
            messages = splitter.feed(data)
            if not self.budget.resize(share.held, splitter.held):
                raise _Refused("buffer_budget", "the bytes buffered across connections are full")
            share.held = splitter.held
            if messages:
                await self.handler(self._records(messages, peer))


@dataclass
class _Share:
    held: int = 0  # this connection's bytes counted in the buffer budget


class _Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
