"""ENOSPC in the spool: the sink's worker lives on, `flush()` is not true for documents that
went nowhere, they are delivered once the disk has room, and `ship` exits non-zero."""

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from oom_enricher.sinks.elasticsearch import EsConnection
from oom_enricher.sinks.elasticsearch.bulk_sink import ElasticsearchSink, SinkConfig

from .helpers import client, make_document, unique_namespace

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@contextlib.contextmanager
def full_tmpfs(path: Path):
    """A 1 MiB tmpfs with no room left (the tests run as root, as CI does)."""
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], check=True)
    try:
        (path / "spool").mkdir()
        fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_enospc_in_the_spool_keeps_the_worker_alive_and_flush_false_until_there_is_room(
    tmp_path,
):
    with full_tmpfs(tmp_path / "disk") as disk:
        config = SinkConfig(
            EsConnection(closed_port_url(), request_timeout=2),
            spool_dir=disk / "spool",
            dead_letter_path=disk / "dead.jsonl",
            flush_after_seconds=0.05,
            max_retries=0,
            initial_backoff=0.05,
            max_backoff=0.2,
        )
        sink = ElasticsearchSink(config)
        for n in range(5):
            sink.send(make_document(n))
        assert sink.flush(5) is False  # not indexed, not spooled: not a success
        assert sink._thread.is_alive()
        assert (sink.stats.unsaved, sink.stats.spooled, sink.stats.dead_lettered) == (5, 0, 0)
        assert sink.stats.write_errors >= 1
        (disk / "filler").unlink()
        sink.send(make_document(5))  # the worker still takes documents
        assert sink.flush(10) is True
        assert (sink.stats.unsaved, sink.stats.spool_pending) == (0, 6)
        sink.close(drain_timeout=0)


@pytest.mark.integration
def test_ship_exits_non_zero_when_documents_were_neither_indexed_nor_spooled(tmp_path):
    with full_tmpfs(tmp_path / "disk") as disk:
        proc = subprocess.run(
            [sys.executable, "-m", "oom_enricher", "ship", str(CORPUS / "seed-docker-beam.log"),
             "--es", closed_port_url(), "--namespace", unique_namespace(), "--no-setup",
             "--spool-dir", str(disk / "spool"), "--dead-letter", str(disk / "dead.jsonl"),
             "--drain-timeout", "1"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 5, proc.stderr
    assert "neither indexed nor spooled" in proc.stderr
    assert "not saved 1" in proc.stdout


@pytest.mark.integration
def test_documents_held_through_a_full_spool_reach_elasticsearch_once_there_is_room(
    es_url, tmp_path
):
    from oom_enricher.sinks.elasticsearch.installer import install

    namespace = unique_namespace()
    es = client(es_url)
    install(es, namespace)
    with full_tmpfs(tmp_path / "disk") as disk:
        config = SinkConfig(
            EsConnection(es_url, request_timeout=10),
            namespace=namespace,
            spool_dir=disk / "spool",
            dead_letter_path=disk / "dead.jsonl",
            flush_after_seconds=0.05,
            initial_backoff=0.05,
            max_backoff=0.2,
        )
        sink = ElasticsearchSink(config)
        # Elasticsearch refuses the first batch as unreachable while the spool is full.
        real = sink._deliver
        refused = []

        def unreachable_once(docs):
            if not refused:
                refused.append(len(docs))
                return list(docs)
            return real(docs)

        sink._deliver = unreachable_once
        for n in range(3):
            sink.send(make_document(n))
        assert sink.flush(10) is True  # delivered on the retry, not lost, not spooled
        sink.close()
    assert refused == [3] and sink.stats.indexed == 3 and sink.stats.unsaved == 0
