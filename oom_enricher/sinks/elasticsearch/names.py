"""Names of everything `setup` installs, and of the data stream the sink writes to."""

from __future__ import annotations

import re

# logs-<dataset>-<namespace>; the dataset matches event.dataset of the documents.
DATA_STREAM_TYPE = "logs"
DATASET = "oom_enricher.oom"
DEFAULT_NAMESPACE = "default"
DEFAULT_RETENTION = "30d"

PIPELINE = "oom_enricher-oom"
SETTINGS_COMPONENT = "oom_enricher-oom-settings"
MAPPINGS_COMPONENT = "oom_enricher-oom-mappings"
MANAGED_BY = "oom-enricher"

# Elastic asks for priority > 500 on patterns that overlap the built-in logs-*-* (priority 100).
INDEX_TEMPLATE_PRIORITY = 501

_NAMESPACE_RE = re.compile(r"^[a-z0-9_.+]{1,100}$")
_RETENTION_RE = re.compile(r"^[1-9][0-9]*(d|h|m|s|ms|micros|nanos)$")


def validate_namespace(namespace: str) -> str:
    # Data stream naming rules: lower case, no '-' (it separates type, dataset and namespace).
    if not _NAMESPACE_RE.match(namespace):
        raise ValueError(f"invalid namespace {namespace!r}: use lower-case letters, digits, _ . +")
    return namespace


def validate_retention(retention: str) -> str:
    if not _RETENTION_RE.match(retention):
        raise ValueError(f"invalid retention {retention!r}: use a time value such as 30d or 12h")
    return retention


def data_stream_name(namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"{DATA_STREAM_TYPE}-{DATASET}-{validate_namespace(namespace)}"


def index_template_name(namespace: str = DEFAULT_NAMESPACE) -> str:
    return f"oom_enricher-oom-{validate_namespace(namespace)}"
