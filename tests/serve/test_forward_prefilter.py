"""serve skips forward records that cannot matter, on the raw request bytes, and keeps no
state for idle hosts; the documents stay those of each host's stream read alone."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import msgpack

from oom_enricher.pipeline import documents_from_lines
from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import ServeConfig
from oom_enricher.serve.processor import Processor
from oom_enricher.skimming.forward_prefilter import ForwardPrefilter, entry_spans
from oom_enricher.sources.record_shapes import from_record
from tests.serve.fleet import (
    ListSink,
    comparable,
    expected_documents,
    fleet_events,
    projection,
)

BASE = 1_790_000_000


def packed(tag: str, entries: list, chunk: str) -> bytes:
    payload = b"".join(msgpack.packb(e) for e in entries)
    return msgpack.packb([tag, payload, {"chunk": chunk, "size": len(entries)}])


def send_and_wait_acks(port: int, requests: list[bytes]) -> list:
    acks = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        unpacker = msgpack.Unpacker(raw=False)
        for raw in requests:
            sock.sendall(raw)
            while True:
                unpacker.feed(sock.recv(65536))
                replies = list(unpacker)
                if replies:
                    acks.extend(replies)
                    break
    return acks


async def run_app(requests: list[bytes], config: ServeConfig | None = None):
    """Send the requests to a real forward server of a ServeApp; the app, its sink, acks."""
    config = config or ServeConfig(sources={"forward": {"port": 0}}, http_port=None)
    sink = ListSink()
    app = ServeApp(config, sinks=[sink])
    await app.start()
    assert app.forward is not None
    acks = await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests)
    return app, sink, acks


def noise_entries(hosts: int, per_host: int) -> list:
    entries = []
    for n in range(per_host):
        for h in range(hosts):
            record = {"host": f"idle-{h:05d}", "log": f"eth0: link up, 1000 Mbps ({n})"}
            entries.append([BASE + n, record])
    return entries


def test_request_without_marker_or_open_host_is_acked_with_no_record_shaped():
    requests = [packed("kern", noise_entries(5, 1), "c1")]

    async def main():
        app, _, acks = await run_app(requests)
        await app.stop()
        return app, acks

    app, acks = asyncio.run(main())
    assert acks == [{"ack": "c1"}]
    assert app.metrics.get("records_shaped", {"source": "forward"}) == 0
    assert app.metrics.get("records_unread", {"source": "forward"}) == 5
    assert app.metrics.get("requests_unread", {"source": "forward"}) == 1


def test_interleaved_fleet_through_the_prefilter_gives_the_documents_of_each_file_alone():
    entries = [[e["time"][0], e["record"]] for e in fleet_events()]
    requests = [
        packed("kern.oom", entries[i : i + 25], f"c{i}") for i in range(0, len(entries), 25)
    ]

    async def main():
        app, sink, acks = await run_app(requests)
        sink.docs.extend(app.processor.pipeline.finish())
        await app.stop()
        return app, sink, acks

    app, sink, acks = asyncio.run(main())
    assert len(acks) == len(requests)
    got, want = comparable(projection(sink.docs), projection(expected_documents()))
    assert got == want
    assert app.metrics.get("records_unread", {"source": "forward"}) > 0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def corpus_lines(prefix: str) -> list[str]:
    path = next(CORPUS.glob(f"{prefix}-*.log"))
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def test_every_idle_host_holds_no_state_after_many_non_report_records():
    requests = [
        packed("kern", noise_entries(1000, 1)[i : i + 500], f"c{i}") for i in range(0, 1000, 500)
    ]

    async def main():
        app, _, acks = await run_app(requests)
        # The same records shaped and fed one by one, as another source would feed them.
        shaped = [
            from_record(record, event_time=when, tag="kern")
            for when, record in noise_entries(300, 2)
        ]
        await app.processor.handle("syslog", shaped, durable=False)
        await app.stop()
        return app, acks

    app, acks = asyncio.run(main())
    assert len(acks) == 2
    assert app.metrics.get("records_unread", {"source": "forward"}) == 1000
    assert app.processor.open_hosts() == set()
    assert len(app.processor._streams) == 0
    assert app.processor.pipeline.assembler.open_hosts == 0


def test_idle_host_keeps_line_context_only_while_its_last_line_is_report_shaped():
    # 036: journal multi-line fields, each continuation line its own record, header lost;
    # its head up to the memcg usage lines (the stats line would open a report).
    lines = corpus_lines("036")
    stats = lines.index(next(line for line in lines if "Memory cgroup stats for" in line))
    head = [from_record({"host": "n1", "log": line}, tag="k") for line in lines[:stats]]
    noise = from_record({"host": "n1", "log": "May 17 19:54:30 ubuntu-vm kernel: eth0 up"})

    async def main():
        processor = Processor()
        await processor.handle("syslog", head, durable=False)
        kept = set(processor._streams)
        await processor.handle("syslog", [noise], durable=False)
        return kept, set(processor._streams)

    kept, after_noise = asyncio.run(main())
    assert kept == {"n1"}  # a usage line may be continued by the next record
    assert after_noise == set()


def test_header_less_report_via_serve_recovers_the_lines_it_left_unread():
    # The report's head (stack, memory usage, cgroup stats) arrives in requests with no marker,
    # acked unread; the task table header opens the report later and looks back into them.
    lines = corpus_lines("036")
    entries = [[BASE + n, {"host": "node-a", "log": line}] for n, line in enumerate(lines)]
    requests = [packed("kern", entries[i : i + 5], f"c{i}") for i in range(0, len(entries), 5)]

    async def main():
        app, sink, _ = await run_app(requests)
        sink.docs.extend(app.processor.pipeline.finish())
        await app.stop()
        return app, sink

    app, sink = asyncio.run(main())
    assert app.metrics.get("requests_unread", {"source": "forward"}) > 0
    (want,) = documents_from_lines(lines)
    (got,) = sink.docs
    assert got["oom"]["lines_count"] == want["oom"]["lines_count"]
    assert projection([got]) == projection([want])


def test_report_closes_at_its_own_deadline_and_the_loop_sleeps_until_it():
    clock = FakeClock(1000.0)
    sink = ListSink()
    config = ServeConfig(sources={"forward": {"port": 0}}, http_port=None)
    app = ServeApp(config, sinks=[sink], clock=clock)
    lines = [line for line in corpus_lines("013") if " kernel: " in line]
    records = [from_record({"host": "h", "log": line}, tag="k") for line in lines]
    grace = app.processor.options.bounds.tail_grace
    waits: list[float | None] = []

    async def fake_wait(timeout: float | None) -> bool:
        waits.append(timeout)
        if len(waits) == 1:
            clock.now += 0.25  # a batch of another host arrives: woken early
            return True
        if len(waits) == 2:
            clock.now += timeout  # nothing arrives: the deadline passes
            return False
        app.request_stop()
        return True

    async def main():
        await app.processor.handle("syslog", records, durable=False)
        assert sink.docs == []
        assert app.processor.next_deadline() == 1000.0 + grace
        app._wait = fake_wait
        await app.tick_loop()

    asyncio.run(main())
    assert waits[:2] == [grace, grace - 0.25]
    (doc,) = sink.docs
    assert doc["oom"]["complete"]
    assert clock.now == 1000.0 + grace  # closed at the deadline, not at a later tick


def test_entry_count_of_reused_unpackers_survives_a_payload_cut_inside_an_entry():
    from oom_enricher.skimming.forward_prefilter import EntryCounter, entry_spans

    entries = [msgpack.packb([BASE + n, {"host": "edge-1", "log": f"line {n}"}]) for n in range(5)]
    whole = b"".join(entries)
    counter = EntryCounter()
    assert counter.count(whole) == 5
    assert counter.count(whole[:-4]) == 4  # the cut entry is not counted
    # the unpacker that held the cut entry is not reused: the next payload counts alone
    assert counter.count(whole) == 5 == len(entry_spans(whole))
    assert counter.count(b"") == 0


def test_requests_selected_on_several_threads_at_once_never_share_a_scan_scratch():
    """Large requests are selected on decoding threads while the loop selects small ones."""
    import threading

    from oom_enricher.skimming.forward_prefilter import ForwardPrefilter

    prefilter = ForwardPrefilter(lambda record, tag, peer: [record.get("host")])
    noise = [[BASE + n, {"host": "idle", "log": "x" * 2000}] for n in range(1500)]
    marker = [BASE, {"host": "edge-1", "log": "bash invoked oom-killer: gfp_mask=0xcc0"}]
    payload = b"".join(msgpack.packb(e) for e in noise + [marker])
    chosen, errors = [], []

    def select_many():
        for _ in range(40):
            try:
                chosen.append(prefilter.select(payload, "kern", "peer").spans)
            except Exception as exc:  # a shared scratch raises ScratchInUseError
                errors.append(repr(exc))

    threads = [threading.Thread(target=select_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(chosen) == 120
    assert all(spans == chosen[0] and len(spans) == 1 for spans in chosen)


def test_count_of_a_request_that_cannot_matter_agrees_with_its_selection_and_keeps_it_once():
    """select_or_count answers the common request with a number: the entries select leaves
    unread, and a Selection (the same spans) whenever select would decode any; either way the
    request is kept once in the look-back ring."""
    from oom_enricher.skimming.forward_prefilter import ForwardPrefilter, Selection

    def prefilter() -> ForwardPrefilter:
        made = ForwardPrefilter(lambda record, tag, peer: [record.get("host")])
        made.refresh({"edge-open"})
        return made

    noise = [[BASE + n, {"host": f"idle-{n}", "log": "cni0: port 1 entered"}] for n in range(5)]
    cases = {
        "noise": noise,
        "marker": noise + [[BASE, {"host": "edge-2", "log": "bash invoked oom-killer: x"}]],
        "open host": noise[:2] + [[BASE, {"host": "edge-open", "log": "[ 1234] 0 1234"}]],
    }
    for name, entries in cases.items():
        payload = b"".join(msgpack.packb(e) for e in entries)
        counted, selected = prefilter(), prefilter()
        answer = counted.select_or_count(payload, "kern", "peer")
        selection = selected.select(payload, "kern", "peer")
        if name == "noise":
            assert answer == selection.unread == 5 and selection.spans == []
        else:
            assert isinstance(answer, Selection), name
            assert answer.spans == selection.spans != [], name
            assert answer.kept == (payload, "kern", "peer"), name
        assert counted.lookback.held_bytes() == len(payload), name
        assert len(counted.lookback.entries(counted.lookback._requests[0], len(payload), None)) == (
            len(entries)
        ), name


def test_prefilter_decodes_each_entry_within_the_object_budget():
    """The prefilter's own decodes (the host of a marker entry, the look-back) stop at
    `max_objects`: an entry that decodes into more is left to the request's decode, which
    refuses it, and the look-back skips it; the entries around it are read as before."""
    prefilter = ForwardPrefilter(lambda record, tag, peer: [record.get("host")], max_objects=50)
    ordinary = [BASE, {"host": "edge-1", "log": "eth0: link up"}]
    amplified = [BASE, {"host": "edge-2", "log": "oom", "junk": [[]] * 60}]
    marker = [BASE, {"host": "edge-3", "log": "invoked oom-killer: gfp_mask=0x0"}]
    payload = b"".join(msgpack.packb(e) for e in (ordinary, amplified, marker))
    selection = prefilter.select(payload, "kern", "peer")
    spans = entry_spans(payload)
    assert selection.spans == spans[1:]  # both marker entries are read; one names no host
    kept = prefilter.lookback.entries(selection.kept, len(payload), None)
    assert [record["host"] for record, _, _ in kept] == ["edge-1", "edge-3"]
