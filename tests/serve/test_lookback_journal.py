"""Lines serve acked unread and later adopted from its raw look-back into a report must be
journaled before the ack that depends on them: a restart (kill -9) before the report's
document went out rebuilds the same document from the journal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from oom_enricher.model import LogLine, ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.pipeline import PipelineOptions
from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import ServeConfig
from oom_enricher.serve.journal import Journal
from oom_enricher.serve.processor import NotSafe, Processor
from oom_enricher.serve.state import LOOKBACK, unpack
from oom_enricher.sources.record_shapes import from_record
from tests.core.kernel_order_harness import TEMPLATES, by_id, in_order, kmsg_records
from tests.serve.fleet import ListSink
from tests.serve.test_forward_prefilter import FakeClock, send_and_wait_acks
from tests.serve.test_reorder_prefilter import BOOT, requests_of


async def journaled_app(state: Path, clock: FakeClock) -> tuple[ServeApp, ListSink]:
    config = ServeConfig(sources={"forward": {"port": 0}}, http_port=None, state_dir=state)
    sink = ListSink()
    app = ServeApp(config, sinks=[sink], clock=clock)
    await app.start()
    return app, sink


async def kill_9(app: ServeApp) -> None:
    """What survives a SIGKILL: the journal on disk, nothing of the process's memory (no
    shutdown, no last delivery)."""
    assert app.forward is not None
    await app.forward.stop()
    assert app.processor.journal is not None
    app.processor.journal.close()


async def finish(app: ServeApp, sink: ListSink) -> list[dict]:
    sink.docs.extend(app.processor.pipeline.finish())
    await app.stop()
    return sink.docs


def test_lines_adopted_from_the_look_back_survive_a_kill_before_delivery(tmp_path):
    """Two connections raced: a host's report body came before its header and was acked
    unread (no marker in it, no report of the host open). The header then opens the report,
    which adopts the body from the raw look-back. serve is killed before the document is
    delivered; the restarted serve rebuilds the report from the journal, with the body."""
    records = kmsg_records("race-kill-1", [TEMPLATES[0]])
    expected = by_id(in_order(records))
    head, body, tail = records[:12], records[12:70], records[70:]

    async def uncrashed():
        app, sink = await journaled_app(tmp_path / "whole", FakeClock(1000.0))
        assert app.forward is not None
        requests = requests_of([body, head, tail])
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests)
        return await finish(app, sink)

    async def crashed():
        state, clock = tmp_path / "crashed", FakeClock(1000.0)
        app, sink = await journaled_app(state, clock)
        assert app.forward is not None
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests_of([body, head]))
        assert not sink.docs  # nothing delivered yet: the journal is all there is
        await kill_9(app)
        app, sink = await journaled_app(state, clock)
        assert app.forward is not None
        tail_request = requests_of([tail], name="after")
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, tail_request)
        return await finish(app, sink)

    whole = by_id(asyncio.run(uncrashed()))
    assert whole == expected
    assert by_id(asyncio.run(crashed())) == whole


def test_noise_of_idle_hosts_is_not_journaled(tmp_path):
    """Journaling adopted lines must not journal the look-back: a request of an idle host's
    ordinary lines leaves the journal as it was."""
    records = kmsg_records("idle-1", [TEMPLATES[0]])
    noise = [
        {**records[0], "sequence": 9000 + n, "msg": f"eth0: link up, 1000 Mbps ({n})"}
        for n in range(50)
    ]

    async def main():
        app, sink = await journaled_app(tmp_path / "state", FakeClock(1000.0))
        assert app.forward is not None and app.processor.journal is not None
        before = app.processor.journal.bytes
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests_of([noise]))
        after = app.processor.journal.bytes
        await app.stop()
        return before, after

    before, after = asyncio.run(main())
    assert after == before


def shipped(records: list[dict]) -> list[ShippedRecord]:
    out = [from_record(r, event_time=BOOT + r["sec"], tag="kern.kmsg") for r in records]
    return [record for record in out if record is not None]


def test_an_ack_waits_until_the_adopted_lines_are_durable(tmp_path):
    """The batch is written, but the write of the lines it took from the look-back fails:
    no ack. The resent chunk is not fed again, and is acked only once those lines are
    written; the restart rebuilds the report with them."""
    records = kmsg_records("race-kill-2", [TEMPLATES[0]])
    expected = by_id(in_order(records))
    head, body, tail = (shipped(part) for part in (records[:12], records[12:70], records[70:]))
    normalizer = LineNormalizer(PipelineOptions().normalize)
    unread = [line for record in body for line in normalizer.normalize_record(record)]

    def lookback(_index: int) -> list[LogLine]:
        return list(unread)  # what serve decodes afresh from the raw requests it acked unread

    journal = Journal(tmp_path)
    append, refused = journal.append, []

    def refuse_look_back_once(payloads: list[bytes]) -> int:
        if not refused and any(unpack(p)[0] == LOOKBACK for p in payloads):
            refused.append(True)
            raise OSError(28, "No space left on device")
        return append(payloads)

    journal.append = refuse_look_back_once  # type: ignore[method-assign]

    async def crashed():
        processor = Processor(journal=journal, commit_window=0)
        processor.restore()
        with pytest.raises(NotSafe):
            await processor.handle("forward", head, chunk="h", sender="s", lookback=lookback)
        assert refused
        assert await processor.handle("forward", head, chunk="h", sender="s") == 0  # resent
        journal.close()  # kill -9
        again = Processor(journal=Journal(tmp_path), commit_window=0)
        again.restore()
        await again.handle("forward", tail, chunk="t", sender="s")
        await again.commits.drain()
        return again.pipeline.finish()

    assert by_id(asyncio.run(crashed())) == expected


def test_the_look_back_record_keeps_its_segment_while_the_report_is_open(tmp_path):
    """One record per segment, released below the low water after every commit: the
    segments before the report's batch go, the look-back record after it stays, and the
    restart rebuilds the report with the lines it took."""
    records = kmsg_records("race-kill-3", [TEMPLATES[0]])
    expected = by_id(in_order(records))
    head, body, tail = (shipped(part) for part in (records[:12], records[12:70], records[70:]))
    normalizer = LineNormalizer(PipelineOptions().normalize)
    unread = [line for record in body for line in normalizer.normalize_record(record)]
    other = records[0]
    bound = PipelineOptions().bounds.lookback_lines

    def noise(name: str, count: int) -> list[list[ShippedRecord]]:
        lines = [
            {**other, "hostname": name, "sequence": n, "msg": f"eth0: link up ({n})"}
            for n in range(count)
        ]
        return [shipped([line]) for line in lines]

    async def crashed():
        journal = Journal(tmp_path, fsync=False, segment_bytes=1)
        processor = Processor(journal=journal, commit_window=0)
        processor._release.interval = 0
        processor.restore()
        for n, batch in enumerate(noise("quiet-1", 20)):
            await processor.handle("forward", batch, chunk=f"a{n}", sender="s")
        report_segment = journal.next_position
        await processor.handle(
            "forward", head, chunk="h", sender="s", lookback=lambda _: list(unread)
        )
        # the recent-line ring forgets the noise before the report: its segments may go
        for n, batch in enumerate(noise("quiet-2", bound + 20)):
            await processor.handle("forward", batch, chunk=f"b{n}", sender="s")
        released = journal.first_position
        journal.close()  # kill -9
        again = Processor(journal=Journal(tmp_path, fsync=False), commit_window=0)
        again.restore()
        await again.handle("forward", tail, chunk="t", sender="s")
        await again.commits.drain()
        return report_segment, released, again.pipeline.finish()

    report_segment, released, docs = asyncio.run(crashed())
    assert released == report_segment  # every segment before the report's batch went
    assert by_id(docs) == expected
