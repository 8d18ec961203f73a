"""Pod UIDs and container ids -> Kubernetes names, looked up in the fleet's container logs.

One `_msearch` per batch asks the container-log indices for the newest record of each pod uid
and of each container id, in any preset's layout (Fluent Bit, Filebeat / Elastic Agent,
Fluentd). Answers, misses included, go to a bounded TTL cache. A failed request is logged at
most once per interval and leaves the cache as it was, so a cluster without such metadata
costs one failed request per batch, never one per document.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from oom_enricher.enrich.k8s_names import PodNames, TtlCache, names_from_record
from oom_enricher.enrich.k8s_presets import container_id_fields, source_fields, uid_fields

log = logging.getLogger(__name__)

# Container logs of every usual shipper, never this project's own data stream.
DEFAULT_LOGS_INDEX = "logs-*,filebeat-*,logstash-*,fluent-bit*,fluentd*,-logs-oom_enricher.*"
POD_RECORDS = 50  # records read per pod: enough to see each of its containers


@dataclass
class LookupStats:
    requests: int = 0
    failed_requests: int = 0
    keys_looked_up: int = 0
    found: int = 0


@dataclass(frozen=True)
class Resolved:
    names: PodNames
    container_name: str | None
    container_rule: str | None  # container_id | only_container


@dataclass
class _PodView:
    names: PodNames
    containers: dict[str, str] = field(default_factory=dict)  # container id -> name


def _any_term(fields: list[str], value: str) -> dict:
    # Dynamic mappings index strings as text + .keyword: ask both.
    terms = [{"term": {name: value}} for name in fields]
    terms += [{"term": {f"{name}.keyword": value}} for name in fields]
    return {"bool": {"should": terms, "minimum_should_match": 1}}


class EsPodLookup:
    def __init__(
        self,
        client,
        index: str = DEFAULT_LOGS_INDEX,
        cache: TtlCache | None = None,
        log_interval: float = 60.0,
    ) -> None:
        self.client = client
        self.index = index
        self.cache = cache or TtlCache()
        self.stats = LookupStats()
        self._log_interval = log_interval
        self._last_failure_log = float("-inf")

    def resolve(self, keys: list[tuple[str | None, str | None]]) -> dict[tuple, Resolved]:
        """(pod uid, container id) pairs -> what the container logs say about them."""
        wanted = [("uid", uid) for uid, _ in keys if uid] + [("cid", cid) for _, cid in keys if cid]
        self._fetch([key for key in dict.fromkeys(wanted) if not self.cache.get(_key(*key))[0]])
        found: dict[tuple, Resolved] = {}
        for uid, cid in keys:
            resolved = self._combine(uid, cid)
            if resolved is not None:
                found[(uid, cid)] = resolved
        return found

    def _combine(self, uid: str | None, cid: str | None) -> Resolved | None:
        by_container = self.cache.get(_key("cid", cid))[1] if cid else None
        if isinstance(by_container, _PodView) and (
            uid is None or by_container.names.pod_uid == uid
        ):
            name = by_container.containers.get(cid)
            return Resolved(by_container.names, name, "container_id" if name else None)
        pod = self.cache.get(_key("uid", uid))[1] if uid else None
        if not isinstance(pod, _PodView):
            return None
        if cid and cid in pod.containers:
            return Resolved(pod.names, pod.containers[cid], "container_id")
        names = set(pod.containers.values())
        if len(names) == 1:  # a restarted container keeps its name, not its id
            return Resolved(pod.names, names.pop(), "only_container")
        return Resolved(pod.names, None, None)

    def _fetch(self, keys: list[tuple[str, str]]) -> None:
        if not keys:
            return
        body: list[dict] = []
        for kind, value in keys:
            fields = uid_fields() if kind == "uid" else container_id_fields()
            body.append({"index": self.index, "ignore_unavailable": True, "allow_no_indices": True})
            body.append(
                {
                    "size": POD_RECORDS if kind == "uid" else 1,
                    "query": _any_term(fields, value),
                    "sort": [{"@timestamp": {"order": "desc", "unmapped_type": "date"}}],
                    "_source": source_fields(),
                }
            )
        self.stats.requests += 1
        self.stats.keys_looked_up += len(keys)
        try:
            responses = self.client.msearch(searches=body).body["responses"]
        except Exception as exc:  # noqa: BLE001 - any failure: try again next interval
            self.stats.failed_requests += 1
            self._log_failure(exc)
            return
        for (kind, value), response in zip(keys, responses, strict=True):
            if "error" in response:
                self.stats.failed_requests += 1
                self._log_failure(response["error"])
                continue
            view = _view(response["hits"]["hits"], value if kind == "uid" else None)
            self.stats.found += view is not None
            self.cache.put(_key(kind, value), view)

    def _log_failure(self, reason: object) -> None:
        now = time.monotonic()
        if now - self._last_failure_log >= self._log_interval:
            self._last_failure_log = now
            log.warning("Kubernetes name lookup in %s failed: %s", self.index, reason)


def _view(hits: list[dict], uid: str | None) -> _PodView | None:
    view: _PodView | None = None
    for hit in hits:
        names = names_from_record(hit.get("_source") or {})
        if names is None or (uid is not None and names.pod_uid != uid):
            continue
        if view is None:
            view = _PodView(names)
        if names.container_id and names.container_name:
            view.containers.setdefault(names.container_id, names.container_name)
    return view


def _key(kind: str, value: str | None) -> str:
    return f"{kind}:{value}"
