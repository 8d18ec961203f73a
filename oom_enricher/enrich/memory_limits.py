"""Scope, cgroup version and which memcg counter hit its limit."""

from __future__ import annotations

from oom_enricher.parsing.facts import Counter, ReportFacts
from oom_enricher.parsing.line_rules import kernel_release_number

# The kernel prints "no limit" as PAGE_COUNTER_MAX in kB: 9007199254740988 (4 KiB pages,
# 64-bit), 9007199254740976 (16 KiB pages), 18014398509481983 (32-bit). All are >= 2^52 kB,
# and none fits a signed 64-bit byte count.
UNLIMITED_KB = 2**52

_CONSTRAINT_SCOPE = {
    "CONSTRAINT_MEMCG": "memcg",
    "CONSTRAINT_CPUSET": "cpuset",
    "CONSTRAINT_MEMORY_POLICY": "mempolicy",
    "CONSTRAINT_NONE": "global",
}
# the charge path of a cgroup OOM: 2.6.3x-3.x `__mem_cgroup_try_charge`,
# `mem_cgroup_handle_oom`, 3.12+ `mem_cgroup_oom`, 4.x+ `mem_cgroup_out_of_memory`,
# `mem_cgroup_oom_synchronize`, 5.16+ `try_charge_memcg`
_MEMCG_TRACE = {
    "mem_cgroup_out_of_memory",
    "mem_cgroup_oom_synchronize",
    "try_charge_memcg",
    "__mem_cgroup_try_charge",
    "mem_cgroup_handle_oom",
    "mem_cgroup_oom",
}
_LIMIT_NAMES = {"memory": "memory", "memsw": "memory+swap", "kmem": "kmem", "swap": "swap"}
_AT_LIMIT_RATIO = 0.9
# memory.stat lines, their header cut off, that say a cgroup OOM (a lone `anon 5` might be
# any program's line)
_HEADLESS_STATS = 3


def is_unlimited(limit_kb: int) -> bool:
    return limit_kb >= UNLIMITED_KB


def classify_scope(facts: ReportFacts) -> str:
    if facts.beancounter is not None:
        return "beancounter"  # OpenVZ / Virtuozzo: the container's UB limits, not a memcg
    # 5.0-5.1 print CONSTRAINT_NONE for cgroup OOMs too: oom_memcg= settles it.
    if facts.summary.get("oom_memcg"):
        return "memcg"
    constraint = facts.summary.get("constraint")
    if constraint in _CONSTRAINT_SCOPE:
        return _CONSTRAINT_SCOPE[constraint]
    if _says_memcg(facts):
        return "memcg"
    if _says_global(facts):
        return "global"
    return "unknown"


def _says_memcg(facts: ReportFacts) -> bool:
    return bool(
        any(prefix.startswith("Memory cgroup out of memory") for prefix in facts.kill_prefixes)
        or facts.counters
        or facts.oom_memcg
        # mem_cgroup_print_oom_info: only a cgroup OOM prints a cgroup's stats
        or facts.stats_by_path
        or facts.headless_stats >= _HEADLESS_STATS
        or _MEMCG_TRACE.intersection(facts.trace_functions)
    )


def _says_global(facts: ReportFacts) -> bool:
    return bool(
        any(prefix.lower().startswith("out of memory") for prefix in facts.kill_prefixes)
        or facts.has_mem_info
        # the end of show_mem, when a paste starts after `Mem-Info:`
        or facts.ram_pages
        # zone lines come from show_mem, which a cgroup OOM never calls
        or facts.zones
        or facts.total_swap_kb is not None
        or facts.global_oom_flag
        or _out_of_memory_called_outside_a_cgroup(facts.trace_functions)
        # a cgroup OOM has no nodemask (`nodemask=(null)`): a node list is the page
        # allocator's (4.8+ print it)
        or (facts.trigger.nodemask or "(null)") != "(null)"
        # vm.panic_on_oom=1 panics only for a system-wide OOM (=2, `compulsory`, for any)
        or "system-wide panic_on_oom" in (facts.panic or "")
        # 4.x+ panic so only when nothing is left to kill outside a cgroup OOM and SysRq-f,
        # 2.6-4.18 with `Out of memory and no killable processes...` (a cgroup's returns)
        or "deadlocked" in (facts.panic or "")
        or (facts.panic or "").startswith("Out of memory and no killable")
        # SysRq-f runs the OOM killer for the whole machine (no memcg)
        or facts.manual
        # show_mem's end, like `N pages RAM`
        or facts.reserved_pages is not None
    )


def _out_of_memory_called_outside_a_cgroup(frames: list[str]) -> bool:
    """`out_of_memory` with its caller shown (a cgroup OOM's would have told _says_memcg):
    since 4.x a cgroup OOM calls it too, so a trace cut right after it tells nothing."""
    return "out_of_memory" in frames and frames.index("out_of_memory") < len(frames) - 1


# From 5.3 (`mm: memcontrol: dump memory.stat during cgroup OOM`) to 6.5 the report prints
# memory.stat in the cgroup v2 `key value` layout for v1 cgroups too; 6.6 gave v1 its own
# layout back. Those stats say v2 only from 6.6 on.
_V2_STATS_ONLY_IN_V2 = (6, 6)
_V2_FIRST = (4, 5)  # cgroup v2 (the unified hierarchy) left its development flag in 4.5


def cgroup_version(facts: ReportFacts, scope: str) -> str:
    release = kernel_release_number(facts.kernel)
    if scope == "memcg" and (
        (release is not None and release < _V2_FIRST) or _printed_before_v2(facts)
    ):
        return "v1"  # no other hierarchy had a memory controller
    if "memsw" in facts.counters or "kmem" in facts.counters or facts.stats_unit == "kB":
        return "v1"
    if "swap" in facts.counters or (_shows_v2_stats(facts) and _v2_stats_mean_v2(facts)):
        return "v2"
    return "none" if scope in ("global", "cpuset", "mempolicy") else "unknown"


def _printed_before_v2(facts: ReportFacts) -> bool:
    """Line forms only kernels before 4.5 printed: a header's `oom_adj=` (2.6-3.x), a kill's
    UID before the name (2.6.18, RHEL 6), 2.6's choice `... score S or a child`."""
    return (
        facts.trigger.oom_adj is not None
        or any(victim.uid_before_name for victim in facts.victims)
        or facts.choice_or_a_child
    )


def _shows_v2_stats(facts: ReportFacts) -> bool:
    """Stats in the v2 layout under their header (a header alone shows no layout)."""
    return facts.memcg_stats_v2 and any(facts.stats_by_path.values())


def _v2_stats_mean_v2(facts: ReportFacts) -> bool:
    release = kernel_release_number(facts.kernel)
    return release is not None and release >= _V2_STATS_ONLY_IN_V2


def limit_hit(facts: ReportFacts, scope: str, version: str) -> tuple[str, Counter | None]:
    """The counter whose usage reached its limit, by how close each came, then by failures."""
    if scope in ("global", "cpuset", "mempolicy"):
        return "global", None
    if scope != "memcg":
        return "unknown", None
    candidates = {
        name: counter
        for name, counter in facts.counters.items()
        if name in _LIMIT_NAMES and counter.limit_kb >= 0 and not is_unlimited(counter.limit_kb)
    }
    if version == "v2" and "memory" in candidates:
        # cgroup v2 raises OOM on memory.max; a full swap.max only stops swap-out.
        candidates.pop("swap", None)
    if not candidates:
        return "unknown", None
    name, counter = max(candidates.items(), key=lambda item: _closeness(item[1]))
    if _closeness(counter)[0] < _AT_LIMIT_RATIO:
        return "unknown", None
    return _LIMIT_NAMES[name], counter


def _closeness(counter: Counter) -> tuple[float, int]:
    failures = counter.failcnt or 0
    if counter.limit_kb == 0:
        # A limit of 0 (a cgroup allowed none at all) was hit only if charges failed on it:
        # a v2 `swap: usage 0kB, limit 0kB, failcnt 0` is a cgroup that never swaps.
        return (1.0 if failures else 0.0), failures
    return min(counter.usage_kb / counter.limit_kb, 1.0), failures


def counter_document(counter: Counter | None) -> dict | None:
    if counter is None:
        return None
    unlimited = is_unlimited(counter.limit_kb)
    return {
        "usage_bytes": counter.usage_kb * 1024,
        "limit_bytes": None if unlimited else counter.limit_kb * 1024,
        "failcnt": counter.failcnt,
        "unlimited": unlimited,
    }
