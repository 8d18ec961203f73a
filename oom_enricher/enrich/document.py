"""Report block + parsed facts -> the enriched JSON document (ECS where ECS has a field)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from oom_enricher.enrich.cgroup_attribution import (
    CgroupAttribution,
    attribute_cpuset,
    attribute_paths,
)
from oom_enricher.enrich.event_id import event_id, superseded_ids
from oom_enricher.enrich.explanation import explain
from oom_enricher.enrich.gfp_flags import decode_gfp_mask
from oom_enricher.enrich.memory_limits import (
    cgroup_version,
    classify_scope,
    counter_document,
    limit_hit,
)
from oom_enricher.enrich.victim_analysis import (
    analyse_selection,
    infer_page_size,
    top_consumers,
    victims_of,
)
from oom_enricher.model import ReportBlock
from oom_enricher.parsing.facts import ReportFacts, Victim
from oom_enricher.parsing.report_parser import parse_block
from oom_enricher.schema.document_fields import OBJECT_ARRAYS

# An id masked before the report was shared (`UB XXXX`, `***`, `<ctid>`): no container's.
_REDACTED_ID = re.compile(r"[xX*.#?]+|<[^<>]*>")

DATASET = "oom_enricher.oom"
TASK_MEMBERS = OBJECT_ARRAYS["oom.tasks"]


def build_document(block: ReportBlock, facts: ReportFacts | None = None) -> dict:
    facts = facts or parse_block(block)
    victims = victims_of(facts)
    scope = classify_scope(facts)
    version = cgroup_version(facts, scope)
    hit, hit_counter = limit_hit(facts, scope, version)
    page_size, _ = infer_page_size(facts, victims)
    oom = _oom_section(block, facts, victims, scope, version, hit, hit_counter, page_size)
    doc: dict = {}
    stamp = _first_timestamp(block)
    if stamp:
        doc["@timestamp"] = stamp
    doc["message"] = _summary_message(victims, hit, block.host, facts.no_killable)
    doc["host"] = {"name": block.host} if block.host else {}
    if facts.kernel:
        doc["host"]["os"] = {"kernel": facts.kernel}
    if facts.hardware:
        doc["host"]["hardware"] = facts.hardware
    doc["event"] = _event_section(block)
    if victims:
        doc["process"] = {"pid": victims[0].pid, "name": victims[0].name}
        if victims[0].uid is not None:
            doc["user"] = {"id": str(victims[0].uid)}
    _attribute(doc, facts, block, scope, victims)
    doc["oom"] = oom
    doc["oom"]["explanation"] = explain(doc)
    return doc


def _trigger_shares_victims_cgroup(facts: ReportFacts, scope: str, victims: list[Victim]) -> bool:
    """The trigger's cpuset names the victim's container too: it is the victim, or it charged
    the memory cgroup whose limit was hit and the report names no cgroup path to say more."""
    if scope == "memcg" and not (facts.task_memcg or facts.oom_memcg):
        return True
    return bool(victims) and facts.trigger.pid is not None and facts.trigger.pid == victims[0].pid


def _first_timestamp(block: ReportBlock) -> str | None:
    for line in block.lines:
        if line.timestamp is not None:
            return (
                line.timestamp.astimezone(UTC)
                .isoformat(timespec="microseconds")
                .replace("+00:00", "Z")
            )
    return None


def _event_section(block: ReportBlock) -> dict:
    original: list[str] = []
    for line in block.lines:
        text = line.raw or line.message
        if not original or original[-1] != text:
            original.append(text)
    section = {
        "kind": "event",
        "category": ["process"],
        "type": ["end"],
        "action": "oom-kill",
        "dataset": DATASET,
        "module": "oom_enricher",
        "provider": "kernel",
        "id": event_id(block),
        "original": "\n".join(original),
        "created": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if superseded := superseded_ids(block):
        section["supersedes"] = superseded
    return section


def _summary_message(victims: list[Victim], hit: str, host: str | None, no_killable: bool) -> str:
    where = host or "unknown host"
    if no_killable and not victims:
        return f"OOM with no killable process on {where}: limit hit {hit}"  # none was killed
    who = f"{victims[0].name} ({victims[0].pid})" if victims else "unknown process"
    more = f" and {len(victims) - 1} more" if len(victims) > 1 else ""
    return f"OOM kill of {who}{more} on {where}: limit hit {hit}"


def _oom_section(block, facts, victims, scope, version, hit, hit_counter, page_size) -> dict:
    selection = analyse_selection(facts, victims)
    memory = facts.counters.get("memory")
    usage_bytes = (hit_counter or memory).usage_kb * 1024 if (hit_counter or memory) else None
    if scope == "global" and facts.ram_pages:
        usage_bytes = facts.ram_pages * page_size
    oom = {
        "complete": block.complete and not facts.missing,
        "incomplete_reason": block.incomplete_reason or next(iter(facts.missing), None),
        "scope": scope,
        "constraint": facts.summary.get("constraint"),
        "trigger": _trigger(facts),
        "selected": {
            "pid": selection.pid,
            "name": selection.name,
            "score": selection.score,
            "tgid": selection.tgid,
        },
        "selected_is_thread": selection.is_thread,
        "sacrificed_child": selection.sacrificed_child,
        "victims": [_victim(victim) for victim in victims],
        "victims_count": len(victims),
        "skipped_exiting": len(facts.skipped_exiting),
        "cgroup": {
            "task_path": facts.task_memcg,
            "oom_path": facts.oom_memcg,
            "group_kill_path": facts.group_kill_path,
            "version": version,
        },
        "limit_hit": hit,
        "usage_ratio": _ratio(hit_counter),
        "memcg_stats": _memcg_stats(facts),
        "system": _system(facts, page_size),
        "tasks": _tasks(facts.tasks),
        "tasks_count": len(facts.tasks),
        "top_consumers": top_consumers(facts, page_size, usage_bytes),
        "page_size": page_size,
        "lines_count": len(block.lines),
    }
    for name in ("memory", "memsw", "kmem", "swap"):
        oom[name] = counter_document(facts.counters.get(name))
    if facts.no_killable:
        oom["no_killable"] = True
    if facts.manual or facts.trigger.order == -1:  # SysRq-f's line, or its order=-1
        oom["manual"] = True
    if any("(oom_kill_allocating_task)" in prefix for prefix in facts.kill_prefixes):
        oom["kill_allocating_task"] = True  # the kernel skipped the choice by score
    if facts.panic:
        oom["panic"] = facts.panic
    if "memory_max_write" in facts.trace_functions:
        oom["limit_lowered"] = True
    return oom


def _trigger(facts: ReportFacts) -> dict:
    trigger = facts.trigger
    flags = trigger.gfp_names
    if flags is None and trigger.gfp_mask and not trigger.gfp_mask.endswith("*"):
        flags = decode_gfp_mask(int(trigger.gfp_mask, 16), facts.kernel)
    return {
        "pid": trigger.pid,
        "name": trigger.comm,
        "gfp_mask": trigger.gfp_mask,
        "gfp_flags": flags,
        "order": trigger.order,
        "oom_score_adj": trigger.oom_score_adj,
        "oom_adj": trigger.oom_adj,
        "cpu": trigger.cpu,
        "nodemask": trigger.nodemask,
        "cpuset": trigger.cpuset or facts.summary.get("cpuset"),
        "mems_allowed": trigger.mems_allowed or facts.summary.get("mems_allowed"),
    }


def _kb(value: int | None) -> int | None:
    return None if value is None else value * 1024


def _victim(victim: Victim) -> dict:
    return {
        "pid": victim.pid,
        "name": victim.name,
        "uid": victim.uid,
        "total_vm_bytes": _kb(victim.total_vm_kb),
        "anon_rss_bytes": _kb(victim.anon_rss_kb),
        "file_rss_bytes": _kb(victim.file_rss_kb),
        "shmem_rss_bytes": _kb(victim.shmem_rss_kb),
        "pgtables_bytes": _kb(victim.pgtables_kb),
        "oom_score_adj": victim.oom_score_adj,
        "named_by": victim.source,
    }


_TASK_RENAMED = {
    "total_vm": "total_vm_pages",
    "rss": "rss_pages",
    "rss_anon": "rss_anon_pages",
    "rss_file": "rss_file_pages",
    "rss_shmem": "rss_shmem_pages",
}


def _tasks(rows: list[dict]) -> list[dict]:
    """The task table's rows under their member names. Columns no kernel layout in the
    contract names stay in event.original only."""
    # The rows of one table share their columns: each set of columns is mapped once.
    members: dict[tuple, tuple[tuple[str, str], ...]] = {}
    tasks = []
    for row in rows:
        columns = tuple(row)
        pairs = members.get(columns)
        if pairs is None:
            pairs = members[columns] = tuple(
                (key, name)
                for key in columns
                if (name := _TASK_RENAMED.get(key, key)) in TASK_MEMBERS
            )
        tasks.append({name: row[key] for key, name in pairs})
    return tasks


def _ratio(counter) -> float | None:
    if counter is None or not counter.limit_kb:
        return None
    return round(counter.usage_kb / counter.limit_kb, 4)


def _memcg_stats(facts: ReportFacts) -> dict | None:
    """Stats of the victim's cgroup when printed, else of the first cgroup printed; in bytes.
    None when no stats line follows a header (a paste cut there)."""
    stats = facts.stats_by_path.get(facts.task_memcg or "") or next(
        (items for items in facts.stats_by_path.values() if items), None
    )
    if not stats:
        return None
    scale = 1024 if facts.stats_unit == "kB" else 1
    return {key: value * scale for key, value in stats.items()}


def _system(facts: ReportFacts, page_size: int) -> dict | None:
    if not (facts.has_mem_info or facts.total_swap_kb is not None or facts.ram_pages):
        return None
    return {
        "free_swap_bytes": _kb(facts.free_swap_kb),
        "total_swap_bytes": _kb(facts.total_swap_kb),
        "ram_pages": facts.ram_pages,
        "reserved_pages": facts.reserved_pages,
        "ram_bytes": facts.ram_pages * page_size if facts.ram_pages else None,
        "mem_info_pages": facts.mem_info or None,
        "zones": [_zone(zone) for zone in facts.zones],
    }


def _zone(zone: dict) -> dict:
    return {
        key.removesuffix("_kb") + "_bytes" if key.endswith("_kb") else key: (
            value * 1024 if key.endswith("_kb") else value
        )
        for key, value in zone.items()
    }


def _attribute_stats_path(path: str) -> CgroupAttribution:
    """What a stats line's cgroup says when no line names the OOM'd cgroup: that cgroup or
    one under it (a paste that starts at a child's stats). A pod holds all its containers,
    so its uid stands; a container inside a pod may be the wrong one."""
    attribution = attribute_paths(path)
    if attribution.pod_uid and attribution.container_id:
        return replace(attribution, container_id=None, container_runtime=None)
    return attribution


def _attribute(
    doc: dict, facts: ReportFacts, block: ReportBlock, scope: str, victims: list[Victim]
) -> None:
    attribution = attribute_paths(facts.task_memcg, facts.oom_memcg)
    if facts.task_memcg is None and facts.oom_memcg is None and facts.stats_by_path:
        attribution = _attribute_stats_path(next(iter(facts.stats_by_path)))
    if not attribution.container_id and _trigger_shares_victims_cgroup(facts, scope, victims):
        from_cpuset = attribute_cpuset(facts.trigger.cpuset)
        if from_cpuset.container_id:
            attribution = from_cpuset
    if attribution.container_id:
        doc["container"] = {"id": attribution.container_id}
        if attribution.container_runtime:
            doc["container"]["runtime"] = attribution.container_runtime
    if attribution.pod_uid:
        doc["kubernetes"] = {"pod": {"uid": attribution.pod_uid}}
        if attribution.qos_class:
            doc["kubernetes"]["pod"]["qos_class"] = attribution.qos_class
    unit = attribution.systemd_unit or block.unit_notice
    if unit:
        doc["systemd"] = {"unit": unit}
    if attribution.lxc_name:
        doc.setdefault("container", {"id": attribution.lxc_name, "runtime": "lxc"})
    if facts.beancounter is not None and not _REDACTED_ID.fullmatch(facts.beancounter):
        doc["container"] = {"id": facts.beancounter, "runtime": "openvz"}
