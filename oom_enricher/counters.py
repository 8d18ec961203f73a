"""What sources count with, defined below them so that they never import `serve`.

`Counters` is the protocol `serve.metrics.Metrics` satisfies; `Tally` is a plain in-memory
implementation for a source used on its own. `ErrorLog` is the one way a source reports a
refusal or a caught exception: one `errors_total{source, kind}` increment each time, and at
most one log line per kind per interval, so a flood of bad input cannot flood the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

Labels = Mapping[str, object] | None
Add = Callable[[float], None]


class Counters(Protocol):
    def inc(self, name: str, labels: Labels = None, value: float = 1.0, help: str = "") -> None: ...

    def set(self, name: str, value: float, labels: Labels = None, help: str = "") -> None: ...

    def observe(self, name: str, value: float, labels: Labels = None, help: str = "") -> None: ...

    def get(self, name: str, labels: Labels = None) -> float: ...

    def counter(self, name: str, labels: Labels = None, help: str = "") -> Add:
        """`inc` of one series, resolved once: for counters bumped on every request."""
        ...

    def summary(self, name: str, labels: Labels = None, help: str = "") -> Add:
        """`observe` of one series, resolved once."""
        ...


def _key(labels: Labels) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in (labels or {}).items()))


class Tally:
    """Counters kept in a dict; gauges overwrite, observations keep only their count and sum."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def inc(self, name: str, labels: Labels = None, value: float = 1.0, help: str = "") -> None:
        key = (name, _key(labels))
        self._values[key] = self._values.get(key, 0.0) + value

    def set(self, name: str, value: float, labels: Labels = None, help: str = "") -> None:
        self._values[(name, _key(labels))] = float(value)

    def observe(self, name: str, value: float, labels: Labels = None, help: str = "") -> None:
        self.inc(f"{name}_count", labels)
        self.inc(f"{name}_sum", labels, value)

    def get(self, name: str, labels: Labels = None) -> float:
        return self._values.get((name, _key(labels)), 0.0)

    def counter(self, name: str, labels: Labels = None, help: str = "") -> Add:
        key, values = (name, _key(labels)), self._values

        def add(value: float = 1.0) -> None:
            values[key] = values.get(key, 0.0) + value

        return add

    def summary(self, name: str, labels: Labels = None, help: str = "") -> Add:
        return lambda value: self.observe(name, value, labels)

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self._values.items() if n == name)

    def by_label(self, name: str, label: str) -> dict[str, float]:
        """Sums of a counter per value of one label (e.g. errors by kind)."""
        out: dict[str, float] = {}
        for (n, labels), value in self._values.items():
            if n == name:
                key = dict(labels).get(label, "")
                out[key] = out.get(key, 0.0) + value
        return out


class ErrorLog:
    """Counts every error of a source by kind; logs each kind at most once per `interval`."""

    def __init__(
        self,
        counters: Counters,
        source: str,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.counters = counters
        self.source = source
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def error(
        self,
        kind: str,
        message: str,
        *args: object,
        peer: str | None = None,
        exc: BaseException | None = None,
        count: int = 1,
    ) -> bool:
        """Count `count` errors; returns True when logged (with `exc`'s traceback)."""
        self.counters.inc(
            "errors",
            {"source": self.source, "kind": kind},
            count,
            help="Errors and refusals by kind",
        )
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        extra = {"error.type": kind, "event.dataset": self.source}
        if peer is not None:
            extra["source.address"] = peer
        if suppressed:
            message += " (%d more of this kind since the last report)"
            args = (*args, suppressed)
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
        self.logger.warning(message, *args, extra=extra, exc_info=exc_info)
        return True
