"""Reports come out the same however their lines travel: kernel order, late lines amend."""

from __future__ import annotations

import random

from oom_enricher.pipeline import PipelineOptions
from oom_enricher.reassembly.bounds import Bounds
from tests.core.kernel_order_harness import (
    GIVEN_BACK_PLAN,
    TEMPLATES,
    ServeLike,
    by_id,
    chunks_of,
    given_back_stream,
    in_order,
    kmsg_records,
    last_versions,
    shipped,
    superseded_away,
)


def fleet(hosts: int = 3, reports: int = 6, seed: int = 7) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    return {
        f"node-{n}": kmsg_records(f"node-{n}", [rng.choice(TEMPLATES) for _ in range(reports)])
        for n in range(hosts)
    }


def test_fluent_bit_retry_reordering_splits_reports():
    """serve stopped for 30 s while a fleet's kernel lines were tailed: chunks refused during
    the outage come back on their own random backoff (6-21 s), after newer ones. Every
    report must still come out once, with the document in-order reading gives."""
    streams = fleet()
    expected = by_id(in_order([r for records in streams.values() for r in records]))
    rng = random.Random(1)
    deliveries: list[tuple[float, list[dict]]] = []
    for records in streams.values():
        for index, chunk in enumerate(chunks_of(records, 17)):
            written = 10.0 * index + rng.random()
            if 20 <= written < 50:  # serve is down: the chunk is retried after its backoff
                written = 50 + rng.uniform(6, 21)
            deliveries.append((written, chunk))
    serve = ServeLike()
    for when, chunk in sorted(deliveries, key=lambda item: item[0]):
        serve.advance_to(1000 + when)
        serve.deliver(chunk)
    got = by_id(last_versions(serve.close()))
    assert len(expected) == 18
    assert got == expected
    assert all(item["complete"] for item in got.values())


def test_bench_forward_two_connections_reordering():
    """Two connections race: each chunk may land before its predecessor."""
    streams = fleet(hosts=2, reports=8, seed=3)
    records = [r for pair in zip(*streams.values(), strict=False) for r in pair]
    expected = by_id(in_order(records))
    chunks = chunks_of(records, 40)
    for first in range(0, len(chunks) - 1, 2):  # connection 2 wins every race
        chunks[first], chunks[first + 1] = chunks[first + 1], chunks[first]
    serve = ServeLike()
    for index, chunk in enumerate(chunks):
        serve.advance_to(1000 + index * 0.2)
        serve.deliver(chunk)
    assert by_id(last_versions(serve.close())) == expected


def test_late_lines_amend_under_the_same_id():
    """The head of a report comes back from a retry after its tail was emitted: the report
    is emitted again, complete, under the id it had; no second document appears."""
    records = kmsg_records("node-1", [TEMPLATES[0]])
    (expected,) = in_order(records)
    head, tail = records[: len(records) // 2], records[len(records) // 2 :]
    serve = ServeLike()
    serve.deliver(tail)
    serve.advance_to(1030)  # emitted now: missing its start
    (first,) = serve.docs
    assert first["oom"]["complete"] is False
    serve.advance_to(1090)  # the retry, 90 s later, inside the amendment window
    serve.deliver(head)
    serve.advance_to(1095)  # its tail grace again
    second = serve.docs[-1]
    assert len(serve.close()) == 2
    assert second["event"]["id"] == first["event"]["id"] == expected["event"]["id"]
    assert by_id([second]) == by_id([expected])
    assert second["oom"]["lines_count"] > first["oom"]["lines_count"]


def test_a_report_closed_by_the_wall_clock_before_its_kill_came_is_one_document():
    """The kill line comes after `max_wall_age` closed the report: the report, held while
    its kill may still come, goes out once, complete, with the id in-order reading gives."""
    records = kmsg_records("node-1", [TEMPLATES[1]])
    (expected,) = in_order(records)
    serve = ServeLike(options=PipelineOptions(bounds=Bounds(max_wall_age=10.0)))
    serve.deliver(records[:-3])
    serve.advance_to(1030)  # closed at 1010, not emitted: no kill yet
    assert serve.docs == []
    serve.deliver(records[-3:])
    (doc,) = serve.close()
    assert by_id([doc]) == by_id([expected])


def test_a_kill_line_after_its_report_was_emitted_without_one_gives_the_parse_id():
    """Past the hold the report is emitted without its kill, under the id of its highest
    anchor line; the kill arriving later (inside the amendment window) gives the version
    in-order reading gives, under the same id as `parse`, naming the first id in
    `event.supersedes`: the final documents by id equal in-order reading."""
    records = kmsg_records("node-1", [TEMPLATES[1]])
    (expected,) = in_order(records)
    serve = ServeLike(options=PipelineOptions(bounds=Bounds(max_wall_age=10.0)))
    serve.deliver(records[:-3])
    serve.advance_to(1080)
    (first,) = serve.docs
    assert first["oom"]["incomplete_reason"] == "max_wall_age"
    assert "supersedes" not in first["event"]
    serve.deliver(records[-3:])
    docs = serve.close()
    assert len(docs) == 2
    final = docs[-1]
    assert final["event"]["id"] == expected["event"]["id"] != first["event"]["id"]
    assert final["event"]["supersedes"] == [first["event"]["id"]]
    assert by_id(superseded_away(docs)) == by_id([expected])
    assert final["oom"]["complete"] is True and final["oom"]["victims_count"] == 1


def test_duplicates_and_a_replay_after_restart_emit_nothing_new():
    records = kmsg_records("node-1", [TEMPLATES[2], TEMPLATES[3]])
    expected = by_id(in_order(records))
    serve = ServeLike()
    chunks = chunks_of(records, 25)
    for chunk in chunks:
        serve.deliver(chunk)
        serve.advance_to(serve.clock.now + 3)
    serve.restart()
    emitted = len(serve.docs)
    for chunk in chunks[-3:]:  # a shipper resending what it was not sure of
        serve.deliver(chunk)
    assert len(serve.docs) == emitted
    assert by_id(last_versions(serve.close())) == expected


def test_low_water_holds_lines_of_reports_still_amendable():
    """A durable log may drop lines below `low_water`: not those of a report that late
    lines can still amend, until its amendment window has passed."""
    records = kmsg_records("node-1", [TEMPLATES[0]])
    serve = ServeLike(options=PipelineOptions(bounds=Bounds(lookback_lines=0)))
    for position, record in enumerate(records):
        (line,) = serve.pipeline.normalizer.normalize_record(shipped(record))
        line.position = position
        serve.docs.extend(serve.pipeline.feed_normalized(line))
    serve.advance_to(1010)
    assert len(serve.docs) == 1  # emitted, still amendable
    assert serve.pipeline.assembler.low_water() == 2  # its first line (two noise lines before)
    serve.advance_to(1010 + Bounds().amend_window + 5)
    assert serve.pipeline.assembler.low_water() is None


def test_next_deadline_names_the_hold_release_and_the_amendment_expiry():
    """Not only reports in progress have deadlines: a report held for its kill is released
    at `hold_unkilled` after its close, and an emitted one stops being amendable at
    `amend_window`; a server sleeping until `next_deadline` must wake at both."""
    bounds = Bounds(max_wall_age=10.0)
    records = kmsg_records("node-1", [TEMPLATES[1]])
    serve = ServeLike(options=PipelineOptions(bounds=bounds))
    assembler = serve.pipeline.assembler
    serve.deliver(records[:-3])  # no kill line yet
    assert assembler.next_deadline() == 1000.0 + bounds.max_wall_age
    serve.advance_to(1010)  # closed by the wall clock, held: its kill may still come
    assert serve.docs == []
    closed = 1010.0
    assert assembler.next_deadline() == closed + bounds.hold_unkilled
    serve.advance_to(closed + bounds.hold_unkilled - 1)
    assert serve.docs == []
    serve.advance_to(closed + bounds.hold_unkilled)
    assert len(serve.docs) == 1  # released at its deadline
    assert assembler.next_deadline() == closed + bounds.amend_window
    serve.advance_to(closed + bounds.amend_window)
    assert assembler.next_deadline() is None  # nothing held, nothing amendable


def test_a_fragment_taken_into_the_report_before_it_and_given_back_is_the_live_version():
    """A report's tail (kill line, no header) comes while the report before it still lacks
    its kill: it is emitted alone, then taken into that report (which names it superseded),
    then given back when its header and the first report's kill arrive. Its last version
    comes after the document that superseded it, so a reader that applies the documents in
    order keeps it; one that dropped every id ever named superseded lost that kill."""
    records = given_back_stream()
    expected = by_id(in_order(records))
    chunks = chunks_of(records, 30)
    serve = ServeLike()
    for when, index in GIVEN_BACK_PLAN:
        serve.advance_to(1000 + when)
        serve.deliver(chunks[index])
    docs = serve.close()
    superseded_at = next(i for i, doc in enumerate(docs) if doc["event"].get("supersedes"))
    (fragment,) = docs[superseded_at]["event"]["supersedes"]
    assert fragment in expected  # the kill the fragment holds, under parse's id
    assert any(doc["event"]["id"] == fragment for doc in docs[superseded_at + 1 :])
    assert by_id(superseded_away(docs)) == expected
