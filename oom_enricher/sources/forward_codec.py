"""Decoding of Fluentd Forward protocol v1 requests into (tag, entries, options).

Strings are decoded with `surrogateescape` so that the binary msgpack Fluentd packs into
`str32` (PackedForward) and the raw random bytes Fluent Bit packs as `str` survive: they
are turned back into the original bytes with the same error handler.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgpack

SURROGATE = "surrogateescape"
SIGNAL_LOGS = 0


class FrameError(Exception):
    """A request that cannot be decoded; the connection that sent it is closed."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EventTime:
    """Forward EventTime (ext type 0): seconds and nanoseconds since the epoch."""

    seconds: int
    nanoseconds: int

    def to_float(self) -> float:
        return self.seconds + self.nanoseconds / 1e9


def ext_hook(code: int, data: bytes) -> Any:
    if code == 0 and len(data) == 8:
        sec, nsec = struct.unpack(">II", data)
        return EventTime(sec, nsec)
    return msgpack.ExtType(code, data)


def new_unpacker(max_buffer_size: int) -> msgpack.Unpacker:
    """Streaming unpacker for one connection; frames larger than the buffer raise BufferFull."""
    return msgpack.Unpacker(
        raw=False,
        unicode_errors=SURROGATE,
        ext_hook=ext_hook,
        strict_map_key=False,
        max_buffer_size=max_buffer_size,
    )


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", SURROGATE)
    raise TypeError(type(value).__name__)


@dataclass(slots=True)
class ForwardRequest:
    """One decoded request. `entries` holds (epoch seconds, record map) of log events."""

    tag: str
    entries: list[tuple[float, dict]]
    options: dict = field(default_factory=dict)
    mode: str = "message"
    skipped: int = 0  # entries dropped: negative time, non-map record, non-log signal

    @property
    def chunk(self) -> Any:
        return self.options.get("chunk")


def event_seconds(value: Any, now: float | None = None) -> float | None:
    """Event time as float seconds; None for values the protocol says to skip."""
    if isinstance(value, list) and value:  # Fluent Bit >= 2.1: [time, metadata]
        value = value[0]
    if isinstance(value, EventTime):
        seconds = value.to_float()
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        return None
    if seconds < 0:
        return None  # OTLP group markers (-1/-2) and nonsense
    if seconds > 1e11:
        seconds /= 1000.0  # npm fluent-logger `milliseconds: true` sends epoch milliseconds
    if seconds == 0:
        return time.time() if now is None else now
    return seconds


def decompress_entries(payload: bytes, limit: int) -> bytes:
    """gunzip possibly several concatenated members, refusing output beyond `limit` bytes."""
    out = bytearray()
    data = payload
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit - len(out) + 1)
        except zlib.error as exc:
            raise FrameError("bad_compression", f"gzip: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise FrameError("oversized", f"decompressed entries exceed {limit} bytes")
        if not inflater.eof:
            raise FrameError("bad_compression", "gzip stream truncated")
        data = inflater.unused_data
        # Trailing zero padding after the last member is tolerated, as gzip(1) does.
        if data and not data.strip(b"\x00"):
            break
    return bytes(out)


def _collect(
    raw_entries: Any, request: ForwardRequest, now: float, *, packed: bool = False
) -> None:
    for entry in raw_entries:
        if not isinstance(entry, list) or len(entry) < 2:
            raise FrameError("malformed", f"{request.mode} entry is not [time, record]")
        seconds = event_seconds(entry[0], now)
        record = entry[1]
        if seconds is None or not isinstance(record, dict):
            request.skipped += 1
            continue
        request.entries.append((seconds, record))


def _unpack_packed(payload: bytes, limit: int) -> msgpack.Unpacker:
    inner = msgpack.Unpacker(
        raw=False,
        unicode_errors=SURROGATE,
        ext_hook=ext_hook,
        strict_map_key=False,
        max_buffer_size=max(limit, len(payload), 1),
    )
    inner.feed(payload)
    return inner


def decode_request(obj: Any, *, max_decompressed: int, now: float | None = None) -> ForwardRequest:
    """Turn one top-level msgpack object into a ForwardRequest, or raise FrameError."""
    if not isinstance(obj, list) or len(obj) < 2:
        raise FrameError("malformed", f"request is {type(obj).__name__}, not an array")
    tag = obj[0]
    if isinstance(tag, bytes):
        tag = tag.decode("utf-8", SURROGATE)
    if not isinstance(tag, str):
        raise FrameError("malformed", "tag is not a string")
    now = time.time() if now is None else now
    second = obj[1]
    if isinstance(second, list) and second and not isinstance(second[0], list):
        # Message mode whose time is Fluent Bit's [time, metadata] pair.
        return _message(tag, obj, now)
    if isinstance(second, list):
        options = _options(obj, 2)
        request = ForwardRequest(tag, [], options, "forward")
        if _signal(options) == SIGNAL_LOGS:
            _collect(second, request, now)
        else:
            request.skipped = len(second)
        return request
    if isinstance(second, bytes | str):
        options = _options(obj, 2)
        payload = as_bytes(second)
        mode = "packed_forward"
        if str(options.get("compressed", "")).lower() == "gzip":
            payload = decompress_entries(payload, max_decompressed)
            mode = "compressed_packed_forward"
        elif str(options.get("compressed", "")).lower() == "zstd":
            raise FrameError("bad_compression", "zstd compression is not supported")
        request = ForwardRequest(tag, [], options, mode)
        if _signal(options) != SIGNAL_LOGS:
            return request
        try:
            _collect(_unpack_packed(payload, max_decompressed), request, now, packed=True)
        except (msgpack.UnpackException, ValueError) as exc:
            raise FrameError("malformed", f"packed entries: {exc}") from None
        return request
    return _message(tag, obj, now)


def _message(tag: str, obj: list, now: float) -> ForwardRequest:
    if len(obj) < 3:
        raise FrameError("malformed", "message mode needs [tag, time, record]")
    options = _options(obj, 3)
    request = ForwardRequest(tag, [], options, "message")
    seconds = event_seconds(obj[1], now)
    if _signal(options) != SIGNAL_LOGS or seconds is None or not isinstance(obj[2], dict):
        request.skipped = 1
    else:
        request.entries.append((seconds, obj[2]))
    return request


def _options(obj: list, index: int) -> dict:
    if len(obj) <= index or obj[index] is None:
        return {}
    if not isinstance(obj[index], dict):
        raise FrameError("malformed", "option is not a map")
    return obj[index]


def _signal(options: dict) -> int:
    signal = options.get("fluent_signal", SIGNAL_LOGS)
    return signal if isinstance(signal, int) else SIGNAL_LOGS


def ack_bytes(chunk: Any) -> bytes:
    """The `{"ack": chunk}` response, echoing the chunk id byte for byte."""
    return msgpack.packb({"ack": chunk}, unicode_errors=SURROGATE)
