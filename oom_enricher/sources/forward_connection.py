"""One forward connection as an asyncio Protocol: bytes are handled where they arrive.

With asyncio streams every request costs a StreamReader read (a future, a task wake-up, a
timeout handle) before a byte of it is looked at, several times what skipping an unread
request costs. Here the connection's setup (TLS, the shared-key handshake, telling msgpack
from JSON) reads with `read()` like a stream, and then `divert()` hands every later
`data_received` straight to a callback, which acks the requests it can answer at once and
wakes the connection's task only for the ones that need it (a handler, an offloaded
decode, a full send buffer). Idle and request deadlines are one timer per connection that
re-arms itself, not a timeout per read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from oom_enricher.sources.limits import Slot

# Bytes buffered for `read()` before the transport stops reading (setup phase and JSON).
READ_BUFFER = 256 * 1024


class ForwardConnection(asyncio.Protocol):
    def __init__(
        self,
        slot: Slot,
        run: Callable[[ForwardConnection], Awaitable[None]],
        *,
        paused: bool = False,
        read_buffer: int = READ_BUFFER,
    ) -> None:
        self.slot = slot
        self.peer = slot.peer
        self.held = 0  # bytes of this connection counted in the buffer budget
        self.transport: Any = None
        self.task: asyncio.Task | None = None
        self.tls = False
        self._run = run
        self._paused_on_accept = paused
        self._read_buffer = read_buffer
        self._buffer = bytearray()
        self._eof = False
        self._lost = False
        self._error: BaseException | None = None  # why the connection was lost, if not EOF
        self._reading_paused = False
        self._waiter: asyncio.Future | None = None
        self._divert: Callable[[bytes], None] | None = None
        self._on_eof: Callable[[], None] | None = None
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self._loop = asyncio.get_running_loop()
        self.closed = self._loop.create_future()

    # -- protocol callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self._paused_on_accept:
            # TLS: the ClientHello must reach the TLS layer, not `read()`.
            transport.pause_reading()  # type: ignore[attr-defined]
        self.task = self._loop.create_task(self._run(self))

    def data_received(self, data: bytes) -> None:
        if self._divert is not None:
            self._divert(data)
            return
        self._buffer += data
        if len(self._buffer) > self._read_buffer:
            self.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        if self._on_eof is not None:
            self._on_eof()
        self._wake()
        # Stay open to write the acks of requests still being handled (not possible on TLS).
        return not self.tls

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost, self._error = True, exc
        self._eof = True
        if self._on_eof is not None:
            self._on_eof()
        self._wake()
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    # -- reading ------------------------------------------------------------------------------

    async def read(self, n: int) -> bytes:
        """Up to n bytes, b"" at end of stream; raises when the connection was lost first."""
        while not self._buffer and not self._eof:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._buffer:
            data = bytes(self._buffer[:n])
            del self._buffer[:n]
            if len(self._buffer) <= self._read_buffer:
                self.resume_reading()
            return data
        if self._error is not None:
            raise self._error
        return b""

    def divert(self, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> bytes:
        """From now on received bytes go to `on_data` (and the end of stream to `on_eof`);
        returns what was buffered and not read yet."""
        self._divert, self._on_eof = on_data, on_eof
        left, self._buffer = bytes(self._buffer), bytearray()
        self.resume_reading()
        return left

    @property
    def at_eof(self) -> bool:
        return self._eof

    @property
    def error(self) -> BaseException | None:
        """Why the connection was lost, when it was not an orderly end of stream."""
        return self._error

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    @property
    def write_blocked(self) -> bool:
        return self._write_paused

    async def drain(self) -> None:
        if self._lost:
            raise ConnectionResetError("connection lost")
        if not self._write_paused:
            return
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter
        if self._lost:
            raise ConnectionResetError("connection lost")

    def get_extra_info(self, name: str) -> Any:
        return self.transport.get_extra_info(name)

    async def start_tls(self, context: Any, timeout: float) -> None:
        """Wraps the connection in TLS (server side); this protocol stays the application's."""
        transport = await asyncio.wait_for(
            self._loop.start_tls(self.transport, self, context, server_side=True), timeout
        )
        self.transport = transport
        self.tls = True
