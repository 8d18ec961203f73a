"""Rotated logs as logrotate leaves them: `syslog.2.gz`, `messages-20261101.xz`, `kern.log.3.bz2`.

They were read as the bytes they are: no report found and no word said. The codec is told
by the magic number, so stdin and renamed files are read too.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from datetime import UTC, datetime

import orjson
import pytest

from oom_enricher.pipeline import documents_from_lines
from oom_enricher.skimming import split_file
from oom_enricher.skimming.skim_files import skim_documents
from oom_enricher.sources.file_reader import ReadStats, read_lines
from tests.core.test_cli import run
from tests.core.test_corpus_shapes import comparable
from tests.corpus_cases import REPO

# RHEL 7 /var/log/messages: RFC 3164 stamps (no year), one global OOM
MESSAGES = REPO / "tests" / "corpus" / "013-global-3.10-rhel7-messages-hash012.log"
CODECS = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}


def plain() -> list[dict]:
    return [comparable(doc) for doc in skim_documents([str(MESSAGES)])]


@pytest.mark.parametrize("codec", CODECS)
def test_a_compressed_rotated_log_gives_the_documents_of_the_plain_one(codec, tmp_path):
    path = tmp_path / "messages-20261101"  # no suffix: the first bytes tell the codec
    path.write_bytes(CODECS[codec](MESSAGES.read_bytes()))
    os.utime(path, (MESSAGES.stat().st_mtime,) * 2)
    os.utime(MESSAGES, (MESSAGES.stat().st_mtime,) * 2)
    expected = plain()
    assert len(expected) == 1
    assert [comparable(doc) for doc in skim_documents([str(path)])] == expected
    by_line = documents_from_lines(read_lines([str(path)]))
    assert [comparable(doc) for doc in by_line] == expected


def test_parse_reads_a_gzipped_log_given_and_on_stdin(tmp_path):
    path = tmp_path / "syslog.2.gz"
    path.write_bytes(gzip.compress(MESSAGES.read_bytes()))
    for done in (run("parse", str(path)), run("parse", stdin=path.read_bytes())):
        assert done.returncode == 0, done.stderr
        (doc,) = [orjson.loads(line) for line in done.stdout.splitlines()]
        assert doc["oom"]["victims"][0]["pid"] == 22037


def test_a_compressed_logs_stamps_take_their_year_from_the_file(tmp_path):
    """RFC 3164 stamps carry no year: the compressed file's modification time dates them,
    as a plain file's does (not the decompressed stream's, which has none)."""
    path = tmp_path / "messages-2019.gz"
    path.write_bytes(gzip.compress(MESSAGES.read_bytes()))
    when = datetime(2019, 12, 31, tzinfo=UTC).timestamp()
    os.utime(path, (when, when))
    (doc,) = skim_documents([str(path)])
    assert doc["@timestamp"].startswith("2019-")


def test_a_compressed_log_cut_short_keeps_its_reports_and_says_so(tmp_path):
    """A copy that stopped mid-transfer: the reports before the cut are given, the read
    error is reported (exit 2), and the next file is still read."""
    noise = "".join(
        f"Oct 20 00:40:{n % 60:02d} localhost sshd[7]: noise {n}\n" for n in range(20000)
    )
    data = gzip.compress(MESSAGES.read_bytes() + noise.encode())
    cut = tmp_path / "messages.1.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    stats = ReadStats()
    seed = REPO / "tests" / "corpus" / "seed-docker-beam.log"
    docs = list(skim_documents([str(cut), str(seed)], stats=stats))
    assert [doc["oom"]["victims"][0]["pid"] for doc in docs] == [22037, 20977]
    assert stats.errors == [f"{cut}: gzip data corrupt or cut short (Compressed file ended "
                            "before the end-of-stream marker was reached)"]  # fmt: skip
    done = run("parse", str(cut))
    assert done.returncode == 2
    assert b"gzip data corrupt or cut short" in done.stderr
    assert len(done.stdout.splitlines()) == 1


def test_a_zstd_log_is_refused_with_how_to_read_it(tmp_path):
    path = tmp_path / "kern.log.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 32)
    done = run("parse", str(path), str(MESSAGES))
    assert done.returncode == 2
    assert f"cannot read {path}: zstd-compressed; decompress it first".encode() in done.stderr
    assert len(done.stdout.splitlines()) == 1  # the other file is read


def test_a_compressed_log_is_never_split_among_processes(tmp_path):
    """`parse --jobs` splits a big regular file at byte offsets: a compressed one's offsets
    are no line boundaries of its text."""
    path = tmp_path / "big.gz"
    path.write_bytes(gzip.compress(MESSAGES.read_bytes() * 50))
    assert not split_file.splittable(str(path), 2, 1)
    plain_copy = tmp_path / "big.log"
    # without the author's `...` lines of MESSAGES, which make it a paste (one process)
    plain_copy.write_bytes(MESSAGES.read_bytes().replace(b"\n...\n", b"\n") * 50)
    assert split_file.splittable(str(plain_copy), 2, 1)


def test_a_first_line_with_a_carriage_return_is_read_not_a_traceback(tmp_path):
    """Binary data or old Mac line ends put a carriage return inside the first line, and
    the CSV sniff raised: a traceback instead of the file's reports."""
    path = tmp_path / "odd.log"
    path.write_bytes(b"a,b\rc\n" + MESSAGES.read_bytes())
    done = run("parse", str(path))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1
