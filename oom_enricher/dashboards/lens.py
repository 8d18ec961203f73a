"""Lens attributes (Kibana 8.9+ shape, `formBased` datasource) for one spec panel."""

from __future__ import annotations

from oom_enricher.dashboards.fields import data_type
from oom_enricher.dashboards.ids import stable_uuid
from oom_enricher.dashboards.spec_types import Bucket, DateHistogram, LensPanel, Metric, Terms

OP_LABEL = {
    "max": "Maximum",
    "min": "Minimum",
    "sum": "Sum",
    "average": "Average",
    "median": "Median",
    "unique_count": "Unique count",
    "last_value": "Last value",
}
FORMATS = {
    "bytes": {"id": "bytes", "params": {"decimals": 1}},
    "percent": {"id": "percent", "params": {"decimals": 1}},
    "number": {"id": "number", "params": {"decimals": 0}},
}
VIS_TYPE = {
    "bar_time": "lnsXY",
    "bar_horizontal": "lnsXY",
    "bar_vertical": "lnsXY",
    "donut": "lnsPie",
    "table": "lnsDatatable",
    "metric": "lnsMetric",
}


def layer_id(panel: LensPanel, dashboard: str) -> str:
    return stable_uuid("layer", dashboard, panel.title)


def column_ids(panel: LensPanel, dashboard: str) -> tuple[list[str], list[str]]:
    base = (dashboard, panel.title)
    buckets = [stable_uuid("bucket", *base, str(i)) for i in range(len(panel.buckets))]
    metrics = [stable_uuid("metric", *base, str(i)) for i in range(len(panel.metrics))]
    return buckets, metrics


def _metric_column(metric: Metric) -> dict:
    if metric.op == "count":
        column = {
            "label": metric.label or "Count of records",
            "dataType": "number",
            "operationType": "count",
            "isBucketed": False,
            "scale": "ratio",
            "sourceField": "___records___",
            "params": {"emptyAsNull": True},
        }
    else:
        kind = "number" if metric.op == "unique_count" else data_type(metric.field or "")
        column = {
            "label": metric.label or f"{OP_LABEL[metric.op]} of {metric.field}",
            "dataType": kind,
            "operationType": metric.op,
            "isBucketed": False,
            "scale": "ratio" if kind in ("number", "date") else "ordinal",
            "sourceField": metric.field,
            "params": {"emptyAsNull": True},
        }
        if metric.op == "last_value":
            column["filter"] = {"language": "kuery", "query": f'"{metric.field}": *'}
            column["params"] = {"sortField": "@timestamp", "showArrayValues": True}
    if metric.label:
        column["customLabel"] = True
    if metric.fmt:
        column["params"]["format"] = FORMATS[metric.fmt]
    return column


def _bucket_column(bucket: Bucket, metric_ids: list[str]) -> dict:
    if isinstance(bucket, DateHistogram):
        return {
            "label": bucket.label or bucket.field,
            "customLabel": True,
            "dataType": "date",
            "operationType": "date_histogram",
            "isBucketed": True,
            "scale": "interval",
            "sourceField": bucket.field,
            "params": {
                "interval": bucket.interval,
                "includeEmptyRows": False,
                "dropPartials": False,
            },
        }
    if isinstance(bucket, Terms):
        order = (
            {"type": "alphabetical", "fallback": False}
            if bucket.order_by_metric < 0
            else {"type": "column", "columnId": metric_ids[bucket.order_by_metric]}
        )
        return {
            "label": bucket.label or f"Top {bucket.size} values of {bucket.field}",
            "customLabel": bucket.label is not None,
            "dataType": data_type(bucket.field),
            "operationType": "terms",
            "isBucketed": True,
            "scale": "ordinal",
            "sourceField": bucket.field,
            "params": {
                "size": bucket.size,
                "orderBy": order,
                "orderDirection": "asc" if bucket.order_by_metric < 0 else "desc",
                "otherBucket": False,
                "missingBucket": False,
                "parentFormat": {"id": "terms"},
                "include": [],
                "exclude": [],
                "includeIsRegex": False,
                "excludeIsRegex": False,
            },
        }
    return {
        "label": bucket.label or bucket.field,
        "customLabel": bucket.label is not None,
        "dataType": "number",
        "operationType": "range",
        "isBucketed": True,
        "scale": "ordinal",
        "sourceField": bucket.field,
        "params": {
            "type": "range",
            "ranges": [{"from": lo, "to": hi, "label": label} for lo, hi, label in bucket.ranges],
            "maxBars": "auto",
            "includeEmptyRows": False,
            "parentFormat": {
                "id": "range",
                "params": {"template": "arrow_right", "replaceInfinity": True},
            },
        },
    }


def _visualization(panel: LensPanel, layer: str, buckets: list[str], metrics: list[str]) -> dict:
    if panel.vis == "metric":
        return {"layerId": layer, "layerType": "data", "metricAccessor": metrics[0]}
    if panel.vis == "table":
        return {
            "layerId": layer,
            "layerType": "data",
            "columns": [{"columnId": c, "isTransposed": False} for c in buckets + metrics],
            "sorting": {"columnId": metrics[0], "direction": "desc"},
            "paging": {"size": 10, "enabled": True},
        }
    if panel.vis == "donut":
        return {
            "shape": "donut",
            "palette": {"type": "palette", "name": "default"},
            "layers": [
                {
                    "layerId": layer,
                    "layerType": "data",
                    "primaryGroups": buckets,
                    "metrics": metrics,
                    "numberDisplay": "percent",
                    "categoryDisplay": "default",
                    "legendDisplay": "default",
                    "nestedLegend": False,
                    "emptySizeRatio": 0.3,
                }
            ],
        }
    series = {"bar_time": "bar_stacked", "bar_horizontal": "bar_horizontal"}.get(panel.vis, "bar")
    xy_layer = {
        "layerId": layer,
        "layerType": "data",
        "seriesType": series,
        "xAccessor": buckets[0],
        "accessors": metrics,
        "position": "top",
        "showGridlines": False,
        "palette": {"type": "palette", "name": "default"},
        "yConfig": [{"forAccessor": m, "axisMode": "left"} for m in metrics],
    }
    if len(buckets) > 1:
        xy_layer["splitAccessor"] = buckets[1]
    return {
        "legend": {"isVisible": len(buckets) > 1, "position": "right", "showSingleSeries": False},
        "valueLabels": "hide" if panel.vis == "bar_time" else "show",
        "fittingFunction": "None",
        "preferredSeriesType": series,
        "axisTitlesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "tickLabelsVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "gridlinesVisibilitySettings": {"x": True, "yLeft": True, "yRight": True},
        "layers": [xy_layer],
    }


def lens_attributes(panel: LensPanel, dashboard: str, data_view_id: str) -> dict:
    """Attributes of a by-value Lens panel, with its own data view reference."""
    layer = layer_id(panel, dashboard)
    bucket_ids, metric_ids = column_ids(panel, dashboard)
    columns = {
        cid: _bucket_column(b, metric_ids) for cid, b in zip(bucket_ids, panel.buckets, strict=True)
    }
    columns.update(
        {cid: _metric_column(m) for cid, m in zip(metric_ids, panel.metrics, strict=True)}
    )
    return {
        "title": panel.title,
        "description": panel.description,
        "visualizationType": VIS_TYPE[panel.vis],
        "type": "lens",
        "references": [
            {
                "type": "index-pattern",
                "id": data_view_id,
                "name": f"indexpattern-datasource-layer-{layer}",
            }
        ],
        "state": {
            "datasourceStates": {
                "formBased": {
                    "layers": {
                        layer: {
                            "columnOrder": bucket_ids + metric_ids,
                            "columns": columns,
                            "incompleteColumns": {},
                            "sampling": 1,
                            "ignoreGlobalFilters": False,
                        }
                    }
                },
                "indexpattern": {"layers": {}},
                "textBased": {"layers": {}},
            },
            "visualization": _visualization(panel, layer, bucket_ids, metric_ids),
            "query": {"language": "kuery", "query": ""},
            "filters": [],
            "adHocDataViews": {},
            "internalReferences": [],
        },
    }
