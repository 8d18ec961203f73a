"""Fuzzing the forward port of a running `serve`: whatever a client sends, no exception escapes
uncounted. Every error is counted in errors_total by kind and logged at most once per
interval per kind; nothing reaches the event loop's exception handler; serve keeps acking."""

import asyncio
import gzip
import logging
import socket
import struct
import threading
from dataclasses import dataclass

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import from_dict

pytestmark = pytest.mark.integration

# What a refusal of bad input may be counted as; "handler" or "internal" would be a defect.
REFUSAL_KINDS = {
    "malformed",
    "truncated",
    "too_many_entries",
    "bad_compression",
    "decompression_limit",
    "oversized",
    "bad_time",
    "connection_lost",
    "long_line",
}


@dataclass(frozen=True)
class Pairs:
    """A msgpack map written pair by pair, so that keys may be arrays or maps."""

    items: tuple


def encode(node) -> bytes:
    if isinstance(node, Pairs):
        head = bytes([0x80 | len(node.items)]) if len(node.items) < 16 else b"\xde"
        if len(node.items) >= 16:
            head += struct.pack(">H", len(node.items))
        return head + b"".join(encode(k) + encode(v) for k, v in node.items)
    if isinstance(node, list):
        head = (
            bytes([0x90 | len(node)]) if len(node) < 16 else b"\xdc" + struct.pack(">H", len(node))
        )
        return head + b"".join(encode(item) for item in node)
    if isinstance(node, RawExt):  # any code, -1 (msgpack timestamps) and negatives included
        return b"\xc7" + bytes([len(node.data), node.code & 0xFF]) + node.data
    if isinstance(node, RawStr):
        return msgpack.packb(node.data, use_bin_type=False)  # bytes as `str`, as Fluent Bit does
    return msgpack.packb(node)


@dataclass(frozen=True)
class RawStr:
    data: bytes


@dataclass(frozen=True)
class RawExt:
    code: int
    data: bytes


EVENT_TIME = st.builds(
    lambda s, n: msgpack.ExtType(0, struct.pack(">II", s, n)),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
)
TIMES = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    EVENT_TIME,
    st.builds(lambda t: [t, {}], EVENT_TIME),
    st.sampled_from(["inf", "nan", "1e20", "9" * 400]),
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    TIMES,
    st.text(max_size=40),
    st.binary(max_size=40),
    st.builds(RawStr, st.binary(max_size=40)),
    st.builds(RawExt, st.integers(-128, 127), st.binary(max_size=12)),
)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.builds(lambda kv: Pairs(tuple(kv)), st.lists(st.tuples(inner, inner), max_size=5)),
    ),
    max_leaves=25,
)
KEYS = st.sampled_from(
    ["log", "message", "msg", "MESSAGE", "host", "hostname", "_HOSTNAME", "time", "sequence",
     "priority", "sec", "usec", "pri", "ident", "pid", "__REALTIME_TIMESTAMP", "_TRANSPORT",
     "_SOURCE_MONOTONIC_TIMESTAMP", "SYSLOG_FACILITY", "__CURSOR", "_BOOT_ID"]
)  # fmt: skip
RECORDS = st.builds(
    lambda kv: Pairs(tuple(kv)), st.lists(st.tuples(st.one_of(KEYS, TREES), TREES), max_size=8)
)
OPTIONS = st.builds(
    lambda kv: Pairs(tuple(kv)),
    st.lists(
        st.tuples(st.sampled_from(["chunk", "size", "compressed", "fluent_signal"]), TREES),
        max_size=4,
    ),
)
ENTRIES = st.lists(st.tuples(TIMES, st.one_of(RECORDS, TREES)).map(list), max_size=6)


def packed(entries: list, gzipped: bool) -> bytes:
    raw = b"".join(encode(e) for e in entries)
    return gzip.compress(raw) if gzipped else raw


REQUESTS = st.one_of(
    st.builds(lambda t, r, o: encode(["kern", t, r, o]), TIMES, RECORDS, OPTIONS),
    st.builds(lambda e, o: encode(["kern", e, o]), ENTRIES, OPTIONS),
    st.builds(lambda e, z, o: encode(["kern", packed(e, z), o]), ENTRIES, st.booleans(), OPTIONS),
    st.builds(encode, TREES),
    st.binary(max_size=200),
    st.builds(lambda n: b"[" * n, st.integers(1, 50_000)),
    st.builds(lambda n: b"\x91" * n, st.integers(1, 50_000)),
)


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kinds: list[str] = []
        self.unkinded: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        kind = getattr(record, "error.type", None)
        if kind is None:
            self.unkinded.append(record.getMessage())
        else:
            self.kinds.append(kind)


class RunningServe:
    """serve in a thread of its own, so that the test talks to it with blocking sockets."""

    def __init__(self) -> None:
        config = from_dict(
            {
                "http": {"port": None},
                "sources": {"forward": {"port": 0}},
                "limits": {"log_interval": 3600, "idle_timeout": 30, "request_deadline": 30},
            }
        )
        self.app = ServeApp(config, sinks=[])
        self.loop = asyncio.new_event_loop()
        self.loop_errors: list[dict] = []
        self.loop.set_exception_handler(lambda _, context: self.loop_errors.append(context))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> "RunningServe":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.app.start(), self.loop).result(60)
        self.port = self.app.forward.port
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.app.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)

    def exchange(self, request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
            try:
                s.sendall(request)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # refused mid-send
            received = b""
            while True:
                try:
                    data = s.recv(65536)
                except OSError:
                    return received
                if not data:
                    return received
                received += data

    def errors_by_kind(self) -> dict[str, float]:
        family = self.app.metrics._families.get("errors")
        out: dict[str, float] = {}
        for labels, value in (family.values if family else {}).items():
            kind = dict(labels)["kind"]
            out[kind] = out.get(kind, 0) + value
        return out


@pytest.fixture(scope="module")
def serve():
    recorder = Recorder()
    logger = logging.getLogger("oom_enricher")
    with RunningServe() as running:
        logger.addHandler(recorder)  # after start-up, whose warnings are not errors
        running.recorder = recorder
        try:
            yield running
        finally:
            logger.removeHandler(recorder)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(request=REQUESTS)
def test_fuzzed_forward_requests_are_all_counted_none_escapes(serve, request):
    serve.exchange(request)
    assert serve.loop_errors == []
    kinds = serve.errors_by_kind()
    assert set(kinds) <= REFUSAL_KINDS, kinds
    logged = serve.recorder.kinds
    assert len(logged) == len(set(logged)), logged  # at most once per kind per interval
    assert set(logged) <= set(kinds)
    assert serve.recorder.unkinded == []


def test_after_the_fuzzing_serve_still_acks(serve):
    entries = msgpack.packb([1790000000, {"host": "edge-1", "log": "after"}])
    reply = serve.exchange(msgpack.packb(["kern", entries, {"chunk": "still-here"}]))
    assert msgpack.unpackb(reply) == {"ack": "still-here"}
