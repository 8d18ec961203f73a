"""Duplicate detection across data stream rollovers.

`op_type=create` with `_id = event.id` only rejects a duplicate (409) within the current write
index; after a rollover the same id would be indexed again (elastic/elasticsearch#44794).
Before each bulk request the sink therefore asks which of its ids already exist in the
*older* backing indices (one `ids` query); those documents are counted as duplicates and not
sent. The write index keeps relying on the 409. See the README section on replays.
"""

from __future__ import annotations

from elasticsearch import Elasticsearch, NotFoundError


def backing_indices(client: Elasticsearch, data_stream: str) -> list[str]:
    """Backing indices oldest first; the last one is the write index. [] if no stream yet."""
    try:
        resolved = client.indices.resolve_index(name=data_stream, expand_wildcards="all").body
    except NotFoundError:
        return []
    for ds in resolved.get("data_streams", []):
        if ds["name"] == data_stream:
            return list(ds["backing_indices"])
    return []


class OlderIndexLookup:
    """Finds ids already stored in the data stream's non-write backing indices.

    A backing index that has just stopped being the write index may hold documents not yet
    visible to search (refresh interval, search-idle shards); it is refreshed once, the
    first time it is seen as an older index. It takes no writes after that.
    """

    def __init__(self, client: Elasticsearch, data_stream: str) -> None:
        self.client = client
        self.data_stream = data_stream
        self._refreshed: set[str] = set()

    def existing(self, ids: list[str]) -> set[str]:
        older = backing_indices(self.client, self.data_stream)[:-1]
        if not older or not ids:
            return set()
        fresh = [name for name in older if name not in self._refreshed]
        if fresh:
            self.client.indices.refresh(index=",".join(fresh), ignore_unavailable=True)
            self._refreshed.update(fresh)
        unique = sorted(set(ids))
        resp = self.client.search(
            index=",".join(older),
            query={"ids": {"values": unique}},
            source=False,
            size=len(unique),
            ignore_unavailable=True,
            track_total_hits=False,
        )
        return {hit["_id"] for hit in resp.body["hits"]["hits"]}
