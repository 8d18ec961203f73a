"""serve acks records that cannot matter unread; lines that arrive out of kernel order must
still reach their report: a report's body delivered before its first line, and late lines of
a report already emitted."""

from __future__ import annotations

import asyncio

from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import ServeConfig
from tests.core.kernel_order_harness import TEMPLATES, by_id, in_order, kmsg_records
from tests.serve.fleet import ListSink
from tests.serve.test_forward_prefilter import FakeClock, packed, send_and_wait_acks

BOOT = 1_790_000_000


def requests_of(chunks: list[list[dict]], name: str = "c") -> list[bytes]:
    return [
        packed("kern.kmsg", [[BOOT + r["sec"], r] for r in chunk], f"{name}{n}")
        for n, chunk in enumerate(chunks)
    ]


async def serve_app(clock: FakeClock | None = None) -> tuple[ServeApp, ListSink]:
    config = ServeConfig(sources={"forward": {"port": 0}}, http_port=None)
    sink = ListSink()
    app = ServeApp(config, sinks=[sink], **({"clock": clock} if clock else {}))
    await app.start()
    return app, sink


def test_a_report_body_delivered_before_its_first_line_is_read():
    """Two connections raced: the body of a host's first report came before its header
    chunk, while no report of the host was open, so it was acked unread."""
    records = kmsg_records("race-1", [TEMPLATES[0]])
    expected = by_id(in_order(records))
    # no line of the body holds a marker needle: nothing in its request can matter alone
    head, body, tail = records[:12], records[12:70], records[70:]

    async def main():
        app, sink = await serve_app()
        assert app.forward is not None
        requests = requests_of([body, head, tail])
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests)
        sink.docs.extend(app.processor.pipeline.finish())
        await app.stop()
        return sink.docs

    assert by_id(asyncio.run(main())) == expected


def test_late_lines_of_an_emitted_report_are_read():
    """The middle of a report comes back from a shipper's retry after the rest was emitted;
    the host has no report in progress, yet its lines can still amend the emitted one."""
    records = kmsg_records("retry-1", [TEMPLATES[2]])
    expected = by_id(in_order(records))
    # the report's middle holds no marker needle: its request can matter only by its host
    middle, rest = records[10:60], records[:10] + records[60:]
    clock = FakeClock(1000.0)

    async def main():
        app, sink = await serve_app(clock)
        assert app.forward is not None
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests_of([rest]))
        clock.now += 5  # past the reaper's grace: emitted without its middle
        await app.processor.tick()
        app._refresh_prefilter()
        retried = requests_of([middle], name="retry")
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, retried)
        clock.now += 5
        await app.processor.tick()
        await app.stop()
        return sink.docs

    docs = asyncio.run(main())
    assert len(docs) == 2 and docs[0]["oom"]["lines_count"] < docs[1]["oom"]["lines_count"]
    assert by_id(docs[-1:]) == expected


def test_lines_of_a_later_report_that_came_first_are_not_glued_to_an_earlier_one():
    """The body of a host's second report (30 s later in kernel time) came first; then the
    first report, still without its kill line. Taking the lines that came ahead of its first
    line must stop at the gap: the first report, emitted after the hold, holds its own lines
    only (a glued version with more lines would be the one Elasticsearch keeps), and the
    second report's body, which holds its `Memory cgroup stats` line, is a fragment of its
    own."""
    records = kmsg_records("gap-1", [TEMPLATES[0], TEMPLATES[0]])
    (first_expected, _) = in_order(records)
    second_body, first_without_kill = records[102:160], records[:86]
    clock = FakeClock(1000.0)

    async def main():
        app, sink = await serve_app(clock)
        assert app.forward is not None
        requests = requests_of([second_body, first_without_kill])
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests)
        for _ in range(2):  # closed by max_wall_age, then released after the hold
            clock.now += 61
            await app.processor.tick()
        await app.stop()
        return sink.docs

    docs = asyncio.run(main())
    (emitted,) = [doc for doc in docs if doc["oom"]["trigger"]["name"] is not None]
    assert emitted["oom"]["lines_count"] == first_expected["oom"]["lines_count"] - 2
    (fragment,) = [doc for doc in docs if doc is not emitted]
    assert fragment["oom"]["lines_count"] == len(second_body)


def test_other_lines_of_a_host_whose_report_was_emitted_are_left_unread():
    """Watching a host for late lines of its emitted report must not make serve journal and
    reassemble the host's ordinary kernel lines (they cannot amend anything), while a late
    report line still amends the report."""
    records = kmsg_records("retry-2", [TEMPLATES[2]])
    expected = by_id(in_order(records))
    middle, rest = records[10:60], records[:10] + records[60:]
    noise = [
        {**records[-1], "sequence": 9000 + n, "msg": f"eth0: link up, 1000 Mbps ({n})"}
        for n in range(20)
    ]
    clock = FakeClock(1000.0)
    handed: list[str] = []

    async def main():
        app, sink = await serve_app(clock)
        assert app.forward is not None
        handle = app.processor.handle

        async def spy(source, records, **kwargs):
            handed.extend(record.message for record in records)
            return await handle(source, records, **kwargs)

        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests_of([rest]))
        clock.now += 5
        await app.processor.tick()
        app._refresh_prefilter()
        app.processor.handle = spy
        later = requests_of([noise, middle], name="later")
        await asyncio.to_thread(send_and_wait_acks, app.forward.port, later)
        clock.now += 5
        await app.processor.tick()
        await app.stop()
        return sink.docs

    docs = asyncio.run(main())
    assert by_id(docs[-1:]) == expected
    assert not [message for message in handed if message.startswith("eth0: link up")]
    assert len(handed) == len(middle)


def test_late_report_lines_of_a_watched_host_are_read_and_its_other_lines_never_shaped():
    """A host whose report was emitted: its ordinary lines are acked unread (never shaped),
    while its late summary, reaper line, kill line (resent) and task row are read, each
    among ordinary lines of it, and the report comes out whole."""
    records = kmsg_records("retry-3", [TEMPLATES[2]])
    kill = next(i for i, r in enumerate(records) if "Killed process" in r["msg"])
    summary = next(i for i, r in enumerate(records) if r["msg"].startswith("oom-kill:"))
    row = next(i for i, r in enumerate(records) if r["msg"].startswith("[ 265810]"))
    reaper = {
        **records[kill],
        "sequence": records[-1]["sequence"] + 1,
        "usec": records[-1]["usec"] + 40,
        "msg": "oom_reaper: reaped process 265606 (.thunderbird-wr), now anon-rss:0kB, "
        "file-rss:0kB, shmem-rss:0kB",
    }
    expected = by_id(in_order([*records, reaper]))
    late = [records[summary], reaper, records[kill], records[row]]
    rest = [r for i, r in enumerate(records) if i not in (summary, row)]
    clock = FakeClock(1000.0)
    rounds: list[tuple[bool, list[str], int]] = []

    async def main():
        app, sink = await serve_app(clock)
        assert app.forward is not None
        handle = app.processor.handle
        handed: list[str] = []

        async def spy(source, records, **kwargs):
            handed.extend(record.message for record in records)
            return await handle(source, records, **kwargs)

        await asyncio.to_thread(send_and_wait_acks, app.forward.port, requests_of([rest]))
        app.processor.handle = spy
        for n, line in enumerate(late):
            clock.now += 5  # past the reaper's grace: (re-)emitted
            await app.processor.tick()
            app._refresh_prefilter()
            watched = app.processor.only_amendable_hosts() == {"retry-3"}
            noise = [
                {**records[-1], "sequence": 9000 + 10 * n + k, "msg": f"eth0: link up ({k})"}
                for k in range(4)
            ]
            shaped = app.metrics.get("records_shaped", {"source": "forward"})
            chunks = requests_of([noise[:2], [*noise[2:], line]], name=f"late{n}-")
            await asyncio.to_thread(send_and_wait_acks, app.forward.port, chunks[:1])
            shaped = app.metrics.get("records_shaped", {"source": "forward"}) - shaped
            await asyncio.to_thread(send_and_wait_acks, app.forward.port, chunks[1:])
            rounds.append((watched, handed[:], shaped))
            handed.clear()
        clock.now += 5
        await app.processor.tick()
        await app.stop()
        return sink.docs

    docs = asyncio.run(main())
    for (watched, handed, shaped), line in zip(rounds, late, strict=True):
        assert watched
        assert shaped == 0  # a request of ordinary lines: acked unread
        assert handed == [line["msg"]]
    assert by_id(docs[-1:]) == expected
