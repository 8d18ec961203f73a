import asyncio
import contextlib

from oom_enricher.serve.journal import Journal
from oom_enricher.serve.processor import Processor, SinkUnavailable
from oom_enricher.sources.record_shapes import from_record
from tests.serve.fleet import (
    ACROSS_RESTART,
    comparable,
    expected_documents,
    fleet_events,
    projection,
)


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.docs: list[dict] = []
        self.fail = False

    def send(self, doc: dict) -> None:
        if not self.fail:
            self.docs.append(doc)

    def flush(self, timeout=None) -> bool:
        return not self.fail

    def close(self) -> None:
        pass


def records(events):
    return [
        from_record(e["record"], event_time=e["time"][0] + e["time"][1] / 1e9, tag=e["tag"])
        for e in events
    ]


def test_interleaved_fleet_gives_the_documents_of_each_file_alone():
    sink = ListSink()

    async def main():
        proc = Processor(sinks=[sink])
        for r in records(fleet_events()):
            await proc.handle("forward", [r])
        sink.docs.extend(proc.pipeline.finish())

    asyncio.run(main())
    got, want = comparable(projection(sink.docs), projection(expected_documents()))
    assert got == want


def test_resent_chunk_is_not_fed_twice_and_state_survives_a_restart(tmp_path):
    events = fleet_events()
    half = len(events) // 2
    sink = ListSink()

    async def first():
        proc = Processor(sinks=[sink], journal=Journal(tmp_path / "journal"))
        proc.restore()
        for i in range(0, half, 50):
            await proc.handle("forward", records(events[i : min(i + 50, half)]), chunk=f"c{i}")
        # the ack of the last chunk was lost: the sender resends it
        last = (half - 1) // 50 * 50
        assert await proc.handle("forward", records(events[last:half]), chunk=f"c{last}") == 0
        assert proc.metrics.get("duplicate_chunks", {"source": "forward"}) == 1

    async def second():
        proc = Processor(sinks=[sink], journal=Journal(tmp_path / "journal"))
        assert proc.restore()
        proc.start()
        for i in range(half, len(events), 50):
            await proc.handle("forward", records(events[i : i + 50]), chunk=f"c{i}")
        await proc.shutdown()
        sink.docs.extend(proc.pipeline.finish())

    asyncio.run(first())  # no shutdown(): as if killed right after the last ack
    asyncio.run(second())
    got, want = comparable(
        projection(sink.docs), projection(expected_documents()), known=ACROSS_RESTART
    )
    assert got == want


def test_refused_documents_are_delivered_with_the_resend_not_lost_or_doubled(tmp_path):
    events = fleet_events()
    sink = ListSink()

    async def main():
        proc = Processor(sinks=[sink])  # no journal: an ack waits for the sinks
        chunks = [records(events[i : i + 40]) for i in range(0, len(events), 40)]
        for n, chunk in enumerate(chunks):
            # Every chunk meets a refusing sink once, then is resent. A chunk that completes
            # no report never reaches the sink, so only some of them fail.
            sink.fail = True
            with contextlib.suppress(SinkUnavailable):
                await proc.handle("forward", chunk, chunk=f"c{n}")
            sink.fail = False
            await proc.handle("forward", chunk, chunk=f"c{n}")  # the sender's resend
        sink.docs.extend(proc.pipeline.finish())
        return proc.metrics.get("errors", {"source": "sink", "kind": "list"})

    assert asyncio.run(main()) == 2
    got, want = comparable(projection(sink.docs), projection(expected_documents()))
    assert got == want


def test_an_amended_report_counts_its_kill_once():
    """The head of a report retried after its tail was emitted: two versions under one id,
    one kill in `oom_kills_total` and one report in `reports_total`."""
    from tests.core.kernel_order_harness import TEMPLATES, kmsg_records

    shipped = [
        from_record(r, event_time=1_764_000_000.0) for r in kmsg_records("n1", [TEMPLATES[0]])
    ]
    head, tail = shipped[: len(shipped) // 2], shipped[len(shipped) // 2 :]
    sink = ListSink()

    async def main():
        now = [1000.0]
        proc = Processor(sinks=[sink], clock=lambda: now[0])
        await proc.handle("forward", tail)
        now[0] += 5  # its tail grace has passed: emitted, missing its start
        await proc.tick()
        await proc.handle("forward", head)
        now[0] += 5
        await proc.tick()
        await proc.shutdown()  # delivers what the tick closed
        return proc

    proc = asyncio.run(main())
    assert [doc["event"]["id"] for doc in sink.docs] == [sink.docs[0]["event"]["id"]] * 2
    assert sink.docs[1]["oom"]["complete"] is True
    kills = [
        line
        for line in proc.metrics.render().splitlines()
        if line.startswith("oom_enricher_oom_kills")
    ]
    assert len(kills) == 1 and kills[0].endswith("} 1")
    assert proc.metrics.get("reports", {"complete": "false"}) == 1
    assert proc.metrics.get("reports", {"complete": "true"}) == 0


def test_a_kill_line_after_emission_counts_the_kill_once_under_its_new_id():
    """A report emitted without its kill line (past the hold; its victim known from the
    reaper line) and completed by it later: the new version has the id `parse` gives and
    names the first in `event.supersedes`; still one kill and one report in the metrics."""
    from oom_enricher.reassembly.markers import Marker, classify
    from tests.core.kernel_order_harness import TEMPLATES, in_order, kmsg_records

    stream = kmsg_records("n1", [TEMPLATES[5]])
    (kill,) = [r for r in stream if (found := classify(r["msg"])) and found[0] is Marker.KILLED]
    (expected,) = in_order(stream)
    shipped = [from_record(r, event_time=1_764_000_000.0) for r in stream if r is not kill]
    sink = ListSink()

    async def main():
        now = [1000.0]
        proc = Processor(sinks=[sink], clock=lambda: now[0])
        await proc.handle("forward", shipped)
        for step in (5, 60):  # closed after the reaper's grace, released after the hold
            now[0] += step
            await proc.tick()
        await proc.handle("forward", [from_record(kill, event_time=1_764_000_000.0)])
        now[0] += 5
        await proc.tick()
        await proc.shutdown()
        return proc

    proc = asyncio.run(main())
    first, final = sink.docs
    assert first["oom"]["incomplete_reason"] == "kill_line_missing"
    assert [v["pid"] for v in first["oom"]["victims"]] == [14459]
    assert final["event"]["id"] == expected["event"]["id"] != first["event"]["id"]
    assert final["event"]["supersedes"] == [first["event"]["id"]]
    assert final["oom"]["complete"] is True
    kills = [
        line
        for line in proc.metrics.render().splitlines()
        if line.startswith("oom_enricher_oom_kills")
    ]
    assert len(kills) == 1 and kills[0].endswith("} 1")
    assert proc.metrics.get("reports", {"complete": "false"}) == 1
    assert proc.metrics.get("reports", {"complete": "true"}) == 0


def test_a_fragment_given_back_to_its_own_report_counts_its_kill_once():
    """A report's tail is emitted alone, taken into the report before it, then given back:
    three reports and three kills in the metrics, not the tail's kill twice."""
    from tests.core.kernel_order_harness import (
        GIVEN_BACK_PLAN,
        chunks_of,
        given_back_stream,
        in_order,
        superseded_away,
    )

    stream = given_back_stream()
    expected = {doc["event"]["id"] for doc in in_order(stream)}
    chunks = chunks_of(stream, 30)
    sink = ListSink()

    async def main():
        now = [1000.0]
        proc = Processor(sinks=[sink], clock=lambda: now[0])
        for when, index in GIVEN_BACK_PLAN:
            while now[0] + 1.0 <= 1000 + when:
                now[0] += 1.0
                await proc.tick()
            now[0] = max(now[0], 1000 + when)
            shipped = [from_record(r, event_time=1_764_000_000.0) for r in chunks[index]]
            await proc.handle("forward", shipped)
        for _ in range(300):
            now[0] += 1.0
            await proc.tick()
        await proc.shutdown()
        return proc

    proc = asyncio.run(main())
    assert any(doc["event"].get("supersedes") for doc in sink.docs)
    assert set(superseded_away(sink.docs)) == expected
    kills = [
        line
        for line in proc.metrics.render().splitlines()
        if line.startswith("oom_enricher_oom_kills")
    ]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in kills) == 3
    assert sum(proc.metrics.get("reports", {"complete": c}) for c in ("true", "false")) == 3
