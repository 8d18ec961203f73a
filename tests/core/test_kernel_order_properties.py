"""Property: however chunks travel (order, connections, duplicates, delays past emission,
restarts), the final documents by id equal in-order reading, and no kill has two ids."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oom_enricher.reassembly.markers import Marker, classify
from tests.core.kernel_order_harness import (
    TEMPLATES,
    ServeLike,
    by_id,
    chunks_of,
    in_order,
    kmsg_records,
    superseded_away,
)

# Delays stay inside what a shipper's retry does (Fluent Bit backs off up to ~21 s per try;
# a 30 s outage) and inside the amendment window and the hold of a report without its kill.
MAX_DELAY = 45.0
# A kill or summary line retried this late comes after its report was emitted without it
# (the hold is 60 s), still inside the amendment window (120 s).
PAST_EMISSION = [65.0, 90.0, 110.0]
KILL_KINDS = {"summary": Marker.SUMMARY, "killed": Marker.KILLED}


def kind_of(record: dict) -> Marker | None:
    found = classify(record["msg"])
    return found[0] if found is not None else None


@st.composite
def deliveries(draw):
    hosts = draw(st.integers(1, 3))
    streams = {
        f"node-{n}": kmsg_records(
            f"node-{n}",
            draw(st.lists(st.sampled_from(TEMPLATES), min_size=1, max_size=3)),
            first_seq=draw(st.integers(1, 10_000)),
        )
        for n in range(hosts)
    }
    plan: list[tuple[float, list[dict]]] = []
    for records in streams.values():
        size = draw(st.integers(3, 40))
        # the kill line, the summary line or both travel alone, delayed past emission
        late = {KILL_KINDS[k] for k in draw(st.sets(st.sampled_from(sorted(KILL_KINDS))))}
        for index, chunk in enumerate(chunks_of(records, size)):
            written = index * 0.5  # the shipper's flush interval
            for record in [r for r in chunk if kind_of(r) in late]:
                plan.append((written + draw(st.sampled_from(PAST_EMISSION)), [record]))
            chunk = [r for r in chunk if kind_of(r) not in late]
            if not chunk:
                continue
            delay = draw(st.sampled_from([0.0, 0.0, 0.3, 3.0, 15.0, MAX_DELAY]))
            plan.append((written + delay, chunk))
            if draw(st.integers(0, 9)) == 0:  # resent: the ack was lost
                plan.append((written + delay + draw(st.floats(0, MAX_DELAY)), chunk))
    plan.sort(key=lambda item: item[0])
    restarts = set(draw(st.lists(st.integers(0, len(plan) - 1), max_size=3)))
    return streams, plan, restarts


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_any_delivery_gives_the_in_order_documents(case):
    streams, plan, restarts = case
    expected = by_id(in_order([record for records in streams.values() for record in records]))
    serve = ServeLike()
    for index, (when, chunk) in enumerate(plan):
        serve.advance_to(1000 + when)
        serve.deliver(chunk)
        if index in restarts:
            serve.restart()
    docs = serve.close()
    assert by_id(superseded_away(docs)) == expected
    # no kill has two ids: every id that does not stand was named superseded by a document
    # after its last version
    last = {doc["event"]["id"]: index for index, doc in enumerate(docs)}
    for doc_id in set(last) - set(expected):
        assert any(doc_id in doc["event"].get("supersedes", []) for doc in docs[last[doc_id] :])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_next_deadline_kept_between_changes_is_the_one_computed_afresh(case):
    """The emitted reports' part of next_deadline is kept until they change (it runs after
    every batch): at every step it equals a fresh computation over all of them."""
    _, plan, restarts = case
    serve = ServeLike()

    def check() -> None:
        assembler = serve.pipeline.assembler
        kept = assembler.next_deadline()
        assembler._emitted_changed = True  # computed again from every emitted report
        assert kept == assembler.next_deadline()

    for index, (when, chunk) in enumerate(plan):
        serve.advance_to(1000 + when)
        check()
        serve.deliver(chunk)
        check()
        if index in restarts:
            serve.restart()
            check()
    serve.advance_to(1000 + plan[-1][0] + 200)
    check()
