"""What one OOM report says, read line by line, before enrichment. Memory in kB as printed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Trigger:
    comm: str | None = None
    pid: int | None = None
    cpu_comm: str | None = None
    gfp_mask: str | None = None
    gfp_names: list[str] | None = None
    order: int | None = None
    oom_score_adj: int | None = None
    oom_adj: int | None = None  # 2.6-era header
    nodemask: str | None = None
    cpu: int | None = None
    uid: int | None = None
    cpuset: str | None = None
    cpuset_comm: str | None = None  # comm printed on the 2.6.38-4.18 cpuset line
    mems_allowed: str | None = None


@dataclass
class Victim:
    pid: int
    name: str | None
    total_vm_kb: int | None = None
    anon_rss_kb: int | None = None
    file_rss_kb: int | None = None
    shmem_rss_kb: int | None = None
    uid: int | None = None
    pgtables_kb: int | None = None
    oom_score_adj: int | None = None
    source: str = "killed"  # killed | reaper | summary
    uid_before_name: bool = False  # `Killed process N, UID U, (x)`: 2.6.18, RHEL 6 2.6.32


@dataclass
class Counter:
    usage_kb: int
    limit_kb: int
    failcnt: int | None


@dataclass
class ReportFacts:
    kernel: str | None = None
    hardware: str | None = None
    trigger: Trigger = field(default_factory=Trigger)
    summary: dict[str, str] = field(default_factory=dict)
    global_oom_flag: bool = False
    task_memcg: str | None = None
    oom_memcg: str | None = None
    group_kill_path: str | None = None
    counters: dict[str, Counter] = field(default_factory=dict)  # memory, memsw, kmem, swap
    stats_by_path: dict[str, dict[str, int]] = field(default_factory=dict)
    stats_unit: str | None = None  # "kB" (v1 single line) or "bytes" (v2 key value lines)
    mem_info: dict[str, int] = field(default_factory=dict)
    free_swap_kb: int | None = None
    total_swap_kb: int | None = None
    ram_pages: int | None = None
    reserved_pages: int | None = None
    zones: list[dict] = field(default_factory=list)  # per node/zone free and watermarks, kB
    task_columns: list[str] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    selected: dict | None = None
    choice_or_a_child: bool = False  # 2.6's wording: `kill process N (x) score S or a child`
    victims: list[Victim] = field(default_factory=list)
    skipped_exiting: list[int] = field(default_factory=list)
    reaped: list[tuple[int, str]] = field(default_factory=list)
    kill_prefixes: set[str] = field(default_factory=set)  # "Memory cgroup out of memory", ...
    trace_functions: list[str] = field(default_factory=list)
    has_mem_info: bool = False
    no_killable: bool = False
    manual: bool = False  # started by SysRq-f, not by an allocation that failed
    panic: str | None = None  # what `Kernel panic - not syncing:` gave as the reason
    beancounter: str | None = None  # OpenVZ / Virtuozzo UB (container) id
    suppressed_callbacks: int | None = None
    memcg_stats_v2: bool = False
    headless_stats: int = 0  # memory.stat lines with no `Memory cgroup stats for` above them
    # What the lines show was left out or cut, in the order noticed (`oom.incomplete_reason`)
    missing: list[str] = field(default_factory=list)

    def note_missing(self, reason: str) -> None:
        if reason not in self.missing:
            self.missing.append(reason)
