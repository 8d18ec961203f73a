"""Bytes that are not UTF-8 travel as lone surrogates and become U+FFFD only in documents."""

from pathlib import Path

import orjson

import oom_enricher
from oom_enricher.enrich.surrogates import clean_text
from oom_enricher.pipeline import Pipeline
from oom_enricher.sources.syslog_framing import parse_message, to_record
from oom_enricher.sources.syslog_receiver import _decode

SAMPLE = Path(oom_enricher.__file__).parent / "samples" / "seed-docker-beam.log"


def syslog_frames(name: bytes) -> list[bytes]:
    lines = SAMPLE.read_bytes().splitlines()
    # Kernel process names are raw bytes: one task in the table is named "caf\xe9".
    lines = [line.replace(b" 0 beam.smp", b" 0 caf" + name) for line in lines]
    return [b"<4>Oct 12 19:00:20 edge-1 kernel: " + line for line in lines]


def test_non_utf8_task_name_survives_to_the_document_as_a_replacement():
    pipeline = Pipeline()
    docs = []
    for frame in syslog_frames(b"\xe9"):
        text = _decode(frame)
        assert text.encode("utf-8", "surrogateescape") == frame  # kept byte for byte
        docs.extend(pipeline.feed(to_record(parse_message(text), peer="10.0.0.1")))
    docs.extend(pipeline.finish())
    (doc,) = docs
    names = [task["name"] for task in doc["oom"]["tasks"]]
    assert "caf\ufffd" in names
    assert "\udce9" not in orjson.dumps(doc).decode()
    assert pipeline.stats.replaced_characters >= 1


def test_clean_text_counts_replacements_and_keeps_valid_text():
    assert clean_text("caf\udce9 ok") == ("caf\ufffd ok", 1)
    assert clean_text("café \ufffd") == ("café \ufffd", 0)
    assert clean_text("\ud800x") == ("\ufffdx", 1)
    # A valid UTF-8 sequence split into escaped bytes joins back into its character.
    assert clean_text("\udcc3\udca9") == ("é", 0)
