"""Edge sources on a node: /dev/kmsg format (file and FIFO), journalctl JSON, file rotation."""

import asyncio
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest

from oom_enricher.model import ShippedRecord
from oom_enricher.sources.file_follower import FileFollower
from oom_enricher.sources.journal_source import JournalSource
from oom_enricher.sources.kmsg_source import KmsgSource, parse_kmsg
from tests.sources.corpus_stream import (
    kernel_lines,
    offline_documents,
    pipeline_documents,
    projection,
)

STAMP = re.compile(r"^\[\s*(\d+)\.(\d{6})\] ?(.*)$")


def kmsg_records(prefix: str = "007") -> tuple[list[str], list[str]]:
    """(kmsg records `4,seq,usec,-;text`, the original syslog lines) of a corpus file."""
    records, originals = [], []
    for seq, (line, _, msg) in enumerate(kernel_lines(prefix), start=100):
        m = STAMP.match(msg)
        if not m:
            continue
        usec = int(m[1]) * 1_000_000 + int(m[2])
        records.append(f"4,{seq},{usec},-;{m[3]}")
        originals.append(line)
    return records, originals


class Collect:
    def __init__(self, source, want: int) -> None:
        self.records: list[ShippedRecord] = []
        self.positions: list = []
        self.source = source
        self.want = want

    async def __call__(self, records, position) -> None:
        self.records.extend(records)
        self.positions.append(position)
        if len(self.records) >= self.want:
            stopped = self.source.stop()
            if asyncio.iscoroutine(stopped):
                await stopped


async def run_until(source, want: int, position=None, limit: float = 30.0) -> Collect:
    collect = Collect(source, want)
    await asyncio.wait_for(source.run(collect, position), limit)
    return collect


def test_parse_kmsg_ignores_unknown_fields_and_dictionary_lines():
    rec = parse_kmsg("6,339,5140900,-,caller=T1234;NET: Registered\n SUBSYSTEM=net\n")
    assert (rec.priority, rec.facility, rec.seq, rec.usec, rec.text) == (
        6,
        0,
        339,
        5140900,
        "NET: Registered",
    )
    assert parse_kmsg("12,5,1,-;user write").facility == 1
    assert parse_kmsg("garbage") is None


def test_kmsg_file_resumes_after_restart_without_re_emitting(tmp_path: Path):
    records, originals = kmsg_records()
    half = len(records) // 2
    path = tmp_path / "kmsg"
    path.write_text(
        "".join(
            r + "\n SUBSYSTEM=memory\n" * (i % 7 == 0) + ("\n" if i % 7 else "")
            for i, r in enumerate(records[:half])
        )
    )

    first = asyncio.run(run_until(KmsgSource(str(path), host="node-k"), half))
    assert len(first.records) == half
    key, position = first.positions[-1]
    assert key == f"kmsg:{path}" and position["seq"] == 100 + half - 1

    with path.open("a") as fh:
        fh.writelines(r + "\n" for r in records[half:])
    second = asyncio.run(
        run_until(KmsgSource(str(path), host="node-k"), len(records) - half, position)
    )
    got = first.records + second.records
    assert [r.fields["seq"] for r in got] == list(range(100, 100 + len(records)))
    assert all(r.host == "node-k" and r.fields["is_kernel"] for r in got)
    assert projection(pipeline_documents(got)) == projection(offline_documents(originals))


def test_kmsg_from_a_fifo(tmp_path: Path):
    records, _ = kmsg_records()
    fifo = tmp_path / "kmsg.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "w") as fh:
            fh.writelines(r + "\n" for r in records)

    writer = threading.Thread(target=write)
    writer.start()
    collect = asyncio.run(run_until(KmsgSource(str(fifo), host="n"), len(records) + 1))
    writer.join()
    assert [r.message for r in collect.records] == records


FAKE_JOURNALCTL = r"""
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
after = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--after-cursor=")), None)
start = 0 if after is None else [e["__CURSOR"] for e in entries].index(after) + 1
for e in entries[start:]:
    print(json.dumps(e), flush=True)
"""


def test_journal_source_resumes_from_cursor(tmp_path: Path):
    lines = kernel_lines("013")
    entries = [
        {"__CURSOR": f"s=abc;i={i}", "__REALTIME_TIMESTAMP": str(1_700_000_000_000_000 + i),
         "_TRANSPORT": "kernel", "PRIORITY": "4", "SYSLOG_IDENTIFIER": "kernel",
         "_HOSTNAME": host, "MESSAGE": msg}
        for i, (_, host, msg) in enumerate(lines)
    ]  # fmt: skip
    data = tmp_path / "journal.json"
    data.write_text("".join(json.dumps(e) + "\n" for e in entries))
    script = tmp_path / "journalctl.py"
    script.write_text(FAKE_JOURNALCTL)
    command = [sys.executable, str(script), str(data)]

    first = asyncio.run(run_until(JournalSource(command), len(entries)))
    assert [r.message for r in first.records] == [e["MESSAGE"] for e in entries]
    assert first.positions[-1] == ("journal", {"cursor": entries[-1]["__CURSOR"]})
    source = JournalSource(command)
    assert source.argv({"cursor": "s=abc;i=3"})[-1] == "--after-cursor=s=abc;i=3"
    assert source.argv(None)[-1] == "-b"
    resumed = asyncio.run(run_until(JournalSource(command), 1, {"cursor": entries[9]["__CURSOR"]}))
    assert resumed.records[0].message == entries[10]["MESSAGE"]
    assert all(r.fields["is_kernel"] for r in first.records)
    assert projection(pipeline_documents(first.records)) == projection(
        offline_documents([line for line, _, _ in lines])
    )


def test_file_follower_through_rename_and_copytruncate_rotation(tmp_path: Path):
    path = tmp_path / "kern.log"
    lines = [line for line, _, _ in kernel_lines("007")]
    a, b, c = lines[:30], lines[30:60], lines[60:]
    path.write_text("".join(x + "\n" for x in a))

    async def scenario() -> tuple[list[ShippedRecord], dict]:
        follower = FileFollower(str(path), poll_interval=0.02)
        collect = Collect(follower, len(lines))
        task = asyncio.create_task(follower.run(collect))
        await _wait(lambda: len(collect.records) >= 30)
        with path.open("a") as fh:  # written just before logrotate renames the file
            fh.write(b[0] + "\n")
        path.rename(tmp_path / "kern.log.1")
        path.write_text("".join(x + "\n" for x in b[1:]))
        await _wait(lambda: len(collect.records) >= 60)
        # copytruncate: the same inode is emptied and written again
        with path.open("r+") as fh:
            fh.truncate(0)
        with path.open("a") as fh:
            fh.write("".join(x + "\n" for x in c[:5]))
        await _wait(lambda: len(collect.records) >= 65)
        follower.stop()
        await task
        return collect.records, collect.positions[-1][1]

    got, position = asyncio.run(scenario())
    assert [r.message for r in got] == a + b + c[:5]

    # A restart continues at the saved offset of the same inode.
    with path.open("a") as fh:
        fh.write("".join(x + "\n" for x in c[5:]))

    async def resume() -> list[ShippedRecord]:
        follower = FileFollower(str(path), poll_interval=0.02)
        return (await run_until(follower, len(c) - 5, position)).records

    assert [r.message for r in asyncio.run(resume())] == c[5:]


async def _wait(predicate, limit: float = 10.0) -> None:
    for _ in range(int(limit / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    pytest.fail("condition not reached")


@pytest.mark.integration
def test_real_dev_kmsg_reads_new_records_and_resumes_without_re_emitting():
    marker = f"oom-enricher-test {os.getpid()} {time.time_ns()}"

    async def first() -> Collect:
        source = KmsgSource("/dev/kmsg", host="this-node")
        collect = Collect(source, 10**9)
        task = asyncio.create_task(source.run(collect))
        await asyncio.sleep(0.3)
        with open("/dev/kmsg", "w") as fh:  # a userspace write: facility user, not kernel
            fh.write(f"<4>{marker}\n")
        for _ in range(200):
            if any(marker in r.message for r in collect.records):
                break
            await asyncio.sleep(0.02)
        source.stop()
        await asyncio.wait_for(task, 5)
        return collect

    collect = asyncio.run(first())
    (mine,) = [r for r in collect.records if marker in r.message]
    assert mine.fields["is_kernel"] is False and mine.fields["facility"] == 1
    assert mine.fields["priority"] == 4 and mine.host == "this-node"
    seqs = [r.fields["seq"] for r in collect.records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    _, position = collect.positions[-1]

    async def again() -> Collect:
        source = KmsgSource("/dev/kmsg", host="this-node")
        collect = Collect(source, 10**9)
        task = asyncio.create_task(source.run(collect, position))
        await asyncio.sleep(1.0)
        source.stop()
        await asyncio.wait_for(task, 5)
        return collect

    resumed = asyncio.run(again())
    assert all(r.fields["seq"] > position["seq"] for r in resumed.records)
    assert not any(marker in r.message for r in resumed.records)


def test_file_rotated_while_stopped_is_read_to_its_end_first(tmp_path: Path):
    path = tmp_path / "kern.log"
    lines = [line for line, _, _ in kernel_lines("037")]
    path.write_text("".join(x + "\n" for x in lines[:10]))

    async def first() -> dict:
        follower = FileFollower(str(path), poll_interval=0.02)
        return (await run_until(follower, 10)).positions[-1][1]

    position = asyncio.run(first())
    with path.open("a") as fh:  # written after we stopped, then rotated away
        fh.write("".join(x + "\n" for x in lines[10:20]))
    path.rename(tmp_path / "kern.log.1")
    path.write_text("".join(x + "\n" for x in lines[20:]))

    async def again() -> list[ShippedRecord]:
        follower = FileFollower(str(path), poll_interval=0.02)
        return (await run_until(follower, len(lines) - 10, position)).records

    assert [r.message for r in asyncio.run(again())] == lines[10:]
