"""The vocabulary the dashboard spec is written in: buckets, metrics, panels, dashboards."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Terms:
    field: str
    size: int = 10
    label: str | None = None
    order_by_metric: int = 0  # index into the panel's metrics; -1 orders alphabetically


@dataclass(frozen=True, slots=True)
class DateHistogram:
    field: str = "@timestamp"
    interval: str = "auto"  # "auto" or a calendar unit such as "1d"
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Ranges:
    field: str
    ranges: tuple[tuple[float | None, float | None, str], ...]  # (from, to, label)
    label: str | None = None


Bucket = Terms | DateHistogram | Ranges


@dataclass(frozen=True, slots=True)
class Metric:
    op: str  # count, max, min, sum, average, median, unique_count, last_value
    field: str | None = None
    label: str | None = None
    fmt: str | None = None  # bytes, percent, number


@dataclass(frozen=True, slots=True)
class LensPanel:
    title: str
    vis: str  # bar_time, bar_horizontal, bar_vertical, donut, table, metric
    metrics: tuple[Metric, ...]
    buckets: tuple[Bucket, ...] = ()
    w: int = 16
    h: int = 12
    description: str = ""
    drilldown_to: str | None = None  # title of the dashboard a click on a value opens


@dataclass(frozen=True, slots=True)
class SavedSearch:
    title: str
    description: str
    columns: tuple[str, ...]
    query: str = ""


@dataclass(frozen=True, slots=True)
class SearchPanel:
    search: str  # title of a SavedSearch
    w: int = 48
    h: int = 16
    title: str | None = None


@dataclass(frozen=True, slots=True)
class LinksPanel:
    targets: tuple[tuple[str, str], ...]  # (label, dashboard title)
    w: int = 48
    h: int = 4
    title: str = "OOM kill dashboards"


Panel = LensPanel | SearchPanel | LinksPanel


@dataclass(frozen=True, slots=True)
class Dashboard:
    title: str
    description: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)
    time_from: str = "now-7d"
