"""A Lens panel's aggregation written as an Elasticsearch search, to test panels on real data.

The buckets nest in column order, like Lens builds its request; metrics sit in the innermost
bucket. `count` needs no aggregation (doc_count); `last_value` is, as in Lens, the newest hit
among documents that have the field (filter + top_hits). Only core aggregations are used, so
the queries run on any 8.x node (auto_date_histogram and top_metrics need x-pack analytics).
"""

from __future__ import annotations

from oom_enricher.dashboards.spec_types import DateHistogram, LensPanel, Metric, Terms

ES_METRIC = {
    "max": "max",
    "min": "min",
    "sum": "sum",
    "average": "avg",
    "unique_count": "cardinality",
}


def _metric_agg(metric: Metric) -> dict:
    if metric.op == "median":
        return {"percentiles": {"field": metric.field, "percents": [50]}}
    if metric.op == "last_value":
        newest = {
            "size": 1,
            "sort": [{"@timestamp": {"order": "desc"}}],
            "_source": False,
            "docvalue_fields": [metric.field],
        }
        return {"filter": {"exists": {"field": metric.field}}, "aggs": {"v": {"top_hits": newest}}}
    return {ES_METRIC[metric.op]: {"field": metric.field}}


def _bucket_agg(bucket, metric_names: list[str]) -> dict:
    if isinstance(bucket, DateHistogram):
        # Lens turns "auto" into an interval fitting the time range; a day fits any range here.
        interval = "1d" if bucket.interval == "auto" else bucket.interval
        return {
            "date_histogram": {
                "field": bucket.field,
                "calendar_interval": interval,
                "min_doc_count": 1,
            }
        }
    if isinstance(bucket, Terms):
        if bucket.order_by_metric < 0:
            order = {"_key": "asc"}
        else:
            name = metric_names[bucket.order_by_metric]
            order = {"_count": "desc"} if name == "_count" else {name: "desc"}
        return {"terms": {"field": bucket.field, "size": bucket.size, "order": order}}
    ranges = []
    for lo, hi, label in bucket.ranges:
        item: dict = {"key": label}
        if lo is not None:
            item["from"] = lo
        if hi is not None:
            item["to"] = hi
        ranges.append(item)
    return {"range": {"field": bucket.field, "ranges": ranges}}


def metric_names(panel: LensPanel) -> list[str]:
    return ["_count" if m.op == "count" else f"m{i}" for i, m in enumerate(panel.metrics)]


def panel_query(panel: LensPanel) -> dict:
    names = metric_names(panel)
    aggs = {
        name: _metric_agg(metric)
        for name, metric in zip(names, panel.metrics, strict=True)
        if name != "_count"
    }
    for depth in reversed(range(len(panel.buckets))):
        bucket = panel.buckets[depth]
        agg = _bucket_agg(bucket, names)
        # terms ordered by a metric need that metric as a direct child, at every level
        if isinstance(bucket, Terms) and bucket.order_by_metric >= 0:
            name = names[bucket.order_by_metric]
            if name != "_count":
                aggs = {**aggs, name: _metric_agg(panel.metrics[bucket.order_by_metric])}
        if aggs:
            agg["aggs"] = aggs
        aggs = {f"b{depth}": agg}
    return {"size": 0, "track_total_hits": True, "aggs": aggs}


def _metric_value(node: dict, name: str):
    value = node.get(name, {})
    if "v" in value:  # last_value: filter + top_hits
        hits = value["v"]["hits"]["hits"]
        return next(iter(hits[0]["fields"].values()))[0] if hits else None
    if "values" in value:
        return next(iter(value["values"].values()), None)
    return value.get("value")


def rows(panel: LensPanel, response: dict) -> list[dict]:
    """One row per innermost bucket with documents: bucket keys and metric values."""
    names = metric_names(panel)
    found: list[dict] = []

    def walk(node: dict, depth: int, keys: tuple) -> None:
        if depth == len(panel.buckets):
            row = {"keys": keys, "doc_count": node.get("doc_count")}
            for name in names:
                row[name] = node.get("doc_count") if name == "_count" else _metric_value(node, name)
            found.append(row)
            return
        for bucket in node.get(f"b{depth}", {}).get("buckets", []):
            if bucket.get("doc_count"):
                walk(bucket, depth + 1, (*keys, bucket.get("key_as_string", bucket.get("key"))))

    total = response.get("hits", {}).get("total", {}).get("value")
    if total:
        walk({**response.get("aggregations", {}), "doc_count": total}, 0, ())
    return found


def empty_metrics(panel: LensPanel, response: dict) -> list[str]:
    """Labels of metrics that have no value in any bucket (the panel would show nothing)."""
    found = rows(panel, response)
    empty = []
    for name, metric in zip(metric_names(panel), panel.metrics, strict=True):
        if not any(row[name] is not None for row in found):
            empty.append(metric.label or f"{metric.op}({metric.field})")
    return empty
