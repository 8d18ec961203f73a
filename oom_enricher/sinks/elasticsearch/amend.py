"""Later versions of a report: the stored document is replaced only by a more complete one.

A report amended by lines that arrived late is emitted again under the same `event.id`, with
`oom.lines_count` (the lines it was built from) grown. A data stream accepts only `create`,
so when the id is already stored the sink reads the stored version (real-time `mget` over the
backing indices, since the id may be in any of them), and if the new version holds more
lines it is indexed into the backing index that holds the old one, guarded by `if_seq_no` /
`if_primary_term`: a concurrent writer makes the guard fail instead of being overwritten.
Equal or fewer lines (a replay, a stale version arriving last) change nothing, unless the
stored version is one this process wrote and the new one is a version it had not sent
before: within one process the pipeline's order is the newer word (a report that gave back
lines it had wrongly taken in comes again with fewer).

A version whose id changed (its kill line came after it was emitted without one, or it joined
fragments emitted on their own) names the ids it replaces in `event.supersedes`: once it is
stored, the documents under those ids are deleted from whichever backing index holds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from elasticsearch import Elasticsearch, helpers

from oom_enricher.sinks.elasticsearch.rollover_dedupe import backing_indices

log = logging.getLogger(__name__)

COUNT_FIELD = "oom.lines_count"
CREATED_FIELD = "event.created"


def superseded(doc: dict) -> list[str]:
    """The ids a document names as replaced (`event.supersedes`), never its own."""
    event = doc.get("event") if isinstance(doc.get("event"), dict) else {}
    ids = event.get("supersedes")
    if not isinstance(ids, list):
        return []
    return [i for i in ids if isinstance(i, str) and i and i != event.get("id")]


def delete_superseded(client: Elasticsearch, data_stream: str, ids: list[str]) -> int:
    """Delete the stored documents under `ids`, in whichever backing index holds them;
    returns how many were deleted (an id stored nowhere is already gone)."""
    stored = _stored_versions(client, data_stream, sorted(set(ids)))
    actions = [
        {"_op_type": "delete", "_index": found["index"], "_id": doc_id}
        for doc_id, found in stored.items()
    ]
    deleted = 0
    for ok, item in helpers.streaming_bulk(
        client, actions, raise_on_error=False, raise_on_exception=False, max_retries=2
    ):
        result = next(iter(item.values()))
        if ok or result.get("status") == 404:  # deleted, or by another writer meanwhile
            deleted += ok
        else:
            log.warning("elasticsearch sink: superseded document not deleted: %s", item)
    return deleted


def amend_existing(
    client: Elasticsearch,
    data_stream: str,
    docs: list[dict],
    ours: Mapping[str, str],
    rebuilt: Callable[[dict], bool],
) -> tuple[list[dict], int]:
    """Replace stored documents by the newer of `docs`; returns (stored now, unchanged).

    A version with more lines replaces the stored one. So does a version this process had
    not sent before (`rebuilt`) when the stored one is a version this process wrote (`ours`:
    id -> its `event.created`): the pipeline emits in order, and a report that gave back
    lines it had wrongly taken in comes again with fewer."""
    best: dict[str, dict] = {}
    for doc in docs:
        doc_id = doc["event"]["id"]
        earlier = best.get(doc_id)
        if earlier is None or _lines(doc) > _lines(earlier) or rebuilt(doc):
            best[doc_id] = doc
    stored = _stored_versions(client, data_stream, list(best))
    actions = []
    for doc_id, doc in best.items():
        found = stored.get(doc_id)
        if found is None:
            continue
        mine = found["created"] is not None and ours.get(doc_id) == found["created"]
        if _lines(doc) > found["lines"] or (mine and rebuilt(doc)):
            actions.append(
                {
                    "_op_type": "index",
                    "_index": found["index"],
                    "_id": doc_id,
                    "if_seq_no": found["seq_no"],
                    "if_primary_term": found["primary_term"],
                    "_source": doc,
                }
            )
    amended: list[dict] = []
    for action, (ok, item) in zip(
        actions,
        helpers.streaming_bulk(
            client, actions, raise_on_error=False, raise_on_exception=False, max_retries=2
        ),
        strict=True,
    ):
        if ok:
            amended.append(action["_source"])
        else:  # 409: another writer changed it first; its version stands until the next one
            log.warning("elasticsearch sink: amendment not applied: %s", item)
    return amended, len(docs) - len(amended)


def _stored_versions(client: Elasticsearch, data_stream: str, ids: list[str]) -> dict[str, dict]:
    indices = backing_indices(client, data_stream)
    if not indices or not ids:
        return {}
    resp = client.mget(
        docs=[{"_index": index, "_id": doc_id} for index in indices for doc_id in ids],
        source_includes=[COUNT_FIELD, CREATED_FIELD],
    )
    stored: dict[str, dict] = {}
    for item in resp.body["docs"]:
        if item.get("found"):
            stored[item["_id"]] = {
                "index": item["_index"],
                "seq_no": item["_seq_no"],
                "primary_term": item["_primary_term"],
                "lines": _lines(item.get("_source") or {}),
                "created": created_of(item.get("_source") or {}),
            }
    return stored


def created_of(doc: dict) -> str | None:
    value = (doc.get("event") or {}).get("created")
    return value if isinstance(value, str) else None


def _lines(doc: dict) -> int:
    value = (doc.get("oom") or {}).get("lines_count")
    return value if isinstance(value, int) else 0
