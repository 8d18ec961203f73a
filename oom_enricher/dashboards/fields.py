"""Field checks against the document contract, so panels cannot drift from the template."""

from __future__ import annotations

from oom_enricher.dashboards.spec_types import Dashboard, LensPanel, Metric, SavedSearch
from oom_enricher.schema.document_fields import FIELDS, OBJECT_ARRAYS

# Contract types Elasticsearch can aggregate on (doc values); text-like types cannot.
AGGREGATABLE = {"keyword", "long", "integer", "short", "float", "double", "date", "boolean"}
NUMERIC = {"long", "integer", "short", "float", "double"}


class SpecError(ValueError):
    """The dashboard spec names a field the documents do not carry, or cannot aggregate."""


def field_type(name: str) -> str:
    if name in FIELDS:
        return FIELDS[name]
    if name.endswith(".keyword") and FIELDS.get(name[: -len(".keyword")]) == "text_with_keyword":
        return "keyword"
    parent, _, member = name.rpartition(".")
    if parent in OBJECT_ARRAYS and member in OBJECT_ARRAYS[parent]:
        return OBJECT_ARRAYS[parent][member]
    raise SpecError(f"field {name!r} is not in the document contract")


def data_type(name: str) -> str:
    """Lens dataType of a field."""
    kind = field_type(name)
    if kind in NUMERIC:
        return "number"
    return {"date": "date", "boolean": "boolean"}.get(kind, "string")


def panel_fields(panel: LensPanel) -> list[str]:
    names = [b.field for b in panel.buckets]
    names += [m.field for m in panel.metrics if m.field]
    return names


def check_metric(panel: LensPanel, metric: Metric) -> None:
    if metric.op == "count":
        return
    kind = field_type(metric.field or "")
    if kind not in AGGREGATABLE:
        raise SpecError(f"{panel.title}: {metric.field} ({kind}) cannot be aggregated")
    if metric.op in {"sum", "average", "median", "min", "max"} and kind not in NUMERIC | {"date"}:
        raise SpecError(f"{panel.title}: {metric.op} needs a number, {metric.field} is {kind}")


def check_dashboards(dashboards: tuple[Dashboard, ...], searches: tuple[SavedSearch, ...]) -> None:
    for search in searches:
        for column in search.columns:
            field_type(column)
    for dashboard in dashboards:
        for panel in dashboard.panels:
            if not isinstance(panel, LensPanel):
                continue
            for bucket in panel.buckets:
                kind = field_type(bucket.field)
                if kind not in AGGREGATABLE:
                    raise SpecError(f"{panel.title}: {bucket.field} ({kind}) cannot be bucketed")
            for metric in panel.metrics:
                check_metric(panel, metric)
