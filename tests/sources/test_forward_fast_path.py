"""Requests answered where their bytes arrive, and the ones that need the connection's task:
acks in request order, on the wire, whatever the mix within one read."""

import asyncio
import socket
import time

import msgpack

from oom_enricher.skimming.forward_prefilter import ForwardPrefilter
from oom_enricher.sources.forward_connection import ForwardConnection
from oom_enricher.sources.forward_server import ForwardBatch, ForwardServer, ForwardServerConfig

NOISE = "cni0: port 2(veth1) entered forwarding state"
MARKER = "python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"


def packed(chunk: str, host: str, *messages: str) -> bytes:
    payload = b"".join(msgpack.packb([1790000000, {"host": host, "log": m}]) for m in messages)
    return msgpack.packb(["kern", payload, {"chunk": chunk}])


class SlowCollector:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.chunks: list[str] = []

    async def __call__(self, batch: ForwardBatch) -> None:
        await asyncio.sleep(self.delay)
        self.chunks.append(batch.chunk)


def serve(handler, scenario):
    async def main():
        prefilter = ForwardPrefilter(lambda record, tag, peer: {record.get("host")})
        server = ForwardServer(ForwardServerConfig(port=0), handler, prefilter=prefilter)
        await server.start()
        try:
            return server, await asyncio.to_thread(scenario, server.port)
        finally:
            await server.stop()

    return asyncio.run(main())


def acks_until_closed(sock: socket.socket) -> list[str]:
    unpacker = msgpack.Unpacker(raw=False)
    while data := sock.recv(65536):
        unpacker.feed(data)
    return [obj["ack"] for obj in unpacker]


def test_requests_of_one_read_are_acked_in_order_around_one_that_needs_the_handler():
    requests = [
        packed("a", "edge-1", NOISE, NOISE),
        packed("b", "edge-2", NOISE, MARKER),  # a marker: decoded and handed to the handler
        packed("c", "edge-3", NOISE),
        packed("d", "edge-4", NOISE, NOISE, NOISE),
    ]
    collector = SlowCollector(delay=0.2)

    def scenario(port: int) -> list[str]:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"".join(requests))  # one write: the server reads them together
            unpacker = msgpack.Unpacker(raw=False)
            acks: list[str] = []
            while len(acks) < 4:
                unpacker.feed(sock.recv(65536))
                acks.extend(obj["ack"] for obj in unpacker)
            return acks

    server, acks = serve(collector, scenario)
    assert acks == ["a", "b", "c", "d"]
    assert collector.chunks == ["b"]
    assert server.metrics.get("requests_unread", {"source": "forward"}) == 3
    assert server.metrics.get("records_unread", {"source": "forward"}) == 6


def test_the_acks_of_requests_read_together_are_written_together(monkeypatch):
    requests = [packed(f"n{i}", f"edge-{i}", NOISE) for i in range(50)]
    writes: list[bytes] = []
    write = ForwardConnection.write

    def counted(self, data: bytes) -> None:
        writes.append(data)
        write(self, data)

    monkeypatch.setattr(ForwardConnection, "write", counted)

    def scenario(port: int) -> list[str]:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"".join(requests))
            sock.shutdown(socket.SHUT_WR)
            return acks_until_closed(sock)

    _, acks = serve(SlowCollector(), scenario)
    assert acks == [f"n{i}" for i in range(50)]
    assert 1 <= len(writes) < 50  # one per read of the server's, not one per request


def test_a_sender_that_half_closes_gets_every_ack_before_the_connection_ends():
    requests = [packed("m", "edge-1", MARKER), packed("n1", "edge-9", NOISE)]
    requests += [packed(f"n{i}", "edge-9", NOISE) for i in range(2, 6)]
    collector = SlowCollector(delay=0.2)  # the end of stream arrives while it is busy

    def scenario(port: int) -> list[str]:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"".join(requests))
            sock.shutdown(socket.SHUT_WR)
            return acks_until_closed(sock)

    server, acks = serve(collector, scenario)
    assert acks == ["m", "n1", "n2", "n3", "n4", "n5"]
    assert server.metrics.get("errors", {"source": "forward", "kind": "truncated"}) == 0


def test_a_request_cut_by_the_end_of_stream_is_refused_after_the_acks_before_it():
    whole, cut = packed("w", "edge-1", NOISE), packed("x", "edge-1", NOISE)

    def scenario(port: int) -> list[str]:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for byte in range(len(whole)):  # one byte per read: the request is reassembled
                sock.sendall(whole[byte : byte + 1])
            sock.sendall(cut[:-3])
            sock.shutdown(socket.SHUT_WR)
            return acks_until_closed(sock)

    server, acks = serve(SlowCollector(), scenario)
    assert acks == ["w"]
    assert server.metrics.get("errors", {"source": "forward", "kind": "truncated"}) == 1


def test_a_request_larger_than_the_offload_size_arriving_over_many_reads_is_acked():
    # Bytes that arrive while the task decodes off the loop wait for it (never fed to the
    # unpacker another thread reads), and are served when it is done: a chunk of 5,000 Fluent
    # Bit kmsg records of as many hosts is acked, and so is the one after it.
    def entry(n: int) -> bytes:
        when = msgpack.ExtType(0, (1790000000 + n).to_bytes(4, "big") + bytes(4))
        record = {"priority": 4, "sequence": n, "sec": 3600, "usec": n,
                  "msg": f"{NOISE} {n}", "hostname": f"idle-{n:06d}"}  # fmt: skip
        return msgpack.packb([when, record])

    def request(chunk: str, first: int) -> bytes:
        payload = b"".join(entry(n) for n in range(first, first + 5000))
        return msgpack.packb(["kernel", payload, {"chunk": chunk, "size": 5000}])

    big = [request("i-0", 0), request("i-1", 5000)]
    assert len(big[0]) > 2 * ForwardServerConfig().limits.offload_bytes

    def scenario(port: int) -> list[str]:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.settimeout(30)
            unpacker = msgpack.Unpacker(raw=False)
            acks: list[str] = []
            for raw, chunk in zip(big, ("i-0", "i-1"), strict=True):
                sock.sendall(raw)  # each waits for its ack, as a shipper does
                while chunk not in acks:
                    unpacker.feed(sock.recv(65536))
                    acks.extend(obj["ack"] for obj in unpacker)
            return acks

    server, acks = serve(SlowCollector(), scenario)
    assert acks == ["i-0", "i-1"]
    assert server.metrics.get("records_unread", {"source": "forward"}) == 10_000


def test_no_request_after_one_the_handler_failed_is_acked():
    async def failing(batch: ForwardBatch) -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError("journal not writable")

    def scenario(port: int) -> list[str]:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(packed("m", "edge-1", MARKER))
            time.sleep(0.1)  # the noise request arrives while the handler runs
            sock.sendall(packed("n", "edge-2", NOISE))
            return acks_until_closed(sock)

    server, acks = serve(failing, scenario)
    assert acks == []  # the sender resends both, in order
    assert server.metrics.get("errors", {"source": "forward", "kind": "handler"}) == 1
