"""The saved objects (Kibana 8.9+ export shape, importable into 8.14 and later) as dicts.

Versions are those of an 8.9 export; newer Kibana migrates them forward on import, older
8.x (before the Lens `formBased` rename and the links panel) cannot read them.
"""

from __future__ import annotations

import json

from oom_enricher.dashboards import spec
from oom_enricher.dashboards.fields import check_dashboards
from oom_enricher.dashboards.ids import object_id, stable_uuid
from oom_enricher.dashboards.lens import lens_attributes
from oom_enricher.dashboards.spec_types import (
    Dashboard,
    LensPanel,
    LinksPanel,
    Panel,
    SavedSearch,
    SearchPanel,
)

CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {
    "index-pattern": "7.11.0",
    "search": "8.0.0",
    "dashboard": "8.9.0",
}
GRID_COLUMNS = 48
SEARCH_INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
DRILLDOWN = "DASHBOARD_TO_DASHBOARD_DRILLDOWN"


def data_view_id() -> str:
    return object_id("index-pattern", spec.DATA_VIEW_TITLE)


def search_id(title: str) -> str:
    return object_id("search", title)


def dashboard_id(title: str) -> str:
    return object_id("dashboard", title)


def _envelope(kind: str, oid: str, attributes: dict, references: list[dict]) -> dict:
    return {
        "type": kind,
        "id": oid,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION[kind],
        "managed": False,
    }


def data_view() -> dict:
    attributes = {
        "title": spec.DATA_VIEW_TITLE,
        "name": spec.DATA_VIEW_NAME,
        "timeFieldName": "@timestamp",
        "allowNoIndex": True,
        "fieldFormatMap": json.dumps(
            {
                name: {"id": "bytes"}
                for name in (
                    "oom.memory.usage_bytes",
                    "oom.memory.limit_bytes",
                    "oom.memsw.usage_bytes",
                    "oom.memsw.limit_bytes",
                )
            },
            sort_keys=True,
        ),
        "fieldAttrs": "{}",
        "runtimeFieldMap": "{}",
        "sourceFilters": "[]",
        "fields": "[]",
        "typeMeta": "{}",
    }
    return _envelope("index-pattern", data_view_id(), attributes, [])


def saved_search(search: SavedSearch) -> dict:
    source = {
        "query": {"language": "kuery", "query": search.query},
        "filter": [],
        "highlightAll": True,
        "indexRefName": SEARCH_INDEX_REF,
    }
    attributes = {
        "title": search.title,
        "description": search.description,
        "columns": list(search.columns),
        "sort": [["@timestamp", "desc"]],
        "grid": {},
        "hideChart": False,
        "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(source)},
    }
    refs = [{"name": SEARCH_INDEX_REF, "type": "index-pattern", "id": data_view_id()}]
    return _envelope("search", search_id(search.title), attributes, refs)


def _layout(panels: tuple[Panel, ...]) -> list[tuple[Panel, dict]]:
    """Left-to-right rows on the 48-column grid, wrapping when a panel does not fit."""
    placed, x, y, row_h = [], 0, 0, 0
    for panel in panels:
        if x + panel.w > GRID_COLUMNS:
            x, y, row_h = 0, y + row_h, 0
        placed.append((panel, {"x": x, "y": y, "w": panel.w, "h": panel.h}))
        x += panel.w
        row_h = max(row_h, panel.h)
    return placed


def _panel_title(panel: Panel) -> str:
    if isinstance(panel, LensPanel):
        return panel.title
    if isinstance(panel, SearchPanel):
        return panel.title or panel.search
    return panel.title


def _drilldown(index: str, dashboard: str, panel: LensPanel) -> tuple[dict, dict]:
    event_id = stable_uuid("drilldown", dashboard, panel.title)
    enhancements = {
        "dynamicActions": {
            "events": [
                {
                    "eventId": event_id,
                    "triggers": ["FILTER_TRIGGER"],
                    "action": {
                        "factoryId": DRILLDOWN,
                        "name": f"Open {panel.drilldown_to}",
                        "config": {
                            "useCurrentFilters": True,
                            "useCurrentDateRange": True,
                            "openInNewTab": False,
                        },
                    },
                }
            ]
        }
    }
    # Kibana keeps the target out of the config, in a reference with this exact name.
    ref = {
        "name": f"{index}:drilldown:{DRILLDOWN}:{event_id}:dashboardId",
        "type": "dashboard",
        "id": dashboard_id(panel.drilldown_to or ""),
    }
    return enhancements, ref


def _panel(dashboard: Dashboard, panel: Panel, grid: dict) -> tuple[dict, list[dict]]:
    index = stable_uuid("panel", dashboard.title, _panel_title(panel))
    entry: dict = {"type": "", "gridData": {**grid, "i": index}, "panelIndex": index}
    refs: list[dict] = []
    if isinstance(panel, LensPanel):
        attributes = lens_attributes(panel, dashboard.title, data_view_id())
        enhancements: dict = {}
        if panel.drilldown_to:
            enhancements, ref = _drilldown(index, dashboard.title, panel)
            refs.append(ref)
        entry["type"] = "lens"
        entry["embeddableConfig"] = {
            "attributes": attributes,
            "enhancements": enhancements,
            "hidePanelTitles": False,
        }
        entry["title"] = panel.title
        refs = [{**r, "name": f"{index}:{r['name']}"} for r in attributes["references"]] + refs
    elif isinstance(panel, SearchPanel):
        entry["type"] = "search"
        entry["embeddableConfig"] = {"enhancements": {}}
        entry["panelRefName"] = f"panel_{index}"
        entry["title"] = _panel_title(panel)
        refs.append(
            {"name": f"{index}:panel_{index}", "type": "search", "id": search_id(panel.search)}
        )
    elif isinstance(panel, LinksPanel):
        links = []
        for order, (label, target) in enumerate(panel.targets):
            target_id = dashboard_id(target)
            ref_name = f"link_{target_id}_dashboard"
            links.append(
                {
                    "id": stable_uuid("link", dashboard.title, target),
                    "label": label,
                    "type": "dashboardLink",
                    "order": order,
                    "destinationRefName": ref_name,
                    "options": {
                        "openInNewTab": False,
                        "useCurrentDateRange": True,
                        # "one kill in detail" keeps the kill the user filtered on
                        "useCurrentFilters": True,
                    },
                }
            )
            refs.append({"name": f"{index}:{ref_name}", "type": "dashboard", "id": target_id})
        entry["type"] = "links"
        entry["embeddableConfig"] = {
            "attributes": {"title": panel.title, "layout": "horizontal", "links": links},
            "enhancements": {},
        }
        entry["title"] = panel.title
    return entry, refs


def dashboard(board: Dashboard) -> dict:
    panels, refs = [], []
    for panel, grid in _layout(board.panels):
        entry, panel_refs = _panel(board, panel, grid)
        panels.append(entry)
        refs.extend(panel_refs)
    attributes = {
        "title": board.title,
        "description": board.description,
        "panelsJSON": json.dumps(panels, ensure_ascii=False),
        "optionsJSON": json.dumps(
            {
                "useMargins": True,
                "syncColors": False,
                "syncCursor": True,
                "syncTooltips": False,
                "hidePanelTitles": False,
            }
        ),
        "timeRestore": True,
        "timeFrom": board.time_from,
        "timeTo": "now",
        "refreshInterval": {"pause": True, "value": 60000},
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": json.dumps(
                {"query": {"language": "kuery", "query": ""}, "filter": []}
            )
        },
        "version": 1,
    }
    return _envelope("dashboard", dashboard_id(board.title), attributes, refs)


def all_objects() -> list[dict]:
    """Every object, referenced objects first; raises SpecError for fields off the contract."""
    check_dashboards(spec.DASHBOARDS, spec.SEARCHES)
    objects = [data_view()]
    objects += [saved_search(s) for s in spec.SEARCHES]
    objects += [dashboard(d) for d in spec.DASHBOARDS]
    return objects


def to_ndjson(objects: list[dict]) -> str:
    """One object per line, keys sorted, so the bytes only change when the spec does."""
    lines = [
        json.dumps(o, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for o in objects
    ]
    return "\n".join(lines) + "\n"
