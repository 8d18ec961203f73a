"""The saved objects shipped inside the package, read the same from a checkout or a wheel."""

from __future__ import annotations

from importlib import resources

NDJSON_NAME = "oom_enricher.ndjson"


def packaged_ndjson() -> bytes:
    return resources.files("oom_enricher.dashboards").joinpath(NDJSON_NAME).read_bytes()
