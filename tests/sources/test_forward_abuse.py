"""The forward server under hostile clients on loopback: each refusal closes only its own
connection and is counted by kind; other clients keep getting their acks."""

import asyncio
import contextlib
import gzip
import json
import random
import struct
import threading

import msgpack
import pytest

from oom_enricher.sources.forward_codec import EventTime
from oom_enricher.sources.forward_server import ForwardBatch, ForwardServer, ForwardServerConfig
from oom_enricher.sources.limits import SourceLimits
from tests.peers.forward_client import RawForwardClient

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


class Collector:
    def __init__(self) -> None:
        self.batches: list[ForwardBatch] = []

    async def __call__(self, batch: ForwardBatch) -> None:
        self.batches.append(batch)


def entries(n: int, tag: str = "ok") -> list:
    return [[1790000000 + i, {"host": "edge-1", "log": f"{tag} {i}"}] for i in range(n)]


async def refused(client: RawForwardClient) -> bool:
    """True when the server closed the connection instead of answering."""
    try:
        await client.read_object(timeout=60)
    except (ConnectionError, TimeoutError):
        return True
    return False


async def send_ignoring_reset(client: RawForwardClient, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        await client.send(data)


def errors(server: ForwardServer, kind: str) -> float:
    return server.metrics.get("errors", {"source": "forward", "kind": kind})


def run(scenario, limits: SourceLimits | None = None, handler=None) -> ForwardServer:
    async def main() -> ForwardServer:
        server = ForwardServer(
            ForwardServerConfig(port=0, limits=limits or SourceLimits()), handler or Collector()
        )
        await server.start()
        try:
            await scenario(server)
        finally:
            await server.stop()
        return server

    return asyncio.run(main())


async def attack_refused(server: ForwardServer, data: bytes) -> None:
    """Sends `data` on a connection of its own, which the server closes unanswered."""
    attacker = await RawForwardClient.connect(server.port)
    await send_ignoring_reset(attacker, data)
    assert await refused(attacker)
    await attacker.close()


async def good_client_still_acked(server: ForwardServer, chunk: str) -> None:
    good = await RawForwardClient.connect(server.port)
    assert await good.send_acked("kern", entries(3), chunk) == {"ack": chunk}
    await good.close()


def test_gzip_bomb_request_is_refused_and_other_clients_unaffected():
    entry = msgpack.packb([1790000000, {"log": "A" * 1000}])
    bomb = gzip.compress(entry * (32 * MiB // len(entry)), 9)

    async def scenario(server):
        attacker = await RawForwardClient.connect(server.port)
        await attacker.send(["kern", bomb, {"compressed": "gzip", "chunk": "bomb"}])
        await good_client_still_acked(server, "during")
        assert await refused(attacker)
        await attacker.close()
        await good_client_still_acked(server, "after")

    server = run(scenario)
    assert errors(server, "decompression_limit") == 1
    assert server.budget.used == 0


def test_entry_amplification_frame_is_refused_at_its_header():
    count = 31 * MiB // 3
    frame = b"\x92\xa4kern\xdd" + struct.pack(">I", count) + b"\x92\x00\x80" * count

    async def scenario(server):
        await attack_refused(server, frame)
        await good_client_still_acked(server, "after")

    server = run(scenario)
    assert errors(server, "too_many_entries") == 1
    # Refused after the first read: nothing near 31 MiB was ever held.
    assert server.budget.peak < 2 * MiB


def test_large_legal_request_is_decoded_off_the_loop_while_others_are_acked():
    """While one connection's huge-but-legal request is being decoded, another client's
    small chunk goes through: its batch is handled and acked before the huge one's."""
    rng = random.Random(8)
    words = [f"w{rng.randrange(10**6)}" for _ in range(4096)]
    huge = b"".join(
        msgpack.packb([1790000000, {"host": f"h{i % 50}", "log": f"{i} {rng.choice(words)}"}])
        for i in range(190_000)
    )
    payload = gzip.compress(huge, 6)
    decoding = threading.Event()
    order: list[str] = []

    class Observed(ForwardServer):
        def _decode(self, obj, *args):
            if isinstance(obj[1], bytes) and len(obj[1]) == len(payload):
                decoding.set()
            return super()._decode(obj, *args)

    async def handler(batch: ForwardBatch) -> None:
        order.append(batch.chunk)

    async def main() -> None:
        server = Observed(ForwardServerConfig(port=0), handler)
        await server.start()
        try:
            big = await RawForwardClient.connect(server.port)
            await big.send(["kern", payload, {"compressed": "gzip", "chunk": "huge"}])
            assert await asyncio.to_thread(decoding.wait, 120)
            small = await RawForwardClient.connect(server.port)
            assert await small.send_acked("kern", entries(2), "small") == {"ack": "small"}
            order.append("small acked")
            assert await big.read_object(timeout=120) == {"ack": "huge"}
            order.append("huge acked")
            await small.close()
            await big.close()
        finally:
            await server.stop()

    asyncio.run(main())
    assert order == ["small", "small acked", "huge", "huge acked"]


HEAD = b"\x93\xa4kern\xce" + struct.pack(">I", 1790000000)


@pytest.mark.parametrize(
    "raw",
    [
        HEAD + b"\x81\x91\x01\x01",  # ["kern", time, {[1]: 1}]
        HEAD + b"\x81\x81\x01\x01\x01",  # ["kern", time, {{1: 1}: 1}]
    ],
    ids=["array_key", "map_key"],
)
def test_unhashable_map_keys_close_the_connection_counted(raw):
    async def scenario(server):
        attacker = await RawForwardClient.connect(server.port)
        await attacker.send(raw)
        assert await refused(attacker)
        await attacker.close()
        await good_client_still_acked(server, "after")

    server = run(scenario)
    assert errors(server, "malformed") == 1
    assert errors(server, "internal") == 0


def test_json_nesting_is_a_malformed_request_not_a_recursion_error():
    async def scenario(server):
        await attack_refused(server, b"[" * 200_000)
        await good_client_still_acked(server, "after")

    server = run(scenario)
    assert errors(server, "malformed") == 1
    assert errors(server, "internal") == 0


def test_eventtime_chunk_id_is_acked_with_the_same_bytes():
    wire_id = msgpack.ExtType(0, struct.pack(">II", 1790000000, 5))
    collector = Collector()

    async def scenario(server):
        client = await RawForwardClient.connect(server.port)
        await client.send(["kern", [[1790000000, {"log": "a"}]], {"chunk": wire_id}])
        assert await client.read_object() == {"ack": wire_id}
        await client.close()

    server = run(scenario, handler=collector)
    assert collector.batches[0].chunk == EventTime(1790000000, 5)
    assert errors(server, "internal") == 0


def test_slow_request_hits_the_request_deadline_idle_connection_the_idle_timeout():
    limits = SourceLimits(request_deadline=0.5, idle_timeout=0.5)
    frame = msgpack.packb(["kern", [[1790000000, {"log": "x" * 200}]], {"chunk": "slow"}])

    async def scenario(server):
        slow = await RawForwardClient.connect(server.port)
        for byte in frame[:-1]:  # a byte at a time keeps it from being idle, never done
            try:
                await slow.send(bytes([byte]))
            except ConnectionError:
                break
            await asyncio.sleep(0.05)
        assert await refused(slow)
        idle = await RawForwardClient.connect(server.port)
        assert await refused(idle)
        await good_client_still_acked(server, "after")

    server = run(scenario, limits)
    assert errors(server, "request_deadline") == 1


def test_connection_caps_per_peer_and_total_evict_the_longest_idle():
    limits = SourceLimits(max_connections=6, max_connections_per_peer=4)

    async def connect_from(server, address: str) -> RawForwardClient:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.port, local_addr=(address, 0)
        )
        return RawForwardClient(reader, writer)

    async def scenario(server):
        first = [await connect_from(server, "127.0.0.2") for _ in range(4)]
        fifth = await connect_from(server, "127.0.0.2")
        assert await refused(fifth)  # over the per-peer cap
        others = [await connect_from(server, "127.0.0.3") for _ in range(2)]
        await asyncio.sleep(0)  # let the server register them before the next arrives
        for _ in range(50):
            if len(server.gate) == 6:
                break
            await asyncio.sleep(0.02)
        # Total cap reached: a new sender takes the place of the longest idle connection.
        await good_client_still_acked(server, "admitted")
        assert await refused(first[0])
        for client in first + others + [fifth]:
            await client.close()

    server = run(scenario, limits)
    assert errors(server, "too_many_connections_per_peer") == 1
    assert errors(server, "evicted_idle") >= 1


def _array(length: int) -> bytes:
    return b"\xdd" + struct.pack(">I", length)


# Shapes that cost little on the wire and much once decoded: (bytes of one inner array,
# how many), each inner array 150 elements, the whole about 29 MiB.
AMPLIFYING = {
    "empty arrays": _array(150) + b"\x90" * 150,  # 1 byte -> a 56-byte list
    "empty maps": _array(150) + b"\x80" * 150,  # 1 byte -> a 64-byte dict
    "two-letter strings": _array(150) + b"\xa2ab" * 150,  # 3 bytes -> a 51-byte str
}


def amplifying_record(shape: str, size: int = 29 * MiB) -> bytes:
    """A record with an "oom" log line (so that a prefilter reads it) and a field that
    decodes into tens of times its bytes."""
    inner = AMPLIFYING[shape]
    count = size // len(inner)
    return b"\x82\xa3log\xa3oom\xa4junk" + _array(count) + inner * count


@pytest.mark.parametrize("shape", sorted(AMPLIFYING))
@pytest.mark.parametrize("mode", ["forward", "packed_forward"])
def test_object_amplification_request_is_refused_and_other_clients_unaffected(mode, shape):
    """A request whose few bytes decode into millions of objects is refused while it is being
    decoded (on the starting main a 29 MiB frame of empty arrays decoded into 2.2 GB)."""
    entry = b"\x92\xce" + struct.pack(">I", 1790000000) + amplifying_record(shape)
    if mode == "forward":
        frame = b"\x93\xa4kern\x91" + entry + msgpack.packb({"chunk": "bomb"})
    else:
        frame = msgpack.packb(["kern", entry, {"chunk": "bomb"}])
    seen = Collector()

    async def scenario(server):
        await attack_refused(server, frame)
        await good_client_still_acked(server, "after")

    server = run(scenario, handler=seen)
    assert errors(server, "too_many_objects") == 1
    assert [batch.chunk for batch in seen.batches] == ["after"]


def test_object_budget_counts_a_request_sent_in_pieces_once():
    """The budget is per request, not per read: one sent a few bytes at a time is refused
    the same, and the requests after a refusal on another connection are whole again."""
    limits = SourceLimits(max_decoded_objects=1000)
    # 13 objects an entry: the entry, its map (two pairs), a list of two empty lists
    small = [[1790000000 + i, {"log": "x", "more": [[], []]}] for i in range(60)]  # 780
    big = [[1790000000 + i, {"log": "x", "more": [[], []]}] for i in range(90)]  # 1,170
    seen = Collector()

    async def scenario(server):
        trickle = await RawForwardClient.connect(server.port)
        data = msgpack.packb(["kern", big, {"chunk": "big"}])
        for start in range(0, len(data), 97):
            await send_ignoring_reset(trickle, data[start : start + 97])
            await asyncio.sleep(0)
        assert await refused(trickle)
        await trickle.close()
        client = await RawForwardClient.connect(server.port)
        for n in range(3):  # 2,340 in all: under the budget only as it is reset per request
            assert await client.send_acked("kern", small, f"s{n}") == {"ack": f"s{n}"}
        await client.close()

    server = run(scenario, limits=limits, handler=seen)
    assert errors(server, "too_many_objects") == 1
    assert [batch.chunk for batch in seen.batches] == ["s0", "s1", "s2"]


def test_json_object_amplification_is_refused_before_it_decodes():
    """30 MiB of `[],` would become 10 million lists (about 650 MB): refused from its
    characters, before decoding; a JSON request of ordinary size is still answered."""
    bomb = b"[" + b"[]," * (10 * MiB) + b"[]]"
    seen = Collector()

    async def scenario(server):
        await attack_refused(server, bomb)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b'["kern", 1790000000, {"log": "a, b, c"}, {"chunk": "j"}]')
        assert await asyncio.wait_for(reader.readexactly(len(b'{"ack": "j"}')), 30) == (
            b'{"ack": "j"}'
        )
        writer.close()

    server = run(scenario, handler=seen)
    assert errors(server, "too_many_objects") == 1
    assert [batch.chunk for batch in seen.batches] == ["j"]


def test_large_json_request_is_decoded_a_few_times_not_on_every_read(monkeypatch):
    """An 8 MiB JSON request arriving in 64 KiB writes is parsed when it may be whole, not
    on each read: on the starting main every read parsed it all again (1.55 s on the loop
    for 8 MiB, the square of its size), while every other client waited."""
    passes: list[int] = []
    raw_decode = json.JSONDecoder.raw_decode

    def counted(self, text, index=0):
        passes.append(len(text) - index)
        return raw_decode(self, text, index)

    monkeypatch.setattr(json.JSONDecoder, "raw_decode", counted)
    entries = [[1790000000 + i, {"log": f"line {i} " + "x" * 70}] for i in range(80_000)]
    request = json.dumps(["kern", entries, {"chunk": "big"}]).encode()
    seen = Collector()

    async def scenario(server):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for start in range(0, len(request), 64 << 10):
            writer.write(request[start : start + (64 << 10)])
            await writer.drain()
            await asyncio.sleep(0)
        ack = await asyncio.wait_for(reader.readexactly(len(b'{"ack": "big"}')), 60)
        assert ack == b'{"ack": "big"}'
        writer.close()

    run(scenario, handler=seen)
    assert [len(batch.entries) for batch in seen.batches] == [80_000]
    assert len(request) // (64 << 10) > 100  # writes
    assert len(passes) < 25  # doublings from 64 KiB, and reads that end in a bracket
    assert sum(passes) < 4 * len(request)  # characters parsed in all
