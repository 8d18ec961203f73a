"""One known report in the shapes people paste and export it in, and how to read them.

Every reading path must give the same documents: line by line, the skimming reader on a
mapped file, and the skimming reader on a pipe.
"""

from __future__ import annotations

from pathlib import Path

from oom_enricher.pipeline import documents_from_lines
from oom_enricher.skimming import skim_files
from oom_enricher.skimming.skim_files import skim_documents
from oom_enricher.sources.file_reader import read_lines
from tests.core.report_lines import memcg_report

REPORT = memcg_report()  # 6.1 memcg report: trigger stress (100), victim stress (101)
PREFIX = "Nov 25 10:00:05 web1 kernel: "

# The facts every intact reading of REPORT gives.
FACTS = {
    "host": "web1",
    "kernel": "6.1.0-13-amd64",
    "victim": [101, "stress"],
    "trigger": [100, "stress", "0xcc0", 0],
    "scope": "memcg",
    "usage": 104857600,
    "limit": 104857600,
    "memcg": "/app.slice",
    "tasks": [[101, "stress", 23376]],
    "complete": True,
}


def stamped(host: str = "web1", month: str = "Nov 25") -> list[str]:
    """REPORT as /var/log/syslog holds it: syslog prefix and printk stamp on every line."""
    start = f"{month} 10:00:05 {host} kernel: " if host else f"{month} 10:00:05 kernel: "
    return [f"{start}[{5 + n / 1000:12.6f}] {line}" for n, line in enumerate(REPORT)]


def dmesg_lines() -> list[str]:
    return [f"[{5 + n / 1000:12.6f}] {line}" for n, line in enumerate(REPORT)]


def facts(doc: dict) -> dict:
    oom = doc["oom"]
    trigger = oom["trigger"]
    return {
        "host": doc["host"].get("name"),
        "kernel": doc["host"].get("os", {}).get("kernel"),
        "victim": [doc["process"]["pid"], doc["process"]["name"]],
        "trigger": [trigger["pid"], trigger["name"], trigger["gfp_mask"], trigger["order"]],
        "scope": oom["scope"],
        "usage": (oom["memory"] or {}).get("usage_bytes"),
        "limit": (oom["memory"] or {}).get("limit_bytes"),
        "memcg": oom["cgroup"]["oom_path"],
        "tasks": [[row["pid"], row["name"], row["rss_pages"]] for row in oom["tasks"]],
        "complete": oom["complete"],
    }


def _comparable(docs) -> list[dict]:
    out = []
    for doc in docs:
        doc = dict(doc, event=dict(doc["event"]))
        doc["event"].pop("created")
        out.append(doc)
    return out


def read_every_way(tmp_path: Path, text: str | bytes, monkeypatch) -> list[dict]:
    """The documents of `text` as a file (str: in UTF-8); the same by every reading path, or
    the test fails."""
    path = tmp_path / "paste.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    by_line = _comparable(documents_from_lines(read_lines([str(path)])))
    mapped = _comparable(skim_documents([str(path)]))
    with monkeypatch.context() as patch:
        patch.setattr(skim_files, "_map", lambda _stream: None)  # read like a pipe
        piped = _comparable(skim_documents([str(path)]))
    assert mapped == by_line
    assert piped == by_line
    return by_line
