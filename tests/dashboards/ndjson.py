"""Reading the committed NDJSON back the way Kibana does: one object per line."""

from __future__ import annotations

import json

from oom_enricher.dashboards.generate import NDJSON_PATH


def load_objects(text: str | None = None) -> list[dict]:
    text = NDJSON_PATH.read_text(encoding="utf-8") if text is None else text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def panels(dashboard: dict) -> list[dict]:
    return json.loads(dashboard["attributes"]["panelsJSON"])


def lens_panels(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(dashboard, panel) for every by-value Lens panel."""
    return [
        (d, p)
        for d in objects
        if d["type"] == "dashboard"
        for p in panels(d)
        if p["type"] == "lens"
    ]


def lens_columns(panel: dict) -> list[dict]:
    layers = panel["embeddableConfig"]["attributes"]["state"]["datasourceStates"]["formBased"]
    return [c for layer in layers["layers"].values() for c in layer["columns"].values()]
