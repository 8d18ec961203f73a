"""serve's loop sleeps until the assembler's next deadline, which includes the release of a
report held for its kill line: it comes out at that time with no other traffic."""

from __future__ import annotations

import asyncio

from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import ServeConfig
from oom_enricher.sources.record_shapes import from_record
from tests.core.kernel_order_harness import TEMPLATES, kmsg_records
from tests.serve.fleet import ListSink


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_report_held_for_its_kill_is_released_at_its_deadline_without_other_traffic():
    clock = FakeClock(1000.0)
    sink = ListSink()
    config = ServeConfig(
        sources={"forward": {"port": 0}},
        http_port=None,
        pipeline={"max_wall_age": 10.0, "hold_unkilled": 30.0, "amend_window": 120.0},
    )
    app = ServeApp(config, sinks=[sink], clock=clock)
    without_kill = kmsg_records("node-1", [TEMPLATES[1]])[:-3]
    records = [from_record(record, event_time=1_764_000_000.0) for record in without_kill]
    waits: list[float | None] = []
    emitted_at: list[float] = []

    async def fake_wait(timeout: float | None) -> bool:
        for _ in range(20):  # let the delivery task hand what the last tick emitted to the sink
            await asyncio.sleep(0)
        waits.append(timeout)
        if sink.docs and not emitted_at:
            emitted_at.append(clock.now)
        if timeout is None or len(waits) > 3:
            app.request_stop()
            return True
        clock.now += timeout  # no traffic at all: the deadline passes
        return False

    async def main():
        await app.processor.handle("forward", records, durable=False)
        app._wait = fake_wait
        await app.tick_loop()

    asyncio.run(main())
    # closed by max_wall_age (held, not emitted), released 30 s later, amendable until 120 s
    assert waits == [10.0, 30.0, 90.0, None]
    assert emitted_at == [1040.0]
    (doc,) = sink.docs
    assert doc["oom"]["incomplete_reason"] == "max_wall_age"
    assert doc["oom"]["victims"] == []
