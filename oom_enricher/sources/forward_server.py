"""Fluentd Forward protocol v1 server (what Fluentd `in_forward` speaks), on asyncio.

Each connection is read with a streaming msgpack unpacker; every decoded request goes to
the handler coroutine, and a `chunk` is acknowledged only after that coroutine returned,
so a sender that resends unacknowledged chunks loses nothing. A connection that sends
something undecodable, too large, or fails TLS / the shared-key handshake is closed with
a logged reason and a counted `errors_total{kind=...}`; other connections carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import struct
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack

from oom_enricher.counters import Counters, ErrorLog, Tally
from oom_enricher.sources.forward_codec import (
    UNDECODABLE,
    ForwardRequest,
    FrameError,
    ack_bytes,
    decode_request,
    new_unpacker,
    undecodable,
)
from oom_enricher.sources.forward_handshake import HandshakeConfig, ServerHandshake
from oom_enricher.sources.limits import (
    BufferBudget,
    ConnectionGate,
    Slot,
    SourceLimits,
    descriptor_cap,
)
from oom_enricher.sources.listener import GatedListener

log = logging.getLogger(__name__)
PROBE = "probe"  # a connection closed before any TLS byte: a TCP health check
NO_HANDSHAKE_CAUSES = (
    "it never completed the forward handshake. Likely causes: the client refused the TLS "
    "certificate on its side (wrong CA, or a host name that does not match it: Fluentd with "
    "tls_verify_hostname and an IP address as host needs <server> name), a client without "
    "shared_key, or a TCP health probe (probes belong on the HTTP port)"
)

SOURCE = "forward"


@dataclass
class ForwardServerConfig:
    host: str = "127.0.0.1"
    port: int = 24224
    limits: SourceLimits = field(default_factory=SourceLimits)
    read_size: int = 256 * 1024
    handshake_timeout: float = 30.0
    handshake: HandshakeConfig | None = None
    # npm fluent-logger (<= 3.4.1) over TLS attaches its ack listener only in the write
    # callback and drops an ack that arrives sooner; a few ms of delay avoids its resends.
    ack_delay: float = 0.0
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None  # require client certificates signed by this CA
    udp_heartbeat: bool = True  # answer Fluentd `heartbeat_type udp` on the same port


@dataclass(slots=True)
class ForwardBatch:
    """The log entries of one request, with where they came from."""

    tag: str
    entries: list[tuple[float, dict]]
    peer: str
    client_hostname: str = ""
    mode: str = "message"
    chunk: Any = None
    options: dict = field(default_factory=dict)
    offsets: list[int] = field(default_factory=list)  # of each entry in its packed payload
    selection: Any = None  # the prefilter's choice of entries (None: no prefilter ran)


Handler = Callable[[ForwardBatch], Awaitable[None]]


class Prefilter(Protocol):
    """Chooses the PackedForward entries that can matter before any of them is decoded."""

    def select(self, payload: bytes, tag: str, peer: str) -> Any: ...


def _json_ack(chunk: Any) -> bytes:
    return json.dumps({"ack": chunk}).encode()


class _Handled(Exception):
    """Closes the connection after the error was already counted and logged."""


class RequestNotAcked(Exception):
    """Raised by a handler that could not make a request safe (its store is not writable):
    no ack, the connection closes so the sender resends; the handler logged and counted it."""


class ConnectionRefused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(eq=False)
class _Connection:
    peer: str
    slot: Slot
    task: asyncio.Task | None = None
    held: int = 0  # bytes of this connection counted in the buffer budget


def _complete_requests(
    unpacker: msgpack.Unpacker,
) -> tuple[list[tuple[Any, int]], FrameError | None]:
    """Every complete request in the buffer with its size on the wire, and the refusal that
    stopped the decoding, if any (the requests before it are still served)."""
    out: list[tuple[Any, int]] = []
    while True:
        before = unpacker.tell()
        try:
            obj = next(unpacker)
        except StopIteration:
            return out, None
        except UNDECODABLE as exc:
            return out, undecodable(exc)
        out.append((obj, unpacker.tell() - before))


class _HeartbeatProtocol(asyncio.DatagramProtocol):
    """Fluentd's UDP heartbeat: any datagram is answered with one 0x00 byte."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.transport.sendto(b"\x00", addr)  # type: ignore[attr-defined]


_TCPI_BYTES_RECEIVED = struct.Struct("=Q")
_TCPI_BYTES_RECEIVED_OFFSET = 128  # struct tcp_info.tcpi_bytes_received (Linux >= 4.1)


def _duplicate(sock) -> socket.socket | None:
    try:
        return socket.socket(fileno=os.dup(sock.fileno()))
    except (OSError, AttributeError):
        return None


def _bytes_received(sock) -> int | None:
    """Bytes the peer sent on this TCP connection, None where the kernel does not say."""
    end = _TCPI_BYTES_RECEIVED_OFFSET + _TCPI_BYTES_RECEIVED.size
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except (OSError, AttributeError):
        return None
    if len(info) < end:
        return None
    return _TCPI_BYTES_RECEIVED.unpack_from(info, _TCPI_BYTES_RECEIVED_OFFSET)[0]


def build_tls_context(config: ForwardServerConfig) -> ssl.SSLContext | None:
    if not config.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(config.tls_client_ca)
    return context


class ForwardServer:
    def __init__(
        self,
        config: ForwardServerConfig,
        handler: Handler,
        metrics: Counters | None = None,
        gate: ConnectionGate | None = None,
        budget: BufferBudget | None = None,
        prefilter: Prefilter | None = None,
    ) -> None:
        self.config = config
        self.prefilter = prefilter
        self.limits = config.limits
        self.handler = handler
        self.metrics: Counters = metrics or Tally()
        self.errors = ErrorLog(self.metrics, SOURCE, log, self.limits.log_interval)
        self.gate = gate or ConnectionGate(
            descriptor_cap(self.limits.max_connections), self.limits.max_connections_per_peer
        )
        self.budget = budget or BufferBudget(self.limits.max_buffered_bytes)
        # Long decodes (large or compressed requests) run here, so the loop keeps serving.
        self._decoder = ThreadPoolExecutor(
            max_workers=self.limits.decode_threads, thread_name_prefix="forward-decode"
        )
        self._tls = build_tls_context(config)
        self._listener: GatedListener | None = None
        self._connections: set[_Connection] = set()
        self._closing = False
        self._heartbeat: asyncio.DatagramTransport | None = None
        self.port: int = config.port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._listener = GatedListener(
            self.config.host,
            self.config.port,
            self.gate,
            self.errors,
            self._on_connect,
            read_limit=self.config.read_size,
            paused=self._tls is not None,
        )
        self.port = await self._listener.start()
        if self.config.udp_heartbeat:
            self._heartbeat, _ = await loop.create_datagram_endpoint(
                _HeartbeatProtocol, local_addr=(self.config.host, self.port)
            )
        log.info(
            "forward server listening on %s:%d (tls=%s, shared_key=%s)",
            self.config.host,
            self.port,
            self._tls is not None,
            self.config.handshake is not None,
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting; idle connections close now, busy ones after their request is acked."""
        self._closing = True
        if self._listener is not None:
            await self._listener.close()
        if self._heartbeat is not None:
            self._heartbeat.close()
        for conn in list(self._connections):
            if not conn.slot.busy and conn.task is not None:
                conn.task.cancel()
        tasks = [c.task for c in self._connections if c.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self._decoder.shutdown(wait=False, cancel_futures=True)

    def _error(self, kind: str, peer: str, reason: str, exc: BaseException | None = None) -> None:
        if kind == PROBE:
            # kubelet tcpSocket probes and port scanners: normal traffic, not an error
            self.metrics.inc("probes", {"source": SOURCE}, help="Connections closed before TLS")
            log.debug("forward: %s from %s: %s", kind, peer, reason)
            return
        self.errors.error(
            kind,
            "forward: closing connection from %s: %s: %s",
            peer,
            kind,
            reason,
            peer=peer,
            exc=exc,
        )

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closing:
            self.gate.release(slot)
            writer.transport.abort()
            return
        slot.close = task.cancel  # an eviction ends the handler, which then cleans up
        conn = _Connection(peer=slot.peer, slot=slot, task=task)
        self._connections.add(conn)
        self.metrics.inc("connections", {"source": SOURCE}, help="Accepted connections")
        self.metrics.set("connections_active", len(self._connections), {"source": SOURCE})
        failed = True
        try:
            await self._serve(conn, reader, writer)
            failed = False
        except (ConnectionRefused, FrameError) as exc:
            self._error(exc.kind, conn.peer, exc.reason)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            self._error("connection_lost", conn.peer, str(exc) or type(exc).__name__)
        except (_Handled, RequestNotAcked):
            pass
        except asyncio.CancelledError:
            failed = False
        except Exception as exc:  # a defect: counted and logged, never lost with the task
            self._error("internal", conn.peer, f"{type(exc).__name__}: {exc}", exc)
        finally:
            self.gate.release(slot)
            self.budget.resize(conn.held, 0)
            self._connections.discard(conn)
            self.metrics.set("connections_active", len(self._connections), {"source": SOURCE})
            if failed:
                # No TLS close_notify exchange with a misbehaving peer: drop it at once.
                writer.transport.abort()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve(
        self, conn: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._tls is not None:
            # The transport was paused on accept, so no plain-text byte was read yet. A
            # duplicate of the socket outlives a failed handshake, to ask what the peer sent.
            raw_socket = _duplicate(writer.get_extra_info("socket"))
            try:
                await asyncio.wait_for(
                    writer.start_tls(self._tls), timeout=self.config.handshake_timeout
                )
            except (ConnectionResetError, ssl.SSLEOFError) as exc:
                received = _bytes_received(raw_socket)
                if received is None or received > 1:  # the peer's FIN counts as one byte
                    raise ConnectionRefused(
                        "tls_handshake", f"TLS handshake failed: {exc!r}"
                    ) from None
                raise ConnectionRefused(
                    PROBE,
                    f"closed before the TLS handshake ({exc!r}); health checks belong on "
                    "the HTTP port (/health)",
                ) from None
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                raise ConnectionRefused("tls_handshake", f"TLS handshake failed: {exc!r}") from None
            finally:
                if raw_socket is not None:
                    raw_socket.close()
        limits = self.limits
        unpacker = new_unpacker(limits.max_frame_bytes, limits.max_entries_per_request)
        fed = 0
        client_hostname = ""
        if self.config.handshake is not None:
            client_hostname, fed = await self._handshake(reader, writer, unpacker)
        started_at, started_tell = time.monotonic(), unpacker.tell()
        while not self._closing:
            timeout = limits.idle_timeout
            if unpacker.tell() != started_tell:  # a new request began since the last read
                started_at, started_tell = time.monotonic(), unpacker.tell()
            partial = fed > unpacker.tell()
            if partial:
                timeout = min(timeout, started_at + limits.request_deadline - time.monotonic())
            try:
                data = await asyncio.wait_for(reader.read(self.config.read_size), max(timeout, 0))
            except TimeoutError:
                if partial:
                    raise ConnectionRefused(
                        "request_deadline",
                        f"request not complete within {limits.request_deadline:g} s",
                    ) from None
                log.info("forward: closing idle connection from %s", conn.peer)
                return
            except ssl.SSLError as exc:
                raise ConnectionRefused("tls", f"TLS error: {exc}") from None
            self.gate.touch(conn.slot)
            if not data:
                if unpacker.tell() < fed:
                    raise FrameError(
                        "truncated",
                        f"connection closed inside a request ({fed - unpacker.tell()} bytes)",
                    )
                return
            if fed == 0 and client_hostname == "" and data.lstrip()[:1] in (b"{", b"["):
                # Fluentd in_forward also takes JSON requests (and answers in JSON); a msgpack
                # request never starts with these bytes (positive fixints).
                await self._serve_json(conn, reader, writer, data)
                return
            fed += len(data)
            self._hold(conn, fed - unpacker.tell())
            try:
                unpacker.feed(data)
            except msgpack.BufferFull:
                raise FrameError(
                    "oversized", f"request larger than {limits.max_frame_bytes} bytes"
                ) from None
            conn.slot.busy = True
            try:
                await self._drain_requests(conn, unpacker, writer, client_hostname, fed)
            finally:
                conn.slot.busy = False
            self._hold(conn, fed - unpacker.tell())

    def _hold(self, conn: _Connection, held: int) -> None:
        """Count a connection's unparsed bytes against the budget shared by all connections."""
        if not self.budget.resize(conn.held, held):
            raise ConnectionRefused(
                "buffer_budget",
                f"{held} more bytes would exceed the {self.limits.max_buffered_bytes} bytes "
                "buffered across all connections",
            )
        conn.held = held

    async def _off_loop(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._decoder, call, *args)

    async def _drain_requests(
        self,
        conn: _Connection,
        unpacker: msgpack.Unpacker,
        writer: asyncio.StreamWriter,
        client_hostname: str,
        fed: int,
    ) -> None:
        if fed - unpacker.tell() >= self.limits.offload_bytes:
            requests, refusal = await self._off_loop(_complete_requests, unpacker)
        else:
            requests, refusal = _complete_requests(unpacker)
        for obj, size in requests:
            if obj is None:
                continue  # keepalive no-op
            large = size >= self.limits.offload_bytes
            await self._process(conn, obj, writer, client_hostname, ack_bytes, large)
        if refusal is not None:
            raise refusal

    def _decode(self, obj: Any, peer: str) -> ForwardRequest:
        limits = self.limits
        select = None
        if self.prefilter is not None:
            prefilter = self.prefilter

            def select(payload: bytes, tag: str) -> Any:
                return prefilter.select(payload, tag, peer)

        return decode_request(
            obj,
            max_decompressed=limits.max_decompressed_bytes,
            max_entries=limits.max_entries_per_request,
            max_ratio=limits.max_decompression_ratio,
            select=select,
        )

    async def _process(
        self,
        conn: _Connection,
        obj: Any,
        writer: asyncio.StreamWriter,
        client_hostname: str,
        encode_ack: Callable[[Any], bytes],
        large: bool = False,
    ) -> None:
        started = time.monotonic()
        compressed = isinstance(obj, list) and len(obj) > 2 and isinstance(obj[2], dict)
        compressed = compressed and obj[2].get("compressed") is not None
        peer = client_hostname or conn.peer
        request = (
            await self._off_loop(self._decode, obj, peer)
            if large or compressed
            else self._decode(obj, peer)
        )
        self.metrics.inc("forward_requests", {"mode": request.mode}, help="Requests by mode")
        if request.skipped:
            self.metrics.inc("records_skipped", {"source": SOURCE}, request.skipped)
        if request.bad_times:
            self.errors.error(
                "bad_time",
                "forward: %d entries from %s with a time not finite or out of range: receive time",
                request.bad_times,
                conn.peer,
                peer=conn.peer,
                count=request.bad_times,
            )
        if request.unread:
            self.metrics.inc(
                "records_unread",
                {"source": SOURCE},
                request.unread,
                help="Records acked undecoded: no marker and no host with a report in progress",
            )
            if not request.entries:
                self.metrics.inc(
                    "requests_unread", {"source": SOURCE}, help="Requests acked unread"
                )
        if request.entries:
            self.metrics.inc(
                "records_in", {"source": SOURCE}, len(request.entries), help="Records received"
            )
            batch = ForwardBatch(
                tag=request.tag,
                entries=request.entries,
                peer=conn.peer,
                client_hostname=client_hostname,
                mode=request.mode,
                chunk=request.chunk,
                options=request.options,
                offsets=request.offsets,
                selection=request.selection,
            )
            try:
                await self.handler(batch)
            except RequestNotAcked:
                raise
            except Exception as exc:  # the sender gets no ack and will resend
                self._error("handler", conn.peer, f"{type(exc).__name__}: {exc}", exc)
                raise _Handled from None
        if request.chunk is not None:
            if self.config.ack_delay:
                await asyncio.sleep(self.config.ack_delay)
            writer.write(encode_ack(request.chunk))
            await writer.drain()
            self.metrics.observe(
                "ack_latency_seconds",
                time.monotonic() - started,
                {"source": SOURCE},
                help="Request decoded to ack written",
            )

    async def _serve_json(
        self,
        conn: _Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        data: bytes,
    ) -> None:
        decoder = json.JSONDecoder()
        buffer = data.decode("utf-8", "replace")
        while True:
            position = 0
            while True:
                rest = buffer[position:].lstrip()
                if not rest:
                    buffer = ""
                    break
                position = len(buffer) - len(rest)
                try:
                    obj, end = decoder.raw_decode(buffer, position)
                except RecursionError:
                    raise FrameError("malformed", "JSON request nested too deep") from None
                except json.JSONDecodeError as exc:
                    if exc.pos < len(buffer) and not exc.msg.startswith("Unterminated"):
                        raise FrameError("malformed", f"JSON request: {exc}") from None
                    buffer = buffer[position:]  # incomplete: wait for more bytes
                    break
                position = end
                conn.slot.busy = True
                try:
                    await self._process(conn, obj, writer, "", _json_ack)
                finally:
                    conn.slot.busy = False
            if len(buffer) > self.limits.max_frame_bytes:
                raise FrameError("oversized", "JSON request larger than the frame limit")
            self._hold(conn, len(buffer))
            if self._closing:
                return
            timeout = self.limits.request_deadline if buffer else self.limits.idle_timeout
            try:
                more = await asyncio.wait_for(reader.read(self.config.read_size), timeout)
            except TimeoutError:
                if buffer:
                    raise ConnectionRefused(
                        "request_deadline", "JSON request not complete"
                    ) from None
                return
            self.gate.touch(conn.slot)
            if not more:
                if buffer.strip():
                    raise FrameError("malformed", "connection closed inside a JSON request")
                return
            buffer += more.decode("utf-8", "replace")

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, unpacker: msgpack.Unpacker
    ) -> tuple[str, int]:
        assert self.config.handshake is not None
        state = ServerHandshake(self.config.handshake)
        writer.write(state.helo())
        await writer.drain()
        fed = 0
        timeout = self.config.handshake_timeout
        deadline = time.monotonic() + timeout
        while True:
            try:
                ping = next(unpacker)
                break
            except StopIteration:
                pass
            except UNDECODABLE as exc:
                raise undecodable(exc) from None
            remaining = deadline - time.monotonic()
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout=max(remaining, 0.01))
            except TimeoutError:
                raise ConnectionRefused(
                    "auth",
                    f"client connected but sent no PING within {timeout:g} s: "
                    f"{NO_HANDSHAKE_CAUSES}",
                ) from None
            if not data:
                raise ConnectionRefused(
                    "auth", f"client closed the connection before PING: {NO_HANDSHAKE_CAUSES}"
                )
            fed += len(data)
            try:
                unpacker.feed(data)
            except msgpack.BufferFull:
                raise FrameError("oversized", "PING larger than the frame limit") from None
        result = state.check_ping(ping)
        writer.write(result.pong)
        await writer.drain()
        if not result.ok:
            raise ConnectionRefused(
                "auth", f"handshake refused for {result.client_hostname or '?'}: {result.reason}"
            )
        return result.client_hostname, fed
