"""Decoding of Fluentd Forward protocol v1 requests into (tag, entries, options).

Strings are decoded with `surrogateescape` so that the binary msgpack Fluentd packs into
`str32` (PackedForward) and the raw random bytes Fluent Bit packs as `str` survive: they
are turned back into the original bytes with the same error handler.
"""

from __future__ import annotations

import math
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack

from oom_enricher.sources.epoch import epoch_seconds

SURROGATE = "surrogateescape"
SIGNAL_LOGS = 0
DEFAULT_MAX_ENTRIES = 200_000
DEFAULT_MAX_RATIO = 200.0
DEFAULT_MAX_OBJECTS = 2_000_000
INFLATE_STEP = 1024 * 1024  # bytes inflated at a time, fed to the entry decoder
RATIO_FLOOR = 1024 * 1024  # small requests may always inflate this far


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


class ObjectBudget:
    """The objects one request may decode into: the elements of its arrays and maps, and the
    containers themselves.

    Bytes alone do not bound memory: a one-byte empty array becomes a 56-byte list, so a
    29 MiB frame of nested empty arrays decodes into 2.2 GB, and one of two-letter strings
    into 0.8 GB. msgpack calls the hooks as each container completes, so a refusal comes
    while the request is still being built. The caller resets the budget after each whole
    request (a request decoded across several reads keeps counting)."""

    __slots__ = ("limit", "left")

    def __init__(self, limit: int = DEFAULT_MAX_OBJECTS) -> None:
        self.limit = limit
        self.left = limit

    def reset(self) -> None:
        self.left = self.limit

    def list_hook(self, items: list) -> list:
        self.left -= len(items) + 1
        if self.left < 0:
            self._refuse()
        return items

    def map_hook(self, mapping: dict) -> dict:
        self.left -= 2 * len(mapping) + 1
        if self.left < 0:
            self._refuse()
        return mapping

    def hooks(self) -> dict[str, Callable[[Any], Any]]:
        """The msgpack unpacker options that count against this budget."""
        return {"list_hook": self.list_hook, "object_hook": self.map_hook}

    def _refuse(self) -> None:
        self.left = self.limit  # the unpacker is dropped with its connection or request
        raise FrameError("too_many_objects", f"request decodes into more than {self.limit} objects")


def unpack_bounded(data: bytes, max_objects: int = DEFAULT_MAX_OBJECTS, /, **options: Any) -> Any:
    """`msgpack.unpackb(data, **options)` within an ObjectBudget (FrameError past it)."""
    return msgpack.unpackb(data, **ObjectBudget(max_objects).hooks(), **options)


def new_unpacker(
    max_buffer_size: int,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    budget: ObjectBudget | None = None,
) -> msgpack.Unpacker:
    """Streaming unpacker for one connection; frames larger than the buffer raise BufferFull,
    arrays and maps longer than `max_entries` raise ValueError as soon as their header is
    read (a 31 MiB frame of `[0,{}]` entries would otherwise become 10 million lists), and
    a request that decodes into more objects than `budget` allows raises FrameError."""
    hooks = budget.hooks() if budget is not None else {}
    return msgpack.Unpacker(
        raw=False,
        unicode_errors=SURROGATE,
        ext_hook=ext_hook,
        strict_map_key=False,
        max_buffer_size=max_buffer_size,
        max_array_len=max_entries,
        max_map_len=max_entries,
        **hooks,
    )


def undecodable(exc: Exception) -> FrameError:
    """What msgpack (or a map key that is an array or a map) raised, as a refusal."""
    text = str(exc)
    if "exceeds max_array_len" in text or "exceeds max_map_len" in text:
        return FrameError("too_many_entries", text)
    if isinstance(exc, TypeError):
        return FrameError("malformed", f"map key that cannot be a key: {text}")
    return FrameError("malformed", f"undecodable msgpack: {text}")


UNDECODABLE = (msgpack.UnpackException, ValueError, TypeError, RecursionError)


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
    bad_times: int = 0  # entries whose time was not finite or out of range: receive time
    selection: Any = None  # what a `select` hook chose of PackedForward entries
    offsets: list[int] = field(default_factory=list)  # byte offset of each selected entry

    @property
    def chunk(self) -> Any:
        return self.options.get("chunk")

    @property
    def unread(self) -> int:
        """Entries the `select` hook left undecoded (they cannot matter)."""
        return self.selection.unread if self.selection is not None else 0


def event_seconds(value: Any, now: float | None = None) -> float | None:
    """Event time as float seconds; None for values the protocol says to skip.

    A time that is not finite or out of range is `math.nan`: the caller uses the receive time.
    """
    if isinstance(value, list) and value:  # Fluent Bit >= 2.1: [time, metadata]
        value = value[0]
    if isinstance(value, EventTime):
        return value.to_float() or (time.time() if now is None else now)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value < 0:
        return None  # OTLP group markers (-1/-2); NaN compares false and is caught below
    if value == 0:
        return time.time() if now is None else now
    seconds = epoch_seconds(value)  # npm fluent-logger `milliseconds: true` sends ms
    return math.nan if seconds is None else seconds


def inflate(payload: bytes, limit: int) -> Iterator[bytes]:
    """gunzip possibly several concatenated members, a step at a time, so that memory holds
    one step and not the whole output; refuses output beyond `limit` bytes."""
    data = payload
    produced = 0
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while True:
            try:
                piece = inflater.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                raise FrameError("bad_compression", f"gzip: {exc}") from None
            produced += len(piece)
            if produced > limit:
                raise FrameError("decompression_limit", f"inflates beyond {limit} bytes")
            if piece:
                yield piece
            data = inflater.unconsumed_tail
            if inflater.eof or (not piece and not data):
                break
        if not inflater.eof:
            raise FrameError("bad_compression", "gzip stream truncated")
        data = inflater.unused_data
        # Trailing zero padding after the last member is tolerated, as gzip(1) does.
        if data and not data.strip(b"\x00"):
            break


def decompress_entries(payload: bytes, limit: int) -> bytes:
    """The whole inflated payload (at most `limit` bytes)."""
    return b"".join(inflate(payload, limit))


def inflate_limit(compressed: int, max_decompressed: int, max_ratio: float) -> int:
    return int(min(max_decompressed, max(compressed * max_ratio, RATIO_FLOOR)))


def _collect(
    raw_entries: Any,
    request: ForwardRequest,
    now: float,
    max_entries: int,
    offsets: list[int] | None = None,
) -> None:
    for index, entry in enumerate(raw_entries):
        if not isinstance(entry, list) or len(entry) < 2:
            raise FrameError("malformed", f"{request.mode} entry is not [time, record]")
        if len(request.entries) + request.skipped >= max_entries:
            raise FrameError("too_many_entries", f"more than {max_entries} entries in a request")
        seconds = event_seconds(entry[0], now)
        record = entry[1]
        if seconds is None or not isinstance(record, dict):
            request.skipped += 1
            continue
        if seconds != seconds:  # NaN: not finite or out of range
            request.bad_times += 1
            seconds = now
        request.entries.append((seconds, record))
        if offsets is not None:
            request.offsets.append(offsets[index])


def _packed_entries(
    pieces: Iterator[bytes], buffer: int, max_entries: int, max_objects: int
) -> Iterator[Any]:
    # one budget for all entries: the request holds them together
    inner = new_unpacker(max(buffer, 1), max_entries, ObjectBudget(max_objects))
    fed = 0
    try:
        for piece in pieces:
            inner.feed(piece)
            fed += len(piece)
            yield from inner
    except msgpack.BufferFull:
        raise FrameError("oversized", f"a packed entry is larger than {buffer} bytes") from None
    except UNDECODABLE as exc:
        raise undecodable(exc) from None
    if inner.tell() < fed:
        raise FrameError("malformed", "packed entries end inside an entry")


# Chooses the PackedForward entries worth decoding: (payload, tag) -> an object with `spans`
# (byte ranges of the entries to decode, in order) and `unread` (entries left undecoded).
Select = Callable[[bytes, str], Any]


def decode_request(
    obj: Any,
    *,
    max_decompressed: int,
    now: float | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    max_ratio: float = DEFAULT_MAX_RATIO,
    select: Select | None = None,
    max_objects: int = DEFAULT_MAX_OBJECTS,
) -> ForwardRequest:
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
            _collect(second, request, now, max_entries)
        else:
            request.skipped = len(second)
        return request
    if isinstance(second, (bytes, str)):  # noqa: UP038 - a tuple: no union built per call
        options = _options(obj, 2)
        payload = as_bytes(second)
        compression = str(options.get("compressed", "")).lower()
        if compression == "zstd":
            raise FrameError("bad_compression", "zstd compression is not supported")
        mode = "compressed_packed_forward" if compression == "gzip" else "packed_forward"
        request = ForwardRequest(tag, [], options, mode)
        if _signal(options) != SIGNAL_LOGS:
            return request
        limit = max(max_decompressed, len(payload))
        pieces: Iterator[bytes] = iter((payload,))
        if compression == "gzip":
            limit = inflate_limit(len(payload), max_decompressed, max_ratio)
            pieces = inflate(payload, limit)
        if select is not None:
            inflated = b"".join(pieces)
            _collect_selected(inflated, request, now, limit, max_entries, select, max_objects)
            return request
        entries = _packed_entries(pieces, limit, max_entries, max_objects)
        _collect(entries, request, now, max_entries)
        return request
    return _message(tag, obj, now)


def _collect_selected(
    payload: bytes,
    request: ForwardRequest,
    now: float,
    limit: int,
    max_entries: int,
    select: Select,
    max_objects: int,
) -> None:
    """Only the entries `select` chose are decoded (the payload is whole: inflated within
    `limit`)."""
    try:
        selection = select(payload, request.tag)
    except UNDECODABLE as exc:  # entry boundaries are found by msgpack too
        raise undecodable(exc) from None
    collect_selection(payload, request, now, limit, max_entries, selection, max_objects)


def collect_selection(
    payload: bytes,
    request: ForwardRequest,
    now: float,
    limit: int,
    max_entries: int,
    selection: Any,
    max_objects: int = DEFAULT_MAX_OBJECTS,
) -> None:
    """Decodes the entries of `selection` (byte spans of payload) into request."""
    request.selection = selection
    if not selection.spans:
        return
    if len(selection.spans) > max_entries:
        raise FrameError("too_many_entries", f"more than {max_entries} entries in a request")
    chosen = payload
    if selection.unread:
        chosen = b"".join(payload[start:end] for start, end in selection.spans)
    offsets = [start for start, _ in selection.spans]
    entries = _packed_entries(iter((chosen,)), limit, max_entries, max_objects)
    _collect(entries, request, now, max_entries, offsets)


def plain_packed(obj: Any) -> tuple[str, bytes, dict] | None:
    """(tag, entries, options) of an uncompressed PackedForward request of log entries in
    the usual types (what Fluent Bit sends); None for anything else, which `decode_request`
    serves in full."""
    if type(obj) is not list or len(obj) < 2:
        return None
    tag, payload = obj[0], obj[1]
    if type(tag) is not str or type(payload) is not bytes:
        return None
    options = obj[2] if len(obj) > 2 else None
    if options is None:
        options = {}
    elif type(options) is not dict or options.get("compressed") is not None:
        return None
    if _signal(options) != SIGNAL_LOGS:
        return None
    return tag, payload, options


def _message(tag: str, obj: list, now: float) -> ForwardRequest:
    if len(obj) < 3:
        raise FrameError("malformed", "message mode needs [tag, time, record]")
    options = _options(obj, 3)
    request = ForwardRequest(tag, [], options, "message")
    seconds = event_seconds(obj[1], now)
    if _signal(options) != SIGNAL_LOGS or seconds is None or not isinstance(obj[2], dict):
        request.skipped = 1
        return request
    if seconds != seconds:  # NaN: not finite or out of range
        request.bad_times = 1
        seconds = now
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


def _pack_ext(value: Any) -> Any:
    if isinstance(value, EventTime):
        return msgpack.ExtType(0, struct.pack(">II", value.seconds, value.nanoseconds))
    raise TypeError(f"cannot pack {type(value).__name__}")


def ack_bytes(chunk: Any) -> bytes:
    """The `{"ack": chunk}` response, echoing the chunk id byte for byte (whatever msgpack
    value a sender used as the id, an EventTime included)."""
    return msgpack.packb({"ack": chunk}, unicode_errors=SURROGATE, default=_pack_ext)


class AckPacker:
    """`ack_bytes` with one reused packer (half the cost); for one thread only."""

    def __init__(self) -> None:
        self._packer = msgpack.Packer(unicode_errors=SURROGATE, default=_pack_ext)

    def __call__(self, chunk: Any) -> bytes:
        try:
            return self._packer.pack({"ack": chunk})
        except Exception:
            self._packer.reset()  # a failed pack may leave bytes behind
            raise
