"""Documents as JSON Lines on stdout (also what `serve --dry-run` prints)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import BinaryIO

import orjson


@dataclass
class StreamSinkStats:
    received: int = 0
    written: int = 0


class JsonLinesSink:
    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout.buffer
        self.stats = StreamSinkStats()

    def send(self, doc: dict) -> None:
        self.stats.received += 1
        self.stream.write(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        self.stats.written += 1

    def flush(self, timeout: float | None = None) -> bool:
        self.stream.flush()
        return True

    def close(self) -> None:
        self.stream.flush()

    @property
    def spool_pending(self) -> int:
        return 0
