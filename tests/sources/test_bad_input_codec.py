"""Bad and hostile input at the decoding layer: refused within bounds, or kept with a fallback."""

import gzip
import math
import struct
import threading
import tracemalloc
from datetime import UTC, datetime

import msgpack
import pytest

from oom_enricher.counters import Tally
from oom_enricher.sources.forward_codec import (
    UNDECODABLE,
    EventTime,
    FrameError,
    ack_bytes,
    decode_request,
    new_unpacker,
    undecodable,
)
from oom_enricher.sources.limits import SourceLimits, from_table
from oom_enricher.sources.record_shapes import ShapeOptions, from_record

MiB = 1024 * 1024
NOW = 1_790_000_000.0
DEFAULTS = SourceLimits()


def decode(obj, **kwargs):
    kwargs.setdefault("max_decompressed", DEFAULTS.max_decompressed_bytes)
    return decode_request(obj, now=NOW, **kwargs)


def peak_of(call) -> tuple[object, int]:
    """(what `call` returned or raised, peak bytes allocated by Python while it ran)."""
    tracemalloc.start()
    try:
        outcome = call()
    except FrameError as exc:
        outcome = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return outcome, peak


def test_gzip_bomb_is_refused_within_bounded_memory():
    # 32 MiB of 1 KiB records gzip to 64 KiB: a ratio of 500, 2.5 times the cap.
    entry = msgpack.packb([1790000000, {"log": "A" * 1000}])
    payload = gzip.compress(entry * (32 * MiB // len(entry)), 9)
    assert len(payload) < 80 * 1024
    outcome, peak = peak_of(lambda: decode(["t", payload, {"compressed": "gzip"}]))
    assert isinstance(outcome, FrameError) and outcome.kind == "decompression_limit"
    # The ratio cap stops inflating at 200 x 64 KiB; nothing near the 32 MiB it expands to.
    assert peak < 40 * MiB


def test_gzip_within_the_ratio_cap_decodes():
    entries = b"".join(
        msgpack.packb([1790000000 + n, {"log": f"[{n:8d}] line {n * 7919 % 100003}"}])
        for n in range(5000)
    )
    request = decode(["t", gzip.compress(entries), {"compressed": "gzip"}])
    assert len(request.entries) == 5000
    assert request.entries[-1] == (1790004999.0, {"log": "[    4999] line 85896"})


def test_entry_amplification_forward_frame_is_capped_at_the_array_header():
    # A 31 MiB Forward-mode frame of `[0,{}]` entries: 10.8 million lists if decoded.
    count = 31 * MiB // 3
    frame = b"\x92\xa1t\xdd" + struct.pack(">I", count) + b"\x92\x00\x80" * count
    unpacker = new_unpacker(DEFAULTS.max_frame_bytes, DEFAULTS.max_entries_per_request)
    unpacker.feed(frame)

    def next_request():
        try:
            return next(unpacker)
        except UNDECODABLE as exc:
            raise undecodable(exc) from None

    outcome, peak = peak_of(next_request)
    assert isinstance(outcome, FrameError) and outcome.kind == "too_many_entries"
    assert peak < 4 * MiB


def test_entry_amplification_packed_entries_are_counted():
    payload = b"\x92\x00\x80" * 1001
    with pytest.raises(FrameError) as err:
        decode(["t", payload], max_entries=1000)
    assert err.value.kind == "too_many_entries"
    assert len(decode(["t", payload[:-3]], max_entries=1000).entries) == 1000


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e20, -math.inf])
def test_bad_forward_times_fall_back_to_receive_time(bad):
    request = decode(["t", [[bad, {"log": "a"}], [1790000001, {"log": "b"}]]])
    if bad == -math.inf:  # negative: the protocol's skipped markers
        assert (request.entries, request.skipped) == ([(1790000001.0, {"log": "b"})], 1)
        return
    assert request.entries == [(NOW, {"log": "a"}), (1790000001.0, {"log": "b"})]
    assert request.bad_times == 1
    message = decode(["t", bad, {"log": "c"}])
    assert (message.entries, message.bad_times) == ([(NOW, {"log": "c"})], 1)


def test_inf_time_with_time_key_does_not_loop():
    counters = Tally()
    shipped = []
    worker = threading.Thread(
        target=lambda: shipped.append(
            from_record(
                {"log": "kernel: x", "time": "inf"},
                event_time=NOW,
                options=ShapeOptions(time_key="time"),
                counters=counters,
            )
        ),
        daemon=True,
    )
    worker.start()
    worker.join(60)  # a liveness bound: the old loop never returned
    assert not worker.is_alive()
    assert shipped[0].time == datetime.fromtimestamp(NOW, UTC)
    assert counters.get("errors", {"source": "forward", "kind": "bad_time"}) == 1


@pytest.mark.parametrize(
    "record",
    [
        {"log": "x", "time": "nan"},
        {"log": "x", "time": 1e20},
        {"log": "x", "time": "-inf"},
        {"log": "x", "time": "9999-12-31T23:59:59-01:00"},
        {"MESSAGE": "x", "__REALTIME_TIMESTAMP": "9" * 400},
        {"MESSAGE": "x", "__REALTIME_TIMESTAMP": 10**400},
    ],
)
def test_bad_record_times_fall_back_and_are_counted(record):
    counters = Tally()
    options = ShapeOptions(time_key="time") if "time" in record else None
    shipped = from_record(record, event_time=NOW, options=options, counters=counters)
    assert shipped.time == datetime.fromtimestamp(NOW, UTC)
    assert counters.get("errors", {"source": "forward", "kind": "bad_time"}) == 1


def test_plausible_record_times_in_every_unit():
    for value in (1790000000, 1790000000123, 1790000000123456, 1790000000123456789):
        shipped = from_record({"log": "x", "time": value}, options=ShapeOptions(time_key="time"))
        assert shipped.time.year == 2026


def test_eventtime_as_chunk_id_is_echoed_byte_for_byte():
    chunk = EventTime(1790000000, 7)
    wire = msgpack.ExtType(0, struct.pack(">II", 1790000000, 7))
    assert ack_bytes(chunk) == msgpack.packb({"ack": wire})


@pytest.mark.parametrize(
    "raw",
    [
        b"\x93\xa1t\x01\x81\x91\x01\x01",  # ["t", 1, {[1]: 1}]: an array as a map key
        b"\x93\xa1t\x01\x81\x81\x01\x01\x01",  # ["t", 1, {{1: 1}: 1}]: a map as a map key
    ],
)
def test_unhashable_map_keys_are_a_malformed_request(raw):
    unpacker = new_unpacker(MiB)
    unpacker.feed(raw)
    with pytest.raises(UNDECODABLE) as err:
        next(unpacker)
    refusal = undecodable(err.value)
    assert refusal.kind == "malformed" and "key" in refusal.reason


def test_limits_table_is_checked():
    assert from_table({"max_connections": 10, "idle_timeout": 5}).idle_timeout == 5.0
    with pytest.raises(ValueError, match="unknown limits"):
        from_table({"max_conections": 10})
    with pytest.raises(ValueError, match="positive"):
        from_table({"request_deadline": 0})
    with pytest.raises(ValueError, match="number"):
        from_table({"max_connections": "many"})


def test_forward_message_longer_than_the_line_limit_is_cut_and_counted():
    counters = Tally()
    options = ShapeOptions(max_message=1024)
    shipped = from_record({"log": "x" * 5_000_000}, options=options, counters=counters)
    assert shipped.message == "x" * 1024
    assert counters.get("errors", {"source": "forward", "kind": "long_line"}) == 1
