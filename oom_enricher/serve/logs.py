"""Structured logs for the long-running server: one JSON object per line on stderr."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

# Attributes every LogRecord has; anything else came in through `extra=` and is a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "@timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error.stack_trace"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def use_json_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
