"""Documents Elasticsearch refused, one JSON line each with the reason: never a silent drop."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import orjson


class DeadLetterFile:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def write(self, document: dict, reason: object, status: int | str | None, index: str) -> None:
        record = {
            "@timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "index": index,
            "status": status,
            "reason": reason,
            "document": document,
        }
        line = orjson.dumps(record, default=str) + b"\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())


def read_dead_letters(path: Path | str) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [orjson.loads(line) for line in p.read_bytes().splitlines() if line.strip()]
