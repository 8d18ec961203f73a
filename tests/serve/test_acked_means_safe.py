"""An ack means the lines are safe: across SIGTERM, kill -9, a full disk, bad state files."""

import asyncio
import contextlib
import errno
import os
import subprocess
import time
from collections import Counter

import pytest

from oom_enricher.serve.app import ServeApp
from oom_enricher.serve.config import from_dict
from oom_enricher.serve.journal import Journal
from oom_enricher.serve.processor import NotSafe, Processor
from oom_enricher.serve.state import pack_batch
from oom_enricher.sources.forward_server import ForwardBatch
from oom_enricher.sources.record_shapes import from_record
from tests.serve.serve_process import (
    Serve,
    entries,
    http_get,
    oom_report,
    pack_chunk,
    send_once,
    send_until_acked,
)
from tests.serve.test_processor import ListSink

pytestmark = pytest.mark.integration


def test_non_utf8_task_name_across_a_restart_every_acked_report_once_and_sigterm_exits_0(
    es_url, tmp_path
):
    serve = Serve(tmp_path, es_url)
    reports = {f"edge-{n}": oom_report(f"edge-{n}", n) for n in range(20)}
    try:
        serve.start()
        # Ten whole reports, then the first four lines of ten more (in progress at SIGTERM).
        for n, (host, lines) in enumerate(reports.items()):
            part = lines if n < 10 else lines[:4]
            send_until_acked(serve.port, pack_chunk("kern", entries(host, part), f"p{n}"), f"p{n}")
        assert serve.stop() == 0, serve.log_text()
        serve.start()
        for n, (host, lines) in enumerate(reports.items()):
            if n >= 10:
                rest = entries(host, lines)[4:]
                send_until_acked(serve.port, pack_chunk("kern", rest, f"q{n}"), f"q{n}")
        hits = serve.wait_for_documents(20)
        time.sleep(2.5)  # a duplicate would arrive within the tail grace
        hits = serve.hits()
        assert serve.stop() == 0, serve.log_text()
    finally:
        serve.cleanup()
    assert "Traceback" not in serve.log_text()
    hosts = Counter(h["_source"]["host"]["name"] for h in hits)
    assert hosts == Counter({host: 1 for host in reports}), serve.log_text()
    for hit in hits:
        doc = hit["_source"]
        assert doc["oom"]["complete"] is True
        assert doc["process"]["name"] == "caf\ufffd"


class _Tmpfs:
    def __init__(self, path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True
        )

    def fill(self) -> None:
        fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.path / "filler").unlink()

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


def test_disk_full_under_state_dir_no_ack_health_503_and_nothing_acked_lost_after_kill_9(
    es_url, tmp_path
):
    disk = _Tmpfs(tmp_path / "state", "2m")
    serve = Serve(tmp_path, es_url, state_dir=disk.path)
    first = oom_report("full-1", 1)
    # other kernel lines first: the request needs new pages, not the tail of the last one
    second = [f"[    50.{i:06d}] eth0: link flapped " + "x" * 200 for i in range(40)]
    second += oom_report("full-2", 2)
    try:
        serve.start()
        send_until_acked(serve.port, pack_chunk("kern", entries("full-1", first), "a"), "a")
        disk.fill()
        request = pack_chunk("kern", entries("full-2", second)[:44], "b")
        assert send_once(serve.port, request) is None  # not written: not acknowledged
        status, health = http_get(serve.http_port, "/health")
        assert status == 503
        assert health["status"] == "unavailable"
        assert any("No space left on device" in reason for reason in health["reasons"]), health
        assert send_once(serve.port, request) is None  # a resend is not taken as a duplicate
        disk.free()
        send_until_acked(serve.port, request, "b")
        rest = pack_chunk("kern", entries("full-2", second)[44:], "c")
        send_until_acked(serve.port, rest, "c")
        assert http_get(serve.http_port, "/health")[0] == 200
        serve.kill()  # before the tail grace closed the second report
        serve.start()
        hits = serve.wait_for_documents(2)
        time.sleep(2.5)
        hits = serve.hits()
        assert serve.stop() == 0
    finally:
        serve.cleanup()
        disk.unmount()
    log = serve.log_text()
    assert Counter(h["_source"]["host"]["name"] for h in hits) == {"full-1": 1, "full-2": 1}, log
    assert log.count("journal not writable") == 1  # logged once, not per request


def _records(host: str, lines: list[str]):
    return [from_record(r, event_time=t, tag="kern") for t, r in entries(host, lines)]


def test_chunk_ids_are_deduplicated_per_sender_not_across_senders():
    sink = ListSink()
    report_a, report_b = oom_report("node-a", 1, "a"), oom_report("node-b", 2, "b")

    async def main() -> None:
        app = ServeApp(from_dict({"sources": {"forward": {}}, "http": {"port": None}}), [sink])

        def batch(host, lines, peer, hostname=""):
            return ForwardBatch(
                tag="kern",
                entries=entries(host, lines),
                peer=peer,
                client_hostname=hostname,
                chunk="1",
            )

        await app.on_forward(batch("node-a", report_a, "10.0.0.1"))
        await app.on_forward(batch("node-b", report_b, "10.0.0.2"))  # another sender's "1"
        await app.on_forward(batch("node-a", report_a, "10.0.0.1"))  # a resend: dropped
        # behind one address, senders named by the handshake are told apart
        await app.on_forward(batch("node-c", oom_report("node-c", 3, "c"), "10.0.0.9", "c"))
        await app.on_forward(batch("node-d", oom_report("node-d", 4, "d"), "10.0.0.9", "d"))
        sink.docs.extend(app.processor.pipeline.finish())
        assert app.processor.metrics.get("duplicate_chunks", {"source": "forward"}) == 1

    asyncio.run(main())
    assert sorted(d["host"]["name"] for d in sink.docs) == ["node-a", "node-b", "node-c", "node-d"]


def test_a_chunk_that_could_not_be_made_durable_is_fed_when_resent(tmp_path, monkeypatch):
    sink = ListSink()
    lines = oom_report("node-r", 1, "r")

    async def main() -> None:
        proc = Processor(sinks=[sink], journal=Journal(tmp_path / "journal"), commit_window=0)
        proc.restore()
        proc.start()
        real = os.fsync

        def full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)
        with pytest.raises(NotSafe, match="No space left"):
            await proc.handle("forward", _records("node-r", lines), chunk="1", sender="s")
        assert proc.problems() and proc.pipeline.assembler.open_hosts == 0
        monkeypatch.setattr(os, "fsync", real)
        await proc.handle("forward", _records("node-r", lines), chunk="1", sender="s")
        assert proc.problems() == []
        sink.docs.extend(proc.pipeline.finish())

    asyncio.run(main())
    assert [d["host"]["name"] for d in sink.docs] == ["node-r"]


def test_journal_at_its_byte_cap_refuses_acks_with_503_and_a_counter(tmp_path):
    sink = ListSink()
    first, second = oom_report("node-f", 1, "f"), oom_report("node-g", 2, "g")

    async def main() -> None:
        config = from_dict(
            {
                "state_dir": str(tmp_path),
                "max_journal_bytes": 1024,
                "sources": {"forward": {}},
                "http": {"port": None},
            }
        )
        app = ServeApp(config, [sink])
        proc = app.processor
        proc.restore()
        proc.start()
        await proc.handle("forward", _records("node-f", first), chunk="1", sender="s")
        assert proc.journal.bytes >= 1024  # the first report alone reached the cap
        with pytest.raises(NotSafe, match="cap of 1024"):
            await proc.handle("forward", _records("node-g", second), chunk="2", sender="s")
        ok, health = app.health()
        assert not ok and health["status"] == "unavailable"
        assert any("max_journal_bytes" in reason for reason in health["reasons"]), health
        assert proc.metrics.get("errors", {"source": "journal", "kind": "full"}) == 1
        assert not proc.pipeline.assembler.has_open("node-g")  # the refused batch was not fed
        # Below the cap again (as when delivered segments are released): the resend is fed.
        proc.max_journal_bytes = 1 << 20
        await proc.handle("forward", _records("node-g", second), chunk="2", sender="s")
        assert proc.problems() == []
        sink.docs.extend(proc.pipeline.finish())

    asyncio.run(main())
    assert sorted(d["host"]["name"] for d in sink.docs) == ["node-f", "node-g"]


@pytest.mark.parametrize("damage", ["journal_is_a_file", "segment_is_a_directory",
                                    "wrong_shape", "torn_last_record"])  # fmt: skip
def test_malformed_journal_never_stops_the_start(tmp_path, damage, caplog):
    journal_dir = tmp_path / "journal"
    good = oom_report("node-m", 1, "m")
    if damage == "journal_is_a_file":
        journal_dir.write_text("{}")
    else:
        journal = Journal(journal_dir)
        list(journal.recover())
        half = _records("node-m", good[:4])
        journal.append([pack_batch("forward", "s", "1", None, half)])
        if damage == "segment_is_a_directory":
            (journal_dir / "00000000000000000099.seg").mkdir()
        elif damage == "wrong_shape":
            journal.append(
                [
                    b"\x93\x01\x02\x03",
                    b"\xc1",
                    pack_batch("forward", "s", "2", None, [])[:-1] + b"\x01",
                ]
            )
        journal.close()
        if damage == "torn_last_record":
            (segment,) = journal_dir.glob("*.seg")
            with open(segment, "ab") as fh:
                fh.write(b"\x40\x00\x00\x00\x01\x02")
    sink = ListSink()

    async def main() -> Processor:
        proc = Processor(sinks=[sink], journal=Journal(journal_dir), commit_window=0)
        proc.restore()
        proc.start()
        rest = (
            _records("node-m", good)
            if damage == "journal_is_a_file"
            else _records("node-m", good[4:])
        )
        await proc.handle("forward", rest, chunk="3", sender="s")
        sink.docs.extend(proc.pipeline.finish())
        return proc

    proc = asyncio.run(main())
    assert [d["host"]["name"] for d in sink.docs] == ["node-m"]
    assert sink.docs[0]["oom"]["complete"] is True  # the lines before the damage were replayed
    errors = {
        "journal_is_a_file": "not_a_directory",
        "segment_is_a_directory": "not_a_segment",
        "wrong_shape": "bad_record",
        "torn_last_record": "torn_tail",
    }
    assert proc.metrics.get("errors", {"source": "journal", "kind": errors[damage]}) >= 1
    assert any(r.levelname == "ERROR" and "journal" in r.getMessage() for r in caplog.records)
