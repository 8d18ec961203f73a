"""A Lens panel's aggregation written as an Elasticsearch search, to test panels on real data.

The buckets nest in column order, like Lens builds its request; metrics sit in the innermost
bucket. `count` needs no aggregation (doc_count); `last_value` uses top_metrics sorted by time.
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
        return {"top_metrics": {"metrics": {"field": metric.field}, "sort": {"@timestamp": "desc"}}}
    return {ES_METRIC[metric.op]: {"field": metric.field}}


def _bucket_agg(bucket, metric_names: list[str]) -> dict:
    if isinstance(bucket, DateHistogram):
        if bucket.interval == "auto":
            return {"auto_date_histogram": {"field": bucket.field, "buckets": 30}}
        return {
            "date_histogram": {
                "field": bucket.field,
                "calendar_interval": bucket.interval,
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
    if "top" in value:
        tops = value["top"]
        return next(iter(tops[0]["metrics"].values())) if tops else None
    if "values" in value:
        return next(iter(value["values"].values()), None)
    return value.get("value")


def filled_rows(panel: LensPanel, response: dict) -> list[dict]:
    """Rows (bucket keys + metric values) where every metric has a value."""
    names = metric_names(panel)
    rows: list[dict] = []

    def walk(node: dict, depth: int, keys: tuple) -> None:
        if depth == len(panel.buckets):
            row = {"keys": keys, "doc_count": node.get("doc_count")}
            for name in names:
                row[name] = node.get("doc_count") if name == "_count" else _metric_value(node, name)
            if row["doc_count"] and all(row[n] is not None for n in names):
                rows.append(row)
            return
        for bucket in node.get(f"b{depth}", {}).get("buckets", []):
            if bucket.get("doc_count"):
                walk(bucket, depth + 1, (*keys, bucket.get("key")))

    top = {
        **response.get("aggregations", {}),
        "doc_count": response.get("hits", {}).get("total", {}).get("value"),
    }
    walk(top, 0, ())
    return rows
