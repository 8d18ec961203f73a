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
