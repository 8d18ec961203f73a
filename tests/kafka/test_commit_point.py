"""The committed offset of a partition: replaying from it after a crash at any point gives
exactly the documents of one uninterrupted reading, with the ids `parse` gives."""

from __future__ import annotations

import time

import pytest

from oom_enricher.pipeline import PipelineOptions
from oom_enricher.serve.kafka_worker import CommitPoint, OutageClock, PartitionState
from oom_enricher.sources.kafka_records import to_shipped
from oom_enricher.sources.record_shapes import ShapeOptions
from tests.kafka.fleet import generated_fleet, parse_ids

TAIL_GRACE = PipelineOptions().bounds.tail_grace
LOOKBACK = PipelineOptions().bounds.lookback_lines


@pytest.fixture(scope="module", params=[1, 3], ids=["one-at-a-time", "overlapping"])
def one_partition(request, tmp_path_factory):
    """Reports one after another (the look-back ring then starts inside an emitted report),
    and overlapping ones."""
    fleet = generated_fleet(hosts=40, noise_every=2, concurrent=request.param)
    return fleet, parse_ids(fleet.write(tmp_path_factory.mktemp("p") / "fleet.log"))


def _state(skip: dict[str, int] | None = None) -> PartitionState:
    return PartitionState(PipelineOptions(), ShapeOptions(), OutageClock(), skip)


def _read(state: PartitionState, fleet, start: int, stop: int) -> list[dict]:
    """Feed records start..stop; where no killed report still waits for its reaper lines,
    tick as the worker does every second, as if `tail_grace` had passed."""
    docs = []
    quiet = set(fleet.quiet_cuts[::50])
    for offset in range(start, stop):
        key, value = fleet.records[offset]
        docs.extend(state.feed(to_shipped(value, key), offset))
        if offset + 1 in quiet:
            docs.extend(state.tick(time.monotonic() + TAIL_GRACE + 0.5))
    return docs


@pytest.mark.parametrize("crash_at", [0.05, 0.27, 0.5, 0.74, 0.97])
def test_replay_from_the_committed_offset_after_a_crash_gives_each_report_once(
    one_partition, crash_at
):
    fleet, want = one_partition
    records = fleet.records
    crash = int(len(records) * crash_at)
    first = _state()
    before = _read(first, fleet, 0, crash)
    point = first.commit_point()
    assert point is not None and point.offset <= crash
    # the partition's next owner: nothing but the committed offset and its metadata
    second = _state(CommitPoint.skips_from(point.metadata()))
    after = _read(second, fleet, point.offset, len(records)) + second.finish()
    ids = [doc["event"]["id"] for doc in before + after]
    assert set(ids) == set(want)
    # documents emitted again after the commit point are the same ones (409 in Elasticsearch)
    assert {i for i in ids if ids.count(i) > 1} <= {d["event"]["id"] for d in before}


def test_the_commit_point_is_the_oldest_line_held_not_before(one_partition):
    """Reports already emitted that it cuts are skipped by the next owner, not re-read: with
    reports overlapping all the time, moving back to their heads would chain to the start."""
    fleet, _ = one_partition
    state = _state()
    _read(state, fleet, 0, len(fleet.records) // 2)
    point = state.commit_point()
    assert point.offset == state.assembler.low_water()
    assert all(last >= point.offset for last in point.skip.values())


def test_report_clock_stands_still_while_the_sink_is_slow_or_kafka_is_away():
    """A slow flush or an outage is not a silent host: tail_grace / max_wall_age do not run."""
    clock = OutageClock()
    with clock.held():
        before = clock()
        time.sleep(0.2)  # a slow Elasticsearch bulk request
        assert clock() == before
    clock.went_down()
    before = clock()
    time.sleep(0.2)
    assert clock() == before
    clock.came_back()
    before = clock()
    time.sleep(0.05)
    assert clock() > before
