"""A TCP listener that admits each connection through the connection gate as it accepts it.

asyncio's own server accepts up to a whole backlog of sockets in one go and only then runs
the handlers, so a cap checked in the handler comes too late: at a low RLIMIT_NOFILE a burst
of idle sockets exhausts the descriptors (EMFILE), and `/health` can no longer accept either.
Here one socket is accepted at a time and refused, or admitted in place of the longest idle
connection, before the next one is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

from oom_enricher.counters import ErrorLog
from oom_enricher.sources.limits import LISTEN_BACKLOG, ConnectionGate, Slot

ACCEPT_RETRY = 0.1  # seconds to wait after accept() failed (EMFILE, ENOBUFS)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Slot], Awaitable[None]]
# Builds the protocol of an admitted connection instead of a stream pair and `handler`.
ProtocolFactory = Callable[[Slot], asyncio.Protocol]


class PausedStreamProtocol(asyncio.StreamReaderProtocol):
    """Reads nothing until start_tls: the ClientHello must reach the TLS layer, not the reader."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]
        super().connection_made(transport)


class GatedListener:
    def __init__(
        self,
        host: str,
        port: int,
        gate: ConnectionGate,
        errors: ErrorLog,
        handler: Handler | None,
        *,
        read_limit: int = 64 * 1024,
        paused: bool = False,
        protocol_factory: ProtocolFactory | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.gate = gate
        self.errors = errors
        self.handler = handler
        self.read_limit = read_limit
        self.paused = paused
        self.protocol_factory = protocol_factory
        self._sock: socket.socket | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> int:
        # The first address the host resolves to, as asyncio would: "::" listens on IPv6.
        family, _, _, _, address = socket.getaddrinfo(
            self.host or None, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        self._sock = socket.create_server(address, family=family, backlog=LISTEN_BACKLOG)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._task = asyncio.create_task(self._accept_loop())
        return self.port

    async def close(self) -> None:
        """Stop accepting; connections already admitted are their handlers' to finish."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sock is not None:
            self._sock.close()

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(self._sock)
            except OSError as exc:
                self.errors.error("accept", "%s: accept failed: %s", self.errors.source, exc)
                await asyncio.sleep(ACCEPT_RETRY)
                continue
            await self._admit(loop, sock, str(address[0]))

    async def _admit(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, peer: str) -> None:
        evicted = self.gate.evicted
        slot, refusal = self.gate.admit(peer, sock.close)
        if self.gate.evicted > evicted:
            self.errors.error(
                "evicted_idle",
                "%s: at the connection cap: closed the longest idle connection",
                self.errors.source,
            )
        if slot is None:
            self.errors.error(
                refusal or "refused",
                "%s: refusing a connection from %s: %s",
                self.errors.source,
                peer,
                refusal,
                peer=peer,
            )
            sock.close()
            return
        protocol = self._protocol(slot)
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock)
        except OSError:
            self.gate.release(slot)
            sock.close()
            return
        slot.close = transport.abort  # until the handler takes over (it cancels its task)

    def _protocol(self, slot: Slot) -> asyncio.Protocol:
        if self.protocol_factory is not None:
            return self.protocol_factory(slot)
        assert self.handler is not None
        handler = self.handler
        reader = asyncio.StreamReader(limit=self.read_limit)
        protocol_type = PausedStreamProtocol if self.paused else asyncio.StreamReaderProtocol

        async def connected(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await handler(r, w, slot)

        return protocol_type(reader, connected)
