"""Process metrics kept in memory and rendered in the Prometheus text format (0.0.4).

A small registry instead of prometheus_client: the server needs counters, gauges and one
latency summary, all labelled, plus a cap on label sets per metric so that a noisy label
(host or victim name) cannot grow memory without bound.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

OVERFLOW_LABEL = "_other"
WINDOW = 10_000  # samples kept per summary series


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class _Family:
    name: str
    kind: str  # counter | gauge | summary
    help: str
    max_series: int
    values: dict[tuple[tuple[str, str], ...], float] = field(default_factory=dict)
    samples: dict[tuple[tuple[str, str], ...], deque[float]] = field(default_factory=dict)
    # string labels as given (items in call order) -> their series key: counters on the
    # request path are bumped with the same few label sets many thousand times a second
    known: dict[tuple, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def key(self, labels: Mapping[str, object] | None) -> tuple[tuple[str, str], ...]:
        if not labels:
            return self._key({})
        given = tuple(labels.items())
        try:
            return self.known[given]
        except (KeyError, TypeError):  # TypeError: an unhashable label value
            pass
        key = self._key(labels)
        # Only str values: a cached (k, "1") is then never hit by an equal (k, True) or (k, 1).
        if len(self.known) < 4 * self.max_series and all(type(v) is str for _, v in given):
            self.known[given] = key
        return key

    def _key(self, labels: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
        key = tuple(sorted((k, str(v)) for k, v in labels.items()))
        store = self.samples if self.kind == "summary" else self.values
        if key in store or len(store) < self.max_series:
            return key
        # Cardinality cap reached: fold new label sets into one overflow series.
        return tuple((k, OVERFLOW_LABEL) for k, _ in key)


class Metrics:
    """Labelled counters, gauges and summaries with a per-metric series cap."""

    def __init__(self, namespace: str = "oom_enricher", max_series: int = 1000) -> None:
        self.namespace = namespace
        self.max_series = max_series
        self._families: dict[str, _Family] = {}
        self._collectors: list[Callable[[Metrics], None]] = []

    def _family(self, name: str, kind: str, help_text: str) -> _Family:
        fam = self._families.get(name)
        if fam is None:
            fam = _Family(f"{self.namespace}_{name}", kind, help_text, self.max_series)
            self._families[name] = fam
        return fam

    def inc(
        self,
        name: str,
        labels: Mapping[str, object] | None = None,
        value: float = 1.0,
        help: str = "",
    ) -> None:
        fam = self._family(name, "counter", help)
        key = fam.key(labels)
        fam.values[key] = fam.values.get(key, 0.0) + value

    def set(
        self, name: str, value: float, labels: Mapping[str, object] | None = None, help: str = ""
    ) -> None:
        fam = self._family(name, "gauge", help)
        fam.values[fam.key(labels)] = float(value)

    def observe(
        self, name: str, value: float, labels: Mapping[str, object] | None = None, help: str = ""
    ) -> None:
        """Record one sample (seconds) of a summary; keeps the last WINDOW per series."""
        fam = self._family(name, "summary", help)
        key = fam.key(labels)
        window = fam.samples.get(key)
        if window is None:
            window = fam.samples[key] = deque(maxlen=WINDOW)
        window.append(value)

    def counter(
        self, name: str, labels: Mapping[str, object] | None = None, help: str = ""
    ) -> Callable[[float], None]:
        """`inc` of one series, its key resolved once (the series appears at its first use)."""
        fam = self._family(name, "counter", help)
        key, values = fam.key(labels), fam.values

        def add(value: float = 1.0) -> None:
            values[key] = values.get(key, 0.0) + value

        return add

    def summary(
        self, name: str, labels: Mapping[str, object] | None = None, help: str = ""
    ) -> Callable[[float], None]:
        """`observe` of one series, its key resolved once."""
        fam = self._family(name, "summary", help)
        key, samples = fam.key(labels), fam.samples

        def add(value: float) -> None:
            window = samples.get(key)
            if window is None:
                window = samples[key] = deque(maxlen=WINDOW)
            window.append(value)

        return add

    def get(self, name: str, labels: Mapping[str, object] | None = None) -> float:
        fam = self._families.get(name)
        if fam is None:
            return 0.0
        return fam.values.get(tuple(sorted((k, str(v)) for k, v in (labels or {}).items())), 0.0)

    def total(self, name: str) -> float:
        fam = self._families.get(name)
        return sum(fam.values.values()) if fam else 0.0

    def quantile(self, name: str, q: float, labels: Mapping[str, object] | None = None) -> float:
        fam = self._families.get(name)
        if fam is None:
            return math.nan
        window = fam.samples.get(tuple(sorted((k, str(v)) for k, v in (labels or {}).items())))
        return _quantile(sorted(window), q) if window else math.nan

    def add_collector(self, collect: Callable[[Metrics], None]) -> None:
        """Register a callback that refreshes gauges right before rendering."""
        self._collectors.append(collect)

    def render(self) -> str:
        for collect in self._collectors:
            collect(self)
        out: list[str] = []
        for fam in sorted(self._families.values(), key=lambda f: f.name):
            suffix = "_total" if fam.kind == "counter" and not fam.name.endswith("_total") else ""
            if fam.help:
                out.append(f"# HELP {fam.name}{suffix} {fam.help}")
            out.append(f"# TYPE {fam.name}{suffix} {fam.kind}")
            if fam.kind == "summary":
                for key, window in sorted(fam.samples.items()):
                    ordered = sorted(window)
                    for q in (0.5, 0.9, 0.99):
                        qkey = (*key, ("quantile", str(q)))
                        out.append(
                            f"{fam.name}{_label_text(qkey)} {_number(_quantile(ordered, q))}"
                        )
                    out.append(f"{fam.name}_sum{_label_text(key)} {_number(sum(ordered))}")
                    out.append(f"{fam.name}_count{_label_text(key)} {len(ordered)}")
                continue
            for key, value in sorted(fam.values.items()):
                out.append(f"{fam.name}{suffix}{_label_text(key)} {_number(value)}")
        return "\n".join(out) + "\n"


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    idx = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[idx]


def quantile_of(values: list[float], q: float) -> float:
    """Nearest-rank quantile of unsorted values (used by the benchmark too)."""
    ordered = list(values)
    ordered.sort()
    return _quantile(ordered, q)


__all__ = ["Metrics", "OVERFLOW_LABEL", "quantile_of"]
