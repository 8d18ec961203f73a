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
    AckPacker,
    ForwardRequest,
    FrameError,
    ObjectBudget,
    collect_selection,
    decode_request,
    new_unpacker,
    plain_packed,
    undecodable,
)
from oom_enricher.sources.forward_connection import ForwardConnection
from oom_enricher.sources.forward_handshake import HandshakeConfig, ServerHandshake
from oom_enricher.sources.forward_json import JsonText, within_budget
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
PACKED = "packed_forward"


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


def _compressed(obj: Any) -> bool:
    return (
        isinstance(obj, list)
        and len(obj) > 2
        and isinstance(obj[2], dict)
        and obj[2].get("compressed") is not None
    )


def _usual_packed(obj: Any) -> tuple[str, bytes, dict] | None:
    """`plain_packed`, with the shape Fluent Bit and Fluentd send (`[tag, entries, {"chunk":
    ..., "size": n}]`) told in one test rather than three calls: it is every request."""
    if (
        type(obj) is list
        and len(obj) == 3
        and type(obj[0]) is str
        and type(obj[1]) is bytes
        and type(obj[2]) is dict
        and "compressed" not in obj[2]
        and "fluent_signal" not in obj[2]
    ):
        return obj[0], obj[1], obj[2]
    return plain_packed(obj)


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


def _complete_requests(
    unpacker: msgpack.Unpacker, budget: ObjectBudget
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
        except FrameError as exc:
            return out, exc
        except UNDECODABLE as exc:
            return out, undecodable(exc)
        budget.reset()
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
        self._ack = AckPacker()  # acks are packed on the event loop only
        # Series bumped on every request, resolved once.
        self._by_mode: dict[str, Callable[[float], None]] = {}
        self._packed_requests = self._mode_counter(PACKED)
        self._records_unread = self.metrics.counter(
            "records_unread",
            {"source": SOURCE},
            help="Records acked undecoded: no marker and no host with a report in progress",
        )
        self._requests_unread = self.metrics.counter(
            "requests_unread", {"source": SOURCE}, help="Requests acked unread"
        )
        self._ack_latency = self.metrics.summary(
            "ack_latency_seconds", {"source": SOURCE}, help="Request decoded to ack written"
        )
        self._listener: GatedListener | None = None
        self._connections: set[ForwardConnection] = set()
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
            None,
            protocol_factory=self._connection,
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

    def _connection(self, slot: Slot) -> ForwardConnection:
        return ForwardConnection(
            slot, self._on_connect, paused=self._tls is not None, read_buffer=self.config.read_size
        )

    async def _on_connect(self, conn: ForwardConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        slot = conn.slot
        if self._closing:
            self.gate.release(slot)
            conn.transport.abort()
            return
        slot.close = task.cancel  # an eviction ends the handler, which then cleans up
        self._connections.add(conn)
        self.metrics.inc("connections", {"source": SOURCE}, help="Accepted connections")
        self.metrics.set("connections_active", len(self._connections), {"source": SOURCE})
        failed = True
        session: _Session | None = None
        try:
            session = await self._setup(conn)
            if session is not None:
                await self._serve(session)
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
            if session is not None:
                session.stop()
            self.gate.release(slot)
            self.budget.resize(conn.held, 0)
            conn.held = 0
            self._connections.discard(conn)
            self.metrics.set("connections_active", len(self._connections), {"source": SOURCE})
            if failed:
                # No TLS close_notify exchange with a misbehaving peer: drop it at once.
                conn.transport.abort()
            conn.transport.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(conn.closed), 1.0)

    async def _start_tls(self, conn: ForwardConnection) -> None:
        assert self._tls is not None
        # The transport was paused on accept, so no plain-text byte was read yet. A
        # duplicate of the socket outlives a failed handshake, to ask what the peer sent.
        raw_socket = _duplicate(conn.get_extra_info("socket"))
        try:
            await conn.start_tls(self._tls, self.config.handshake_timeout)
        except (ConnectionResetError, ssl.SSLEOFError) as exc:
            received = _bytes_received(raw_socket)
            if received is None or received > 1:  # the peer's FIN counts as one byte
                raise ConnectionRefused("tls_handshake", f"TLS handshake failed: {exc!r}") from None
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

    async def _setup(self, conn: ForwardConnection) -> _Session | None:
        """TLS, the handshake and the first bytes; the msgpack session, or None when the
        connection was served otherwise (JSON) or closed before its first request."""
        if self._tls is not None:
            await self._start_tls(conn)
        limits = self.limits
        budget = ObjectBudget(limits.max_decoded_objects)
        unpacker = new_unpacker(limits.max_frame_bytes, limits.max_entries_per_request, budget)
        client_hostname, fed = "", 0
        first = b""
        if self.config.handshake is not None:
            client_hostname, fed = await self._handshake(conn, unpacker)
            budget.reset()  # the PING was counted
        else:
            first = await self._first_bytes(conn)
            if not first:
                return None
            if first.lstrip()[:1] in (b"{", b"["):
                # Fluentd in_forward also takes JSON requests (and answers in JSON); a msgpack
                # request never starts with these bytes (positive fixints).
                await self._serve_json(conn, first)
                return None
        session = _Session(self, conn, unpacker, budget, client_hostname, fed)
        session.start(first)
        return session

    async def _first_bytes(self, conn: ForwardConnection) -> bytes:
        try:
            data = await asyncio.wait_for(
                conn.read(self.config.read_size), self.limits.idle_timeout
            )
        except TimeoutError:
            log.info("forward: closing idle connection from %s", conn.peer)
            return b""
        except ssl.SSLError as exc:
            raise ConnectionRefused("tls", f"TLS error: {exc}") from None
        self.gate.touch(conn.slot)
        return data

    async def _serve(self, session: _Session) -> None:
        """The requests the session could not answer where they arrived, until it ends."""
        while True:
            event = await session.next_event()
            if event is _DONE:
                return
            session.busy(True)
            try:
                await self._drain_requests(session)
            except BaseException:
                session.stop()  # no request after one that failed is served
                raise
            session.busy(False)

    def _hold(self, conn: ForwardConnection, held: int) -> None:
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

    async def _drain_requests(self, session: _Session) -> None:
        """Every complete request buffered in the session, in order (off the loop when large),
        then the refusal that stopped the decoding, if any."""
        conn, unpacker = session.conn, session.unpacker
        while True:
            if session.fed - unpacker.tell() >= self.limits.offload_bytes:
                requests, refusal = await self._off_loop(
                    _complete_requests, unpacker, session.budget
                )
            else:
                requests, refusal = _complete_requests(unpacker, session.budget)
            pending: list[tuple[Any, int, ForwardRequest | None]] = [
                (obj, size, None) for obj, size in requests
            ]
            if session.pending is not None:
                pending.insert(0, session.pending)
                session.pending = None
            for obj, size, request in pending:
                if obj is None:
                    continue  # keepalive no-op
                large = size >= self.limits.offload_bytes
                await self._process(conn, obj, session.client_hostname, self._ack, large, request)
            self._hold(conn, session.fed - unpacker.tell())
            if refusal is not None:
                raise refusal
            if not pending or self._closing:
                return

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
            max_objects=limits.max_decoded_objects,
        )

    def _decoded(self, conn: ForwardConnection, request: ForwardRequest) -> None:
        """Counts what decoding one request found."""
        self._count_mode(request.mode)
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
            self._records_unread(request.unread)
            if not request.entries:
                self._requests_unread(1)

    def _count_mode(self, mode: str) -> None:
        add = self._by_mode.get(mode)
        if add is None:
            add = self._mode_counter(mode)
        add(1)

    def _mode_counter(self, mode: str) -> Callable[[float], None]:
        add = self._by_mode[mode] = self.metrics.counter(
            "forward_requests", {"mode": mode}, help="Requests by mode"
        )
        return add

    def _acked(self, started: float) -> None:
        self._ack_latency(time.monotonic() - started)

    def _quick(
        self, conn: ForwardConnection, obj: Any, client_hostname: str, acks: list[bytes]
    ) -> tuple[bool, ForwardRequest | None]:
        """Serves a small request where it arrived when it needs no handler: decoded (the
        prefilter usually leaves every entry unread), counted and acked (its ack added to
        `acks`, written by the caller before it returns to the loop). (False, the request if
        it was decoded) when it needs the connection's task instead."""
        if self.config.ack_delay or conn.write_blocked:
            return False, None
        started = time.monotonic()
        plain = _usual_packed(obj) if self.prefilter is not None else None
        if plain is None:
            if _compressed(obj):
                return False, None  # inflated off the loop
            request = self._decode(obj, client_hostname or conn.peer)
        else:
            request = self._select_plain(plain, client_hostname or conn.peer)
            if request is None:  # every entry unread: the common case, at its cheapest
                self._packed_requests(1)
                chunk = plain[2].get("chunk")
                if chunk is not None:
                    acks.append(self._ack(chunk))
                    self._ack_latency(time.monotonic() - started)
                return True, None
        if request.entries:
            return False, request
        self._decoded(conn, request)
        if request.chunk is not None:
            acks.append(self._ack(request.chunk))
            self._acked(started)
        return True, None

    def _select_plain(self, plain: tuple[str, bytes, dict], peer: str) -> ForwardRequest | None:
        """The entries of a plain PackedForward request the prefilter chose, decoded; None
        (counted) when it chose none."""
        assert self.prefilter is not None
        tag, payload, options = plain
        try:
            selection = self.prefilter.select_or_count(payload, tag, peer)
        except UNDECODABLE as exc:  # entry boundaries are found by msgpack too
            raise undecodable(exc) from None
        if type(selection) is int:
            if selection:
                self._records_unread(selection)
                self._requests_unread(1)
            return None
        if not selection.spans:
            if selection.unread:
                self._records_unread(selection.unread)
                self._requests_unread(1)
            return None
        request = ForwardRequest(tag, [], options, PACKED)
        limits = self.limits
        limit = max(limits.max_decompressed_bytes, len(payload))
        collect_selection(
            payload,
            request,
            time.time(),
            limit,
            limits.max_entries_per_request,
            selection,
            limits.max_decoded_objects,
        )
        return request

    async def _process(
        self,
        conn: ForwardConnection,
        obj: Any,
        client_hostname: str,
        encode_ack: Callable[[Any], bytes],
        large: bool = False,
        request: ForwardRequest | None = None,
    ) -> None:
        started = time.monotonic()
        peer = client_hostname or conn.peer
        if request is None:
            request = (
                await self._off_loop(self._decode, obj, peer)
                if large or _compressed(obj)
                else self._decode(obj, peer)
            )
        self._decoded(conn, request)
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
            conn.write(encode_ack(request.chunk))
            await conn.drain()
            self._acked(started)

    async def _serve_json(self, conn: ForwardConnection, data: bytes) -> None:
        decoder = json.JSONDecoder()
        received = JsonText()
        received.feed(data)
        while True:
            await self._json_requests(conn, decoder, received)
            if received.size > self.limits.max_frame_bytes:
                raise FrameError("oversized", "JSON request larger than the frame limit")
            self._hold(conn, received.size)
            if self._closing:
                return
            timeout = self.limits.request_deadline if received.size else self.limits.idle_timeout
            try:
                more = await asyncio.wait_for(conn.read(self.config.read_size), timeout)
            except TimeoutError:
                if received.holds_text():
                    raise ConnectionRefused(
                        "request_deadline", "JSON request not complete"
                    ) from None
                return
            self.gate.touch(conn.slot)
            received.feed(more, final=not more)
            if not more:
                await self._json_requests(conn, decoder, received)
                if received.holds_text():
                    raise FrameError("malformed", "connection closed inside a JSON request")
                return

    async def _json_requests(
        self, conn: ForwardConnection, decoder: json.JSONDecoder, received: JsonText
    ) -> None:
        """Serves every whole request at the head of `received` when it may hold one, and
        keeps the incomplete rest (large requests are decoded off the loop)."""
        if received.worth_decoding():
            received.keep(await self._whole_json_requests(conn, decoder, received.take()))

    async def _whole_json_requests(
        self, conn: ForwardConnection, decoder: json.JSONDecoder, text: str
    ) -> str:
        position = 0
        while True:
            rest = text[position:].lstrip()
            if not rest:
                return ""
            position = len(text) - len(rest)
            within_budget(rest, self.limits.max_decoded_objects)
            try:
                if len(rest) >= self.limits.offload_bytes:
                    obj, end = await self._off_loop(decoder.raw_decode, text, position)
                else:
                    obj, end = decoder.raw_decode(text, position)
            except RecursionError:
                raise FrameError("malformed", "JSON request nested too deep") from None
            except json.JSONDecodeError as exc:
                if exc.pos < len(text) and not exc.msg.startswith("Unterminated"):
                    raise FrameError("malformed", f"JSON request: {exc}") from None
                return rest  # incomplete: wait for more bytes
            position = end
            conn.slot.busy = True
            try:
                await self._process(conn, obj, "", _json_ack)
            finally:
                conn.slot.busy = False

    async def _handshake(
        self, conn: ForwardConnection, unpacker: msgpack.Unpacker
    ) -> tuple[str, int]:
        assert self.config.handshake is not None
        state = ServerHandshake(self.config.handshake)
        conn.write(state.helo())
        await conn.drain()
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
                data = await asyncio.wait_for(conn.read(4096), timeout=max(remaining, 0.01))
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
        conn.write(result.pong)
        await conn.drain()
        if not result.ok:
            raise ConnectionRefused(
                "auth", f"handshake refused for {result.client_hostname or '?'}: {result.reason}"
            )
        return result.client_hostname, fed


_WORK, _DONE = "work", "done"


class _Session:
    """The msgpack requests of one connection after its setup, served as their bytes arrive.

    A request that needs nothing but an ack is answered inside `data_received`; the first
    one that needs more (a handler, an offloaded decode, a delay, a full send buffer) wakes
    the connection's task, which serves it and every request after it in order; then
    requests are answered where they arrive again."""

    def __init__(
        self,
        server: ForwardServer,
        conn: ForwardConnection,
        unpacker: msgpack.Unpacker,
        budget: ObjectBudget,
        client_hostname: str,
        fed: int,
    ) -> None:
        self.server = server
        self.conn = conn
        self.unpacker = unpacker
        self.budget = budget  # the unpacker's: reset after each whole request
        self.client_hostname = client_hostname
        self.fed = fed  # bytes fed to the unpacker
        self._backlog: list[bytes] = []  # bytes received while the task holds the unpacker
        self._backlog_bytes = 0
        # A request taken from the unpacker (and maybe decoded) that waits for the task.
        self.pending: tuple[Any, int, ForwardRequest | None] | None = None
        self._loop = asyncio.get_running_loop()
        self._busy = False  # the task is serving requests
        self._woken = False  # work waits for the task
        self._ended = False
        self._failure: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        now = self._loop.time()
        self._last_active = now
        self._started_at, self._started_tell = now, unpacker.tell()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, first: bytes) -> None:
        left = self.conn.divert(self._on_data, self._on_eof)
        self._arm(self._loop.time() + self.server.limits.idle_timeout)
        data = first + left
        if data:
            self._on_data(data)
        else:
            self._serve_here()  # bytes that came with the handshake's PING
        if self.conn.at_eof:
            self._on_eof()

    def stop(self) -> None:
        self._ended = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def next_event(self) -> str:
        """_WORK when requests wait for the task, _DONE when the connection ends; raises the
        refusal that ends it."""
        while True:
            if self._failure is not None:
                raise self._failure
            if self._woken:
                self._woken = False
                return _WORK
            if self._ended:
                return _DONE
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def busy(self, busy: bool) -> None:
        self._busy = busy
        self.conn.slot.busy = busy
        if busy:
            return
        self._last_active = self._loop.time()
        self.conn.resume_reading()
        if self._backlog:
            data = b"".join(self._backlog)
            self._backlog.clear()
            self._backlog_bytes = 0
            if not self._feed(data):
                return
            self._serve_here()
            if self._woken or self._failure is not None:
                return  # the task goes on with them
        if self.server._closing:
            self._end()
        elif self.conn.at_eof:
            self._on_eof()

    # -- data path ------------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        if self._ended or self._failure is not None:
            return
        server = self.server
        self._last_active = self._loop.time()
        server.gate.touch(self.conn.slot)
        if self._busy or self._woken:
            # The task may be decoding from the unpacker on another thread: bytes wait here.
            self._backlog.append(data)
            self._backlog_bytes += len(data)
            try:
                server._hold(self.conn, self.fed + self._backlog_bytes - self.unpacker.tell())
            except ConnectionRefused as exc:
                self._fail(exc)
                return
            if self._backlog_bytes > server.config.read_size:
                self.conn.pause_reading()  # the task reads on when it is done
            return
        if self._feed(data):
            self._serve_here()

    def _feed(self, data: bytes) -> bool:
        server = self.server
        self.fed += len(data)
        try:
            server._hold(self.conn, self.fed - self.unpacker.tell())
            self.unpacker.feed(data)
        except msgpack.BufferFull:
            limit = server.limits.max_frame_bytes
            self._fail(FrameError("oversized", f"request larger than {limit} bytes"))
            return False
        except ConnectionRefused as exc:
            self._fail(exc)
            return False
        return True

    def _serve_here(self) -> None:
        # The acks of the requests that came in one read leave in one write: the write is
        # most of what serving an unread request costs.
        acks: list[bytes] = []
        try:
            self._serve_requests(acks)
        finally:
            # before the task looks at an end or a failure: _end, _fail and _wake only notify
            if acks:
                self.conn.write(acks[0] if len(acks) == 1 else b"".join(acks))

    def _serve_requests(self, acks: list[bytes]) -> None:
        server, unpacker, conn, budget = self.server, self.unpacker, self.conn, self.budget
        offload = server.limits.offload_bytes
        try:
            # tell() == fed: nothing left to decode (cheaper than a StopIteration)
            while unpacker.tell() < self.fed:
                if server._closing:
                    self._end()
                    return
                if self.fed - unpacker.tell() >= offload:
                    self._wake()  # decoded off the loop by the task
                    return
                before = unpacker.tell()
                try:
                    obj = next(unpacker)
                except StopIteration:
                    break
                except UNDECODABLE as exc:
                    self._fail(undecodable(exc))
                    return
                budget.reset()
                if obj is None:
                    continue  # keepalive no-op
                done, request = server._quick(conn, obj, self.client_hostname, acks)
                if not done:
                    self.pending = (obj, unpacker.tell() - before, request)
                    self._wake()
                    return
        except (ConnectionRefused, FrameError) as exc:
            self._fail(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a defect, counted by the task as internal
            self._fail(exc)
            return
        tell = unpacker.tell()
        if conn.held:
            server._hold(conn, self.fed - tell)
        if tell != self._started_tell:  # a new request began with these bytes
            self._started_at, self._started_tell = self._last_active, tell

    def _on_eof(self) -> None:
        if self._busy or self._woken or self._ended:
            return  # the task looks again when it is done
        if self.unpacker.tell() < self.fed:
            left = self.fed - self.unpacker.tell()
            self._fail(
                FrameError("truncated", f"connection closed inside a request ({left} bytes)")
            )
            return
        error = self.conn.error
        if error is not None:
            self._fail(error if isinstance(error, ConnectionError) else ConnectionError(error))
            return
        self._end()

    # -- deadlines --------------------------------------------------------------------------

    def _arm(self, when: float) -> None:
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._ended or self._failure is not None:
            return
        limits = self.server.limits
        now = self._loop.time()
        if self._busy or self._woken:
            self._arm(now + limits.idle_timeout)
            return
        due = self._last_active + limits.idle_timeout
        partial = self.fed > self.unpacker.tell()
        if partial:
            due = min(due, self._started_at + limits.request_deadline)
        if now < due:
            self._arm(due)
            return
        if partial:
            deadline = limits.request_deadline
            self._fail(
                ConnectionRefused("request_deadline", f"request not complete within {deadline:g} s")
            )
            return
        log.info("forward: closing idle connection from %s", self.conn.peer)
        self._end()

    # -- waking the task --------------------------------------------------------------------

    def _wake(self) -> None:
        self._woken = True
        self._notify()

    def _end(self) -> None:
        self._ended = True
        self._notify()

    def _fail(self, exc: BaseException) -> None:
        self._failure = exc
        self.conn.pause_reading()
        self._notify()

    def _notify(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
