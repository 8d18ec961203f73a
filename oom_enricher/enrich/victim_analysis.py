"""Who the kernel chose and who died: threads, sacrificed children, page size, top consumers."""

from __future__ import annotations

from dataclasses import dataclass, replace

from oom_enricher.decimal_text import is_decimal
from oom_enricher.parsing.facts import ReportFacts, Victim

DEFAULT_PAGE_SIZE = 4096
_PAGE_SIZES = (4096, 16384, 65536)


@dataclass(frozen=True, slots=True)
class Selection:
    pid: int | None
    name: str | None
    score: int | None
    tgid: int | None
    is_thread: bool | None
    sacrificed_child: bool


def victims_of(facts: ReportFacts) -> list[Victim]:
    """Every process killed, in order; named by reaper or summary lines when no kill line exists."""
    if facts.victims:
        return [_with_uid(victim, facts) for victim in facts.victims]
    if facts.reaped:
        pid, name = facts.reaped[0]
        return [Victim(pid=pid, name=name, source="reaper")]
    if is_decimal(facts.summary.get("pid", "")):
        uid = facts.summary.get("uid", "")
        return [
            Victim(
                pid=int(facts.summary["pid"]),
                name=facts.summary.get("task", ""),
                uid=int(uid) if is_decimal(uid) else None,
                source="summary",
            )
        ]
    return []


def _with_uid(victim: Victim, facts: ReportFacts) -> Victim:
    """Not every kernel's kill line names the UID (`UID:`, newer ones): the summary line of
    the same pid (`uid=`) and that pid's task-table row name it too."""
    if victim.uid is not None:
        return victim
    uid = facts.summary.get("uid", "")
    if facts.summary.get("pid") == str(victim.pid) and is_decimal(uid):
        return replace(victim, uid=int(uid))
    row = next((row for row in facts.tasks if row["pid"] == victim.pid), None)
    if row is not None and isinstance(row.get("uid"), int):
        return replace(victim, uid=row["uid"])
    return victim


def analyse_selection(facts: ReportFacts, victims: list[Victim]) -> Selection:
    selected = facts.selected
    if selected is None:
        return Selection(None, None, None, None, None, False)
    by_pid = {row["pid"]: row for row in facts.tasks}
    row = by_pid.get(selected["pid"])
    is_thread: bool | None = None
    tgid: int | None = None
    if row is not None:
        # the dump prints the thread that holds the memory map: after its leader was
        # killed that may be another thread, whose row's tgid is not its pid
        tgid = row.get("tgid", row["pid"])
        is_thread = tgid != row["pid"]
    elif facts.tasks:
        tgid = _thread_group_of(facts.tasks, selected["name"])
        # absent from the table and no process it belongs to: a row may be missing instead
        is_thread = True if tgid is not None else None
    own = {selected["pid"], tgid}
    if row is None:
        # a selected thread's victim may be printed as its process: a row of its name, of
        # whatever size (a process in the table kills a child of its own name, `fork`)
        own |= {r.get("tgid", r["pid"]) for r in facts.tasks if r.get("name") == selected["name"]}
    sacrificed = bool(victims) and victims[0].pid not in own
    if sacrificed and not facts.tasks and victims[0].pid < selected["pid"]:
        # With no table to tell: a chosen thread's kill is printed as its thread group's
        # first task with memory (for_each_thread starts at the leader, which is older than
        # every other thread), while a child is newer than the process that forked it.
        sacrificed = False
    return Selection(
        selected["pid"], selected["name"], selected["score"], tgid, is_thread, sacrificed
    )


def _thread_group_of(tasks: list[dict], name: str) -> int | None:
    """The process a selected thread belongs to: the table's largest process, when it has
    the thread's name.

    The task table lists thread-group leaders only, and a thread shares its process's comm
    unless it renamed itself; its badness is its process's, the highest of the table. A
    selected task of another name than the largest process, or a smaller one of the same
    name, is more likely a row the table lost (a paste cut short) than a thread.
    """
    largest = max(tasks, key=_footprint)
    if largest.get("name") != name:
        return None
    return largest.get("tgid", largest["pid"])


def _footprint(row: dict) -> int:
    return row.get("rss", 0) + row.get("swapents", 0)


def infer_page_size(facts: ReportFacts, victims: list[Victim]) -> tuple[int, bool]:
    """(page size, inferred?) from a victim's total-vm kB against its task-table pages."""
    by_pid = {row["pid"]: row for row in facts.tasks}
    for victim in victims:
        row = by_pid.get(victim.pid)
        if row is None or not victim.total_vm_kb or not row.get("total_vm"):
            continue
        ratio = victim.total_vm_kb * 1024 / row["total_vm"]
        size = min(_PAGE_SIZES, key=lambda candidate: abs(candidate - ratio))
        if abs(size - ratio) / size < 0.05:
            return size, True
    return DEFAULT_PAGE_SIZE, False


def top_consumers(
    facts: ReportFacts, page_size: int, usage_bytes: int | None, limit: int = 5
) -> list[dict]:
    # a row cut before its rss shows no consumption; a table without `swapents` (2.6.32) no swap
    shown = [row for row in facts.tasks if row.get("rss") is not None]
    ranked = sorted(shown, key=lambda row: row["rss"], reverse=True)[:limit]
    consumers = []
    for row in ranked:
        rss_bytes = row["rss"] * page_size
        swapents = row.get("swapents")
        consumers.append(
            {
                "pid": row["pid"],
                "name": row.get("name"),
                "rss_bytes": rss_bytes,
                "swap_bytes": None if swapents is None else swapents * page_size,
                "share_of_usage": _share(rss_bytes, usage_bytes),
            }
        )
    return consumers


def _share(rss_bytes: int, usage_bytes: int | None) -> float | None:
    """rss against the cgroup's usage; none above it: rss counts pages charged elsewhere (a
    task moved in after it allocated, shared files), so no share of the usage is known."""
    if not usage_bytes or rss_bytes > usage_bytes:
        return None
    return round(rss_bytes / usage_bytes, 4)
