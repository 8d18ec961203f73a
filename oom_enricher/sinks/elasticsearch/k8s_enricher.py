"""Fill Kubernetes names into OOM documents already indexed, in place, never holding up ingest.

Documents are indexed at once with the pod uid and container id the kernel printed. A pass
finds documents of the data stream that have a uid or container id but no names yet, resolves
them in batches (EsPodLookup) and updates each one in the backing index that holds it, guarded
by `if_seq_no` / `if_primary_term` so a newer version of the document is never overwritten
(the update is retried by the next pass). A document whose names are still unknown after
`max_attempts` passes is marked `kubernetes.names.status: not_found` and no longer looked up
by `serve`; `oom-enricher enrich` looks again.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from oom_enricher.enrich.k8s_names import STATUS_FOUND, STATUS_NOT_FOUND, names_update
from oom_enricher.sinks.elasticsearch.k8s_lookup import EsPodLookup

log = logging.getLogger(__name__)

MAX_TRACKED = 100_000  # documents whose failed attempts are counted


@dataclass
class EnrichStats:
    candidates: int = 0
    enriched: int = 0
    not_found: int = 0
    gave_up: int = 0
    conflicts: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def candidates_query(retry_not_found: bool, since: str | None = None) -> dict:
    done = [STATUS_FOUND] if retry_not_found else [STATUS_FOUND, STATUS_NOT_FOUND]
    query: dict = {
        "bool": {
            "should": [
                {"exists": {"field": "kubernetes.pod.uid"}},
                {"exists": {"field": "container.id"}},
            ],
            "minimum_should_match": 1,
            "must_not": [{"terms": {"kubernetes.names.status": done}}],
        }
    }
    if since:
        query["bool"]["filter"] = [{"range": {"event.created": {"gte": since}}}]
    return query


class KubernetesEnricher:
    def __init__(
        self,
        client,
        data_stream: str,
        lookup: EsPodLookup,
        *,
        max_attempts: int = 10,
        batch: int = 500,
        retry_not_found: bool = False,
    ) -> None:
        self.client = client
        self.data_stream = data_stream
        self.lookup = lookup
        self.max_attempts = max_attempts
        self.batch = batch
        self.retry_not_found = retry_not_found
        self._attempts: OrderedDict[str, int] = OrderedDict()

    def run_once(self, since: str | None = None, max_documents: int | None = None) -> EnrichStats:
        """One pass over the documents still without names (all of them, or up to a bound)."""
        stats = EnrichStats()
        try:
            self.client.indices.refresh(index=self.data_stream, ignore_unavailable=True)
        except Exception as exc:  # noqa: BLE001 - the search below reports the same problem
            log.debug("refresh of %s failed: %s", self.data_stream, exc)
        for hits in self._pages(candidates_query(self.retry_not_found, since), max_documents):
            stats.candidates += len(hits)
            self._enrich_page(hits, stats)
        return stats

    def _pages(self, query: dict, limit: int | None):
        after = None
        seen = 0
        while limit is None or seen < limit:
            size = self.batch if limit is None else min(self.batch, limit - seen)
            resp = self.client.search(
                index=self.data_stream,
                query=query,
                size=size,
                sort=[{"event.id": "asc"}],  # the document id: a stable order to page on
                search_after=after,
                seq_no_primary_term=True,
                source=["kubernetes.pod.uid", "container.id"],
                ignore_unavailable=True,
                allow_no_indices=True,
            ).body
            hits = resp["hits"]["hits"]
            if not hits:
                return
            seen += len(hits)
            yield hits
            after = hits[-1]["sort"]

    def _enrich_page(self, hits: list[dict], stats: EnrichStats) -> None:
        keys = [_ids(hit) for hit in hits]
        resolved = self.lookup.resolve(keys)
        operations: list[dict] = []
        for hit, key in zip(hits, keys, strict=True):
            found = resolved.get(key)
            if found is not None:
                update = names_update(found.names, found.container_name, found.container_rule)
                self._attempts.pop(hit["_id"], None)
            elif self._count_attempt(hit["_id"]) >= self.max_attempts:
                update = {"kubernetes": {"names": {"status": STATUS_NOT_FOUND}}}
                stats.gave_up += 1
            else:
                stats.not_found += 1
                continue
            operations.append(_update_action(hit))
            operations.append({"doc": update})
            stats.enriched += found is not None
        if operations:
            self._send(operations, stats)

    def _count_attempt(self, doc_id: str) -> int:
        attempts = self._attempts.pop(doc_id, 0) + 1
        self._attempts[doc_id] = attempts
        while len(self._attempts) > MAX_TRACKED:
            self._attempts.popitem(last=False)
        return attempts

    def _send(self, operations: list[dict], stats: EnrichStats) -> None:
        resp = self.client.bulk(operations=operations).body
        for item in resp.get("items", []):
            result = item.get("update", {})
            if result.get("status") == 409:
                stats.conflicts += 1
            elif result.get("error"):
                log.warning("names update of %s refused: %s", result.get("_id"), result["error"])


def _ids(hit: dict) -> tuple[str | None, str | None]:
    source = hit.get("_source") or {}
    uid = (source.get("kubernetes") or {}).get("pod", {}).get("uid")
    cid = (source.get("container") or {}).get("id")
    return uid, cid


def _update_action(hit: dict) -> dict:
    return {
        "update": {
            "_index": hit["_index"],  # the backing index: a data stream takes no updates
            "_id": hit["_id"],
            "if_seq_no": hit["_seq_no"],
            "if_primary_term": hit["_primary_term"],
        }
    }


class NamesLoop:
    """`serve`'s background pass: every `interval` seconds, off the ingest path."""

    def __init__(self, enricher: KubernetesEnricher, interval: float = 30.0) -> None:
        self.enricher = enricher
        self.interval = interval
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="k8s-names", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.enricher.client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                stats = self.enricher.run_once(max_documents=self.enricher.batch * 4)
            except Exception as exc:  # noqa: BLE001 - Elasticsearch away: the next pass retries
                self.enricher.lookup._log_failure(exc)
                continue
            self.passes += 1
            if stats.enriched or stats.gave_up:
                log.info("Kubernetes names: %s", stats.as_dict())
