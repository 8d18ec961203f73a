import gzip
import struct

import msgpack
import pytest

from oom_enricher.sources.forward_codec import (
    EventTime,
    FrameError,
    ack_bytes,
    decode_request,
    decompress_entries,
    new_unpacker,
)

LIMIT = 1 << 20


def et(sec: int, nsec: int = 0) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", sec, nsec))


def unpack(raw: bytes):
    unpacker = new_unpacker(LIMIT)
    unpacker.feed(raw)
    return list(unpacker)


def entries_bytes(*entries) -> bytes:
    return b"".join(msgpack.packb(e) for e in entries)


def test_message_mode_with_eventtime_fixext8():
    raw = msgpack.packb(["kern", et(1700000000, 500_000_000), {"log": "a"}])
    assert raw[6:8] == b"\xd7\x00"
    (obj,) = unpack(raw)
    req = decode_request(obj, max_decompressed=LIMIT)
    assert (req.tag, req.mode, req.entries) == ("kern", "message", [(1700000000.5, {"log": "a"})])


def test_eventtime_ext8_form_is_accepted():
    raw = b"\x93\xa4kern" + b"\xc7\x08\x00" + struct.pack(">II", 1700000001, 0) + b"\x81\xa1a\x01"
    (obj,) = unpack(raw)
    assert obj[1] == EventTime(1700000001, 0)
    req = decode_request(obj, max_decompressed=LIMIT)
    assert req.entries == [(1700000001.0, {"a": 1})]


def test_forward_mode_with_integer_float_and_metadata_times():
    raw = msgpack.packb(
        ["t", [[1700000000, {"m": 1}], [1700000000.25, {"m": 2}], [[et(1700000002), {}], {"m": 3}]]]
    )
    req = decode_request(unpack(raw)[0], max_decompressed=LIMIT)
    assert req.mode == "forward"
    assert req.entries == [
        (1700000000.0, {"m": 1}),
        (1700000000.25, {"m": 2}),
        (1700000002.0, {"m": 3}),
    ]


def test_packed_forward_as_str32_the_way_fluentd_sends_it():
    payload = entries_bytes([et(1700000000), {"log": "x"}], [et(1700000001), {"log": "y"}])
    header = b"\x93\xa3tag\xdb" + struct.pack(">I", len(payload))
    opts = msgpack.packb({"size": 2, "compressed": "text", "chunk": "Y2h1bmsK\n"})
    req = decode_request(unpack(header + payload + opts)[0], max_decompressed=LIMIT)
    assert req.mode == "packed_forward"
    assert [r["log"] for _, r in req.entries] == ["x", "y"]
    assert req.chunk == "Y2h1bmsK\n"
    assert msgpack.unpackb(ack_bytes(req.chunk)) == {"ack": "Y2h1bmsK\n"}


def test_compressed_packed_forward_with_two_gzip_members():
    first = gzip.compress(entries_bytes([1700000000, {"n": 1}]))
    second = gzip.compress(entries_bytes([1700000001, {"n": 2}]))
    raw = msgpack.packb(["t", first + second, {"compressed": "gzip", "chunk": "abc"}])
    req = decode_request(unpack(raw)[0], max_decompressed=LIMIT)
    assert req.mode == "compressed_packed_forward"
    assert req.entries == [(1700000000.0, {"n": 1}), (1700000001.0, {"n": 2})]


def test_gzip_bomb_is_refused():
    bomb = gzip.compress(b"\x00" * (LIMIT * 4))
    with pytest.raises(FrameError) as err:
        decompress_entries(bomb, LIMIT)
    assert err.value.kind == "decompression_limit"


def test_non_log_signals_and_negative_times_are_skipped():
    metrics = msgpack.packb(["t", [[1700000000, {"m": 1}]], {"fluent_signal": 1}])
    req = decode_request(unpack(metrics)[0], max_decompressed=LIMIT)
    assert (req.entries, req.skipped) == ([], 1)
    markers = msgpack.packb(["t", [[-1, {"g": 1}], [1700000000, {"m": 1}], [-2, {}]]])
    req = decode_request(unpack(markers)[0], max_decompressed=LIMIT)
    assert (req.entries, req.skipped) == ([(1700000000.0, {"m": 1})], 2)


def test_non_utf8_keys_survive_as_surrogates():
    raw = msgpack.packb(["t", 1700000000, {b"\xff\xfekey": "v"}], use_bin_type=False)
    req = decode_request(unpack(raw)[0], max_decompressed=LIMIT)
    ((_, record),) = req.entries
    assert list(record) == ["\udcff\udcfekey"]


@pytest.mark.parametrize("obj", [42, "text", ["t"], [1, 2, 3], ["t", 1700000000, {}, "opt"]])
def test_malformed_requests_raise(obj):
    with pytest.raises(FrameError) as err:
        decode_request(obj, max_decompressed=LIMIT)
    assert err.value.kind == "malformed"


def test_fluent_bit_map32_options_signal_and_millisecond_times():
    entries = entries_bytes([[et(1700000000, 5), {}], {"msg": "a"}], [1700000000123, {"msg": "b"}])
    payload = gzip.compress(entries)
    options = {"size": 2, "compressed": "gzip", "fluent_signal": 0, "chunk": "c"}
    # Fluent Bit writes the option map with a map32 header even for a few keys.
    opts = (
        b"\xdf"
        + struct.pack(">I", len(options))
        + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in options.items())
    )
    raw = b"\x93" + msgpack.packb("kernel") + msgpack.packb(payload) + opts
    req = decode_request(unpack(raw)[0], max_decompressed=LIMIT)
    assert req.entries == [(1700000000.000000005, {"msg": "a"}), (1700000000.123, {"msg": "b"})]
    assert req.chunk == "c"
