"""Syslog receivers (RFC 3164 / RFC 5424) over UDP and TCP, for rsyslog / syslog-ng forwarding.

Every message becomes a ShippedRecord handed to the handler coroutine in arrival order
(per TCP connection; UDP datagrams through one queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo

from oom_enricher.model import ShippedRecord
from oom_enricher.serve.metrics import Metrics
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
    max_message: int = 256 * 1024
    timezone: tzinfo = UTC  # zone of RFC 3164 stamps, which carry none
    host_fallback: str = "peer"
    idle_timeout: float = 3600.0


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\r\n\x00")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue) -> None:
        self.queue = queue

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.queue.put_nowait((data, str(addr[0])))


class SyslogReceiver:
    def __init__(
        self, config: SyslogConfig, handler: RecordHandler, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.handler = handler
        self.metrics = metrics or Metrics()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=100_000)
        self._consumer: asyncio.Task | None = None
        self._connections: set[asyncio.Task] = set()
        self.udp_port: int | None = None
        self.tcp_port: int | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.udp_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self._queue),
                local_addr=(self.config.host, self.config.udp_port),
            )
            self._udp = transport
            self.udp_port = transport.get_extra_info("sockname")[1]
            self._consumer = asyncio.create_task(self._consume_udp())
        if self.config.tcp_port is not None:
            self._tcp = await asyncio.start_server(
                self._on_tcp, self.config.host, self.config.tcp_port
            )
            self.tcp_port = self._tcp.sockets[0].getsockname()[1]
        log.info(
            "syslog listening on %s udp=%s tcp=%s", self.config.host, self.udp_port, self.tcp_port
        )

    async def stop(self) -> None:
        if self._tcp is not None:
            self._tcp.close()
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
        if self._tcp is not None:
            await self._tcp.wait_closed()

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
                records = self._records([data], peer)
                await self.handler(records)
            except Exception:
                self.metrics.inc("errors", {"source": SOURCE, "kind": "handler"})
                log.exception("syslog: handler failed for a datagram from %s", peer)
            finally:
                self._queue.task_done()

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        splitter = StreamSplitter(self.config.max_message)
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), self.config.idle_timeout)
                if not data:
                    tail = splitter.pending()
                    if tail.strip():  # last line without its LF
                        await self.handler(self._records([tail], peer))
                    return
                messages = splitter.feed(data)
                if messages:
                    await self.handler(self._records(messages, peer))
        except FramingError as exc:
            self.metrics.inc("errors", {"source": SOURCE, "kind": "framing"}, help="Errors by kind")
            log.warning("syslog: closing connection from %s: framing: %s", peer, exc)
        except (TimeoutError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()
