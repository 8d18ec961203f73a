"""Properties over random streams: no exception, no report lost, none merged, memory bounded."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fleet_log import report_templates
from oom_enricher.pipeline import Pipeline, PipelineOptions
from oom_enricher.reassembly.bounds import Bounds
from oom_enricher.reassembly.markers import Marker, classify

TEMPLATES = report_templates()
NOISE_KERNEL = ["eth0: link up", "EXT4-fs (sda1): mounted filesystem", "usb 1-1: new device"]
FOREIGN = [
    "Nov 25 10:00:01 a sshd[9]: Accepted publickey for x",
    "Nov 25 10:00:01 a systemd-oomd[3]: Killed /user.slice due to memory pressure",
    "Nov 25 10:00:01 b kernel: Out of memory: Killed process 1 (other)",
]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rehost(host: str, messages: list[str], second: int) -> list[str]:
    return [f"Nov 25 10:00:{second:02d} {host} kernel: {message}" for message in messages]


def victim_pids(template: list[str]) -> list[int]:
    pids = []
    for message in template:
        found = classify(message)
        if found and found[0] is Marker.KILLED and int(found[1]["pid"]) not in pids:
            pids.append(int(found[1]["pid"]))
    return pids


@st.composite
def interleaved_fleet(draw):
    hosts = draw(st.integers(min_value=1, max_value=12))
    queues = []
    for index in range(hosts):
        template = TEMPLATES[draw(st.integers(0, len(TEMPLATES) - 1))]
        queues.append((f"host{index}", rehost(f"host{index}", template, 1), template))
    noise_count = draw(st.integers(0, 200))
    queues.append(
        (
            "noise",
            [f"Nov 25 10:00:01 n{n} kernel: {NOISE_KERNEL[n % 3]}" for n in range(noise_count)],
            [],
        )
    )
    order = draw(st.permutations([i for i, q in enumerate(queues) for _ in q[1]]))
    cursors = [0] * len(queues)
    stream = []
    for index in order:
        stream.append(queues[index][1][cursors[index]])
        cursors[index] += 1
    return stream, {host: victim_pids(template) for host, _, template in queues[:-1]}


def run(lines: list[str], bounds: Bounds | None = None) -> tuple[list[dict], Pipeline]:
    pipeline = Pipeline(PipelineOptions(bounds=bounds or Bounds()))
    docs = []
    for line in lines:
        docs += pipeline.feed_line(line)
        assert pipeline.assembler.open_hosts <= pipeline.options.bounds.max_open_hosts
    return docs + pipeline.finish(), pipeline


@SETTINGS
@given(interleaved_fleet())
def test_interleaved_reports_come_out_once_each_complete_and_unmerged(fleet):
    stream, expected = fleet
    docs, _ = run(stream)
    got = {doc["host"]["name"]: doc for doc in docs}
    assert len(docs) == len(expected)  # none lost, none split, none merged
    for host, pids in expected.items():
        doc = got[host]
        assert doc["oom"]["complete"] is True
        assert [victim["pid"] for victim in doc["oom"]["victims"]] == pids


@SETTINGS
@given(st.integers(0, len(TEMPLATES) - 1), st.data())
def test_foreign_lines_inside_a_report_change_nothing(index, data):
    template = TEMPLATES[index]
    clean, _ = run(rehost("a", template, 1))
    noisy = []
    for line in rehost("a", template, 1):
        noisy.append(line)
        if data.draw(st.booleans()):
            noisy.append(data.draw(st.sampled_from(FOREIGN)))
    docs, _ = run(noisy)
    mine = [doc for doc in docs if doc["host"]["name"] == "a"]
    assert len(mine) == 1
    assert mine[0]["oom"]["victims"] == clean[0]["oom"]["victims"]
    assert mine[0]["oom"]["complete"] is True


@SETTINGS
@given(st.integers(0, len(TEMPLATES) - 1), st.data())
def test_truncation_at_any_line_loses_no_report(index, data):
    template = TEMPLATES[index]
    cut = data.draw(st.integers(1, len(template)))
    docs, _ = run(rehost("a", template[:cut], 1) + rehost("a", template, 2))
    has_marker = any(classify(message) for message in template[:cut])
    assert len(docs) == (2 if has_marker else 1)
    assert docs[-1]["oom"]["complete"] is True
    kinds = [(classify(message) or (None,))[0] for message in template[:cut]]
    killed_kept = Marker.KILLED in kinds
    if has_marker and not killed_kept:
        assert docs[0]["oom"]["complete"] is False


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=60))
def test_random_bytes_never_raise(chunks):
    lines = [chunk.decode("utf-8", "replace") for chunk in chunks]
    run(lines)
    run([line for chunk in chunks for line in rehost("x", [chunk.decode("latin-1")], 1)])


@SETTINGS
@given(st.lists(st.sampled_from(TEMPLATES[0][:5] + ["x"]), max_size=400), st.integers(1, 40))
def test_memory_stays_bounded(messages, max_lines):
    bounds = Bounds(max_lines=max_lines, max_open_hosts=3)
    lines = [f"Nov 25 10:00:01 h{n % 7} kernel: {m}" for n, m in enumerate(messages)]
    docs, pipeline = run(lines, bounds)
    assert all(doc["oom"]["lines_count"] <= max_lines for doc in docs)
    assert pipeline.assembler.open_hosts == 0
