"""Inputs saved by Windows tools: a UTF-8 byte order mark, UTF-16 and UTF-32 text."""

from __future__ import annotations

import codecs
import io
import subprocess
import sys

import orjson
import pytest

from oom_enricher.skimming import split_file
from oom_enricher.sources.text_encoding import as_utf8
from tests.core.pasted_reports import FACTS, facts, read_every_way, stamped
from tests.corpus_cases import REPO


def windows_text(codec: str, mark: bytes) -> bytes:
    return mark + "".join(line + "\r\n" for line in stamped()).encode(codec)


ENCODINGS = {
    "utf-8 mark (Notepad)": ("utf-8", codecs.BOM_UTF8),
    "utf-16le (PowerShell >)": ("utf-16-le", codecs.BOM_UTF16_LE),
    "utf-16be": ("utf-16-be", codecs.BOM_UTF16_BE),
    "utf-32le": ("utf-32-le", codecs.BOM_UTF32_LE),
}


@pytest.mark.parametrize(("codec", "mark"), ENCODINGS.values(), ids=ENCODINGS.keys())
def test_a_report_saved_by_a_windows_tool_keeps_every_fact(codec, mark, tmp_path, monkeypatch):
    """Notepad's mark hid the first line's prefix (the header's trigger was lost); UTF-16
    put a NUL between every character, so no line of the report was read."""
    (doc,) = read_every_way(tmp_path, windows_text(codec, mark), monkeypatch)
    assert facts(doc) == FACTS


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-8"])
def test_a_marked_report_on_standard_input(codec):
    mark = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF8
    done = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", "-"],
        input=windows_text(codec, mark),
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (doc,) = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert facts(doc) == FACTS


def test_utf16_read_in_odd_sizes_decodes_whole_characters():
    text = "caf\u00e9 \u706b 12\u6708\n" * 1000
    stream = as_utf8(io.BytesIO(codecs.BOM_UTF16_LE + text.encode("utf-16-le")))
    pieces = []
    while piece := stream.read(7):
        pieces.append(piece)
    assert b"".join(pieces).decode("utf-8") == text


def test_a_cut_utf16_unit_becomes_one_replacement_character():
    raw = codecs.BOM_UTF16_LE + "ab\n".encode("utf-16-le") + b"c"
    assert as_utf8(io.BytesIO(raw)).read() == "ab\n\ufffd".encode()


def test_an_unmarked_file_is_left_as_it_is(tmp_path):
    """Only a mark changes how a file is read: an ordinary log is still mapped."""
    path = tmp_path / "syslog"
    path.write_bytes(b"Nov 25 10:00:05 web1 kernel: hello\n")
    with path.open("rb") as stream:
        assert as_utf8(stream) is stream
        assert stream.tell() == 0


def test_an_unmarked_pipe_loses_no_byte():
    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    data = b"Nov 25 10:00:05 web1 kernel: hello\n" * 3
    stream = as_utf8(Pipe(data))
    assert stream.read(2) + stream.read(10) + stream.read() == data


def test_a_marked_file_is_not_split_between_processes(tmp_path):
    path = tmp_path / "big.log"
    path.write_bytes(windows_text("utf-16-le", codecs.BOM_UTF16_LE) * 50)
    assert not split_file.splittable(str(path), 2, 1)
    path.write_bytes(windows_text("utf-8", b"") * 50)
    assert split_file.splittable(str(path), 2, 1)
