"""Property: however chunks travel (order, connections, duplicates, delays past emission,
restarts), the final documents by id equal in-order reading, and no kill has two ids."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.kernel_order_harness import (
    TEMPLATES,
    ServeLike,
    by_id,
    chunks_of,
    in_order,
    kmsg_records,
    last_versions,
)

# Delays stay inside what a shipper's retry does (Fluent Bit backs off up to ~21 s per try;
# a 30 s outage) and inside the amendment window and the hold of a report without its kill.
MAX_DELAY = 45.0


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
        for index, chunk in enumerate(chunks_of(records, size)):
            written = index * 0.5  # the shipper's flush interval
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
    assert by_id(last_versions(docs)) == expected
    # every version of a kill carries the id of its final version
    assert {doc["event"]["id"] for doc in docs} == set(expected)
