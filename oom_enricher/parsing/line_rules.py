"""One rule per kind of report line: a regex named for what it matches and what it records.

Comments name the kernel versions whose format each rule covers. Rules are tried in order
and the first match wins; a line no rule matches is kept in the report text only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from oom_enricher.decimal_text import is_signed_decimal
from oom_enricher.kernel_lines import (
    EXITING,
    GROUP,
    INVOKED,
    INVOKED_NAMELESS,
    KILLED,
    NO_KILLABLE,
    PANIC,
    REAPED,
    SELECTED,
    SUMMARY,
    SUMMARY_KEYS,
    SUPPRESSED,
    TASK_HEADER,
    UB_KILLED,
)
from oom_enricher.parsing.facts import Counter, ReportFacts, Victim


@dataclass
class ParseState:
    """Context a line needs from the lines before it."""

    stats_path: str | None = None  # collecting cgroup v2 `key value` stats lines for this path
    task_in_path: str | None = None  # `Task in X` printed alone (pr_cont split, pre-4.x)
    awaiting_limit_path: bool = False  # `killed as a result of limit of ` printed alone
    in_task_table: bool = False
    in_mem_info: bool = False
    zone_unended: bool = False  # the zone line before did not end as the kernel ends one
    # the task table's rows of plain values (plain_row_pattern) and the keys of their values
    plain_row: re.Pattern[str] | None = None
    row_keys: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


Handler = Callable[[ReportFacts, re.Match[str], ParseState], None]

_NUM = r"-?\d+"

# `gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE)`; a mask an author masked (`0x62****`) is kept
# as printed: its value is not known
_GFP = re.compile(r"gfp_mask=(?P<mask>0x[0-9a-fA-F]+\**)(?:\((?P<names>[^)]*)\))?")
# a field's name after no letter: a copy that lost the separators glues it to the value
# before it (`gfp_mask=0x800d0order=0oom_score_adj=0`)
_FIELD = r"(?<![A-Za-z_])"
_ORDER = re.compile(_FIELD + r"order=(?P<v>-?\d+)")
# RHEL 6 (2.6.32) kernels print it misspelt: `oom_adj=0, oom_scoe_adj=0`
_SCORE_ADJ = re.compile(_FIELD + r"oom_scor?e_adj=(?P<v>-?\d+)")
_OOM_ADJ = re.compile(_FIELD + r"(?:oom_adj|oomkilladj)=(?P<v>-?\d+)")  # 2.6.18: oomkilladj
_NODEMASK = re.compile(r"\bnodemask=(?P<v>[^,\s]+)")
# A header's fields end with the trigger's score adjustment on every kernel (2.6.18
# `oomkilladj=`, 2.6.2x-2.6.35 `oom_adj=`, 2.6.36+ `oom_score_adj=`): fields without it were cut.
_HEADER_END = re.compile(r"\b(?:oom_scor?e_adj|oom_adj|oomkilladj)=-?\d+\s*$")
# 2.6.8-2.6.17 name no task and end with the mask (2.6.9) or the order (2.6.1x); 2.6.18
# adds `oomkilladj=`
_NAMELESS_HEADER_END = re.compile(r"(?:gfp_mask=0x[0-9a-f]+|\border=-?\d+|\boomkilladj=-?\d+)\s*$")

# 2.6.38-4.18: `<comm> cpuset=<name> mems_allowed=0-3`
CPUSET = re.compile(r"(?P<comm>.*?) cpuset=(?P<cpuset>\S*) mems_allowed=(?P<mems>\S+)")
# 3.x-6.x: `CPU: 1 PID: 183960 Comm: stress-ng-vm Not tainted 5.15.0-1041-azure #48-Ubuntu`;
# 6.11+ insert `UID: 0`; RHEL adds `Kdump: loaded`.
# RHEL 7 puts `------------ T` among the taint flags.
# A paste may end the line with an author's `...` after the release or in its place; a tool
# that turned runs of spaces into tabs (`unexpand`, an editor) leaves tabs among the flags.
_TAINT = (
    r"(?:Not tainted|Tainted:)(?:[A-Z \t\-]*?[ \t]+(?P<release>\d\S*?)(?P<cut>\.{3,}|…)?(?=\s|$)"
    r"|\s*(?P<elided>\.{3,}|…))"
)
CPU_LINE = re.compile(
    r"CPU: (?P<cpu>\d+) (?:UID: (?P<uid>\d+) )?PID: (?P<pid>\d+) Comm: (?P<comm>.+?) "
    r"(?:Kdump: \S+ )?" + _TAINT
)
# 2.6.x: `Pid: 23105, comm: apt-check Tainted: G    B   W  2.6.30 #11`
PID_LINE = re.compile(r"Pid: (?P<pid>\d+), comm: (?P<comm>.+?) " + _TAINT)
# s390 2.6.3x-3.x: `CPU: 7 Not tainted 2.6.36-45.x #1`, then the task on a line of its own:
# `Process blast (pid: 8067, task: 000000007a244640, ksp: 000000003dc8f678)`
CPU_ONLY_LINE = re.compile(r"CPU: (?P<cpu>\d+) " + _TAINT)
PROCESS_LINE = re.compile(
    r"Process (?P<comm>.+?) \(pid: (?P<pid>\d+), task: [0-9a-f]+, ksp: [0-9a-f]+\)"
)
HARDWARE = re.compile(r"Hardware name: (?P<hw>.+?)(?P<elided>\.{3,}|…)?\s*$")
# stack frames: x86 `[<ffffffff817557fe>] dump_stack+0x46/0x58`, 4.13+ ` dump_stack+0x5c/0x79`,
# 2.6.1x-2.6.2x i386 the symbol in decimal first: `[__alloc_pages+740/832] __alloc_pages+0x2e4/…`
_FRAME_OFFSET = r"\+0x[0-9a-f]+/0x[0-9a-f]+"  # `+0x2e4/0x340`: offset and size, every arch
TRACE_FRAME = re.compile(
    rf"\s*(?:\[<[0-9a-f]+>\] |\[[\w.$]+\+\d+/\d+\] )?(?:\? )?(?P<fn>[\w.$]+){_FRAME_OFFSET}"
)
# A trace decoded to source lines (`scripts/decode_stacktrace.sh`, the 0-day and syzbot
# robots; any kernel): `out_of_memory (mm/oom_kill.c:1180)`, `? show_stack (arch/x86/…c:319)`
TRACE_FRAME_DECODED = re.compile(
    r"(?:\? )?(?P<fn>[A-Za-z_][\w.$]*) \((?:[\w.+-]+/)*[\w.+-]+\.[chS]:\d+[ )]"
)
# x86 frames cut at a fixed width after the name or inside its offset, where a line ends:
# `[<ffffffff81187bbd>] ? __alloc_pages_nodemask`, `[<ffffffff811bd1ce>] try_charge+0xb`
TRACE_FRAME_CUT = re.compile(
    r"\[<[0-9a-f]+>\] (?:\? )?(?P<fn>[A-Za-z_][\w.$]*)"
    r"(?:\+(?:0x[0-9a-f]*(?:/(?:0x[0-9a-f]*)?)?)?)?\s*$"
)
# 32-bit ARM, 2.6-5.x: `[<c009a02c>] (oom_kill_process) from [<c009a57c>] (out_of_memory+0x2f8/
# 0x32c)`; before 3.x the first name carries its offset too (`(unwind_backtrace+0x0/0xf8)`)
# A paste may drop the addresses: `(out_of_memory) from (__alloc_pages_nodemask+0xe9c/0xeb8)`.
ARM_TRACE_FRAME = re.compile(
    rf"\[<[0-9a-f]+>\] \((?P<fn>[\w.$]+)(?:{_FRAME_OFFSET})?\) from \[<"
    r"(?:[0-9a-f]+>\] \((?P<caller>[\w.$]+))?"
    rf"|\((?P<bare_fn>[\w.$]+)(?:{_FRAME_OFFSET})?\) from "
    rf"\((?P<bare_caller>[\w.$]+){_FRAME_OFFSET}\)"
)
# SysRq-f's own line, printed before the report it starts: `SysRq : Manual OOM execution`
# (2.6-5.3), `sysrq: Manual OOM execution` (5.4+)
SYSRQ_OOM = re.compile(r"(?:SysRq :|sysrq:) Manual OOM execution")
# v1 and v2 before 5.0: `Task in /docker/a4d4... killed as a result of limit of /docker/a4d4...`
TASK_IN = re.compile(r"Task in (?P<task>\S+) killed as a result of limit of (?P<oom>\S+)")
TASK_IN_ALONE = re.compile(r"Task in (?P<task>\S+)\s*$")
LIMIT_OF_ALONE = re.compile(r"killed as a result of limit of\s*(?P<oom>\S+)?\s*$")
PATH_ALONE = re.compile(r"(?P<path>/\S*)\s*$")
# memcg counters, every kernel with memcg: `memory+swap: usage 524288kB, limit 524288kB, failcnt 5`
COUNTER = re.compile(
    r"(?P<name>memory|memory\+swap|kmem|swap|tcpmem): "
    r"usage (?P<usage>\d+)kB, limit (?P<limit>\d+)kB"
    r"(?:, failcnt (?P<failcnt>\d+))?"
)
# v1: `Memory cgroup stats for /x: cache:0KB rss:229600KB ...`; v2 (4.19+): `... for /x:` then
# one `key value` line each (values in bytes or counts).
STATS_HEADER = re.compile(r"Memory cgroup stats for (?P<path>\S*?):(?P<rest>.*)")
STATS_V1_ITEM = re.compile(r"(?P<key>[a-z_]+):(?P<value>\d+)KB")
STATS_V2_ITEM = re.compile(r"(?P<key>[a-z_]+) (?P<value>\d+)$")
# memory.stat's keys as a cgroup OOM prints them (5.3+, `key value`): only that report does
MEMORY_STAT_KEYS = frozenset(
    {
        "anon",
        "file",
        "kernel",
        "kernel_stack",
        "pagetables",
        "sec_pagetables",
        "percpu",
        "sock",
        "vmalloc",
        "shmem",
        "zswap",
        "zswapped",
        "file_mapped",
        "file_dirty",
        "file_writeback",
        "swapcached",
        "anon_thp",
        "file_thp",
        "shmem_thp",
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
        "slab_reclaimable",
        "slab_unreclaimable",
        "slab",
        "workingset_refault_anon",
        "workingset_refault_file",
        "workingset_activate_anon",
        "workingset_activate_file",
        "workingset_restore_anon",
        "workingset_restore_file",
        "workingset_nodereclaim",
        "pgscan",
        "pgsteal",
        "pgscan_kswapd",
        "pgscan_direct",
        "pgsteal_kswapd",
        "pgsteal_direct",
        "pgfault",
        "pgmajfault",
        "pgrefill",
        "pgactivate",
        "pgdeactivate",
        "pglazyfree",
        "pglazyfreed",
        "zswpin",
        "zswpout",
        "thp_fault_alloc",
        "thp_collapse_alloc",
    }
)
# global OOMs: `Mem-Info:`, then `active_anon:223191 inactive_anon:36 ...` (pages)
MEM_INFO = re.compile(r"Mem-[Ii]nfo:")  # 2.6.18 writes `Mem-info:`
MEM_INFO_ITEMS = re.compile(r"(?P<key>[A-Za-z_]+):(?P<value>\d+)(?=\s|$)")
# global OOMs, every kernel: `Node 0 DMA32 free:44348kB min:44348kB low:55432kB high:66520kB
# ... present:1032184kB managed:1000608kB` (2.6-4.13 print no `Node N`; 5.x add `boost:`)
ZONE = re.compile(
    r"(?:Node (?P<node>\d+) )?(?P<zone>DMA32|DMA|Normal|HighMem|Movable|Device) "
    r"free:(?P<free>\d+)kB"
    r"(?: boost:\d+kB)? min:(?P<min>\d+)kB low:(?P<low>\d+)kB high:(?P<high>\d+)kB"
)
_ZONE_SIZE = re.compile(r"\b(?P<key>present|managed):(?P<kb>\d+)kB")
# A zone line ends with `all_unreclaimable? no` (2.6-4.7) or `free_cma:0kB` (4.8+): one
# without either end was cut.
_ZONE_END = re.compile(r"(?:all_unreclaimable\? (?:yes|no)|free_cma:\d+kB)\s*$")
# The end of a zone line carried onto a line of its own (a paste that broke it, inside a
# word or not): `all_unreclaimable? yes`, `imable? yes`, `pages_scanned:0 free_cma:0kB`; or
# broken between a key and its value (`active_anon:` / `278804kB inactive_anon:…`).
ZONE_REST = re.compile(
    r"(?:\d+(?:kB)?\s+)?(?:[a-z_()]+:\d+(?:kB)?\s+)*(?:[a-z_]*\? ?(?:yes|no)|[a-z_]*:\d+kB)\s*"
    r"|\d+kB\s*"
)
# every kernel; the count can run below zero for a moment: `Free swap  = -1636kB`
FREE_SWAP = re.compile(r"Free swap\s*=\s*(?P<kb>-?\d+)kB")
TOTAL_SWAP = re.compile(r"Total swap\s*=\s*(?P<kb>\d+)kB")
# show_mem's end: `N pages RAM` (lib/show_mem.c), `N pages of RAM` (older arch copies, 2.6 ARM)
PAGES_RAM = re.compile(r"(?P<n>\d+) pages (?:of )?RAM")
PAGES_RESERVED = re.compile(r"(?P<n>\d+) pages reserved")
# 4.15+ title of the task table (its header line is kernel_lines.TASK_HEADER)
TASKS_TITLE = re.compile(r"Tasks state \(memory values in pages\):")
TASK_ROW = re.compile(r"\[\s*(?P<pid>\d+)\]\s+(?P<rest>.*)")
# `total-vm:4404kB`, `UID:0`; a value read whole (a copy that grouped its digits,
# `26,184,840kB`; a wrap before its unit, `53312244   kB`), or not at all (a wrap inside
# it, `690   68kB`, leaves its first digits without their unit)
_KILLED_FIELD = re.compile(
    r"(?P<key>[A-Za-z_-]+):(?P<value>-?\d+(?:,\d+)*)(?:\s*(?P<kb>kB))?(?!\w)"
)
_UNITLESS = frozenset(("UID", "oom_score_adj"))  # every other field is a size in kB
_SUMMARY_KEYS = "|".join(SUMMARY_KEYS)
_SUMMARY_KEY = re.compile(rf"(?:^|,)(?P<key>{_SUMMARY_KEYS})=")
# A summary wrapped between its fields and joined again with a blank (`CONSTRAINT_MEMCG
# task=java`, `global_oom, task_memcg=...`): the kernel separates them with a comma alone.
_SUMMARY_REJOINED = re.compile(rf",?\s+(?=(?:{_SUMMARY_KEYS})=)")


def on_invoked(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.trigger.comm = m["comm"]
    _read_header(facts, m["rest"], _HEADER_END)
    if not m["rest"].strip():
        facts.note_missing("truncated_line")  # the fields went with the rest of the line


def on_invoked_nameless(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    _read_header(facts, m["rest"], _NAMELESS_HEADER_END)


def _read_header(facts: ReportFacts, rest: str, end: re.Pattern[str]) -> None:
    trigger = facts.trigger
    gfp = _GFP.search(rest)
    if gfp:
        trigger.gfp_mask = gfp["mask"]
        trigger.gfp_names = gfp["names"].split("|") if gfp["names"] else None
    for pattern, attr in ((_ORDER, "order"), (_SCORE_ADJ, "oom_score_adj"), (_OOM_ADJ, "oom_adj")):
        found = pattern.search(rest)
        if found:
            setattr(trigger, attr, int(found["v"]))
    nodemask = _NODEMASK.search(rest)
    trigger.nodemask = nodemask["v"] if nodemask else None
    if gfp and not end.search(rest):
        facts.note_missing("truncated_line")


def on_cpuset(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.trigger.cpuset = m["cpuset"]
    facts.trigger.mems_allowed = m["mems"]
    facts.trigger.cpuset_comm = m["comm"]


def on_cpu_line(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    trigger = facts.trigger
    if trigger.pid is None:
        trigger.pid = int(m["pid"])
        trigger.cpu_comm = m["comm"]
        groups = m.groupdict()
        trigger.cpu = int(groups["cpu"]) if groups.get("cpu") else None
        trigger.uid = int(groups["uid"]) if groups.get("uid") else None
        _take_release(facts, m)


def _take_release(facts: ReportFacts, m: re.Match[str]) -> None:
    facts.kernel = m["release"]
    if m["cut"] or m["elided"]:
        facts.note_missing("elided")


def on_cpu_only_line(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    if facts.trigger.pid is None and facts.trigger.cpu is None:
        facts.trigger.cpu = int(m["cpu"])
        _take_release(facts, m)


def on_process_line(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    trigger = facts.trigger
    if trigger.pid is None:
        trigger.pid = int(m["pid"])
        trigger.cpu_comm = m["comm"]


def on_hardware(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    if facts.hardware is None:
        facts.hardware = m["hw"].strip()
        if m["elided"]:
            facts.note_missing("elided")


def _function(frame_name: str) -> str:
    """GCC's clones keep the function's name before a dot (`out_of_memory.cold`,
    `dump_header.isra.17`, `.constprop.0`, `.part.0`): no C name holds one."""
    return frame_name.partition(".")[0]


def on_trace_frame(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.trace_functions.append(_function(m["fn"]))


def on_cut_trace_frame(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    on_trace_frame(facts, m, state)
    facts.note_missing("truncated_line")


def on_arm_trace_frame(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    """`(fn) from [<addr>] (caller+off/size)`: the frame and its caller, which the next
    line names again as its own frame."""
    frames = facts.trace_functions
    fn = _function(m["fn"] or m["bare_fn"])
    if not frames or frames[-1] != fn:
        frames.append(fn)
    caller = m["caller"] or m["bare_caller"]
    if caller:
        frames.append(_function(caller))


def _limit_path(text: str) -> str | None:
    """The cgroup after `limit of`: the kernel prints a path; some vendor kernels print a
    word there on a global OOM (`limit of host`), which names no cgroup."""
    return text if text.startswith("/") else None


def on_task_in(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.task_memcg = facts.task_memcg or m["task"]
    facts.oom_memcg = facts.oom_memcg or _limit_path(m["oom"])


def on_task_in_alone(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    state.task_in_path = m["task"]


def on_limit_of_alone(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    if state.task_in_path:
        facts.task_memcg = facts.task_memcg or state.task_in_path
    if m["oom"]:
        facts.oom_memcg = facts.oom_memcg or _limit_path(m["oom"])
    else:
        state.awaiting_limit_path = True


def on_counter(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    name = {"memory+swap": "memsw"}.get(m["name"], m["name"])
    failcnt = int(m["failcnt"]) if m["failcnt"] is not None else None
    facts.counters.setdefault(name, Counter(int(m["usage"]), int(m["limit"]), failcnt))


def on_stats_header(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    path, rest = m["path"], m["rest"]
    items = {item["key"]: int(item["value"]) for item in STATS_V1_ITEM.finditer(rest)}
    if items:
        facts.stats_by_path.setdefault(path, items)
        facts.stats_unit = "kB"
        if not rest.rstrip().endswith("KB"):
            facts.note_missing("truncated_line")  # each item ends in its unit: cut in one
    else:
        state.stats_path = path
        facts.stats_by_path.setdefault(path, {})
        facts.stats_unit = "bytes"
        facts.memcg_stats_v2 = True


def on_mem_info(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.has_mem_info = True
    state.in_mem_info = True


def on_zone(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    zone = {
        "node": int(m["node"]) if m["node"] else 0,
        "zone": m["zone"],
        "free_kb": int(m["free"]),
        "min_kb": int(m["min"]),
        "low_kb": int(m["low"]),
        "high_kb": int(m["high"]),
    }
    for size in _ZONE_SIZE.finditer(m.string):
        zone[f"{size['key']}_kb"] = int(size["kb"])
    facts.zones.append(zone)
    # its end may stand on the next line: report_parser looks there
    state.zone_unended = not _ZONE_END.search(m.string)


def on_free_swap(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.free_swap_kb = int(m["kb"])


def on_total_swap(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.total_swap_kb = int(m["kb"])


def on_pages_ram(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.ram_pages = int(m["n"])


def on_pages_reserved(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.reserved_pages = int(m["n"])


def on_tasks_title(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    state.in_mem_info = False


def on_task_header(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    columns = m["columns"].split()
    _set_task_columns(facts, state, columns[:-1] if columns and columns[-1] == "name" else columns)
    state.in_task_table = True
    state.in_mem_info = False


def _set_task_columns(facts: ReportFacts, state: ParseState, columns: list[str]) -> None:
    facts.task_columns = columns
    state.plain_row = plain_row_pattern(len(columns)) if columns else None
    state.row_keys = ("pid", *columns, "name")


def on_task_row(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    """A row under a header: the header's columns, then the name (which may have been cut)."""
    numbers, name = _row_values(m["rest"], len(facts.task_columns))
    if not numbers:
        # the table lacks a task: a row cut right after its pid, or one with a damaged value
        rest = m["rest"].strip()
        facts.note_missing("truncated_line" if _ROW_CUT.search(rest) else "unreadable_line")
        return
    row: dict = {"pid": int(m["pid"])}
    row.update(zip(facts.task_columns, numbers, strict=False))
    if name is None or len(numbers) < len(facts.task_columns):
        facts.note_missing("truncated_line")  # a pager or terminal cut the row short
    if name is not None:
        row["name"] = name
    facts.tasks.append(row)


# A name a pager or terminal left in place of the rest of a row (_ROW_CUT)
_CUT_NAMES = frozenset(("…", "...", ">"))


def plain_row_pattern(count: int) -> re.Pattern[str]:
    """A task row (TASK_ROW) of `count` values then a name, every value a plain decimal
    (`_PLAIN_INTS`) of at most 18 digits, which orjson reads as `int()` does. A row that does
    not fit is read by on_task_row; one that fits is read the same by take_plain_row.

    Possessive and unrolled: nothing here could match another way after backtracking, and
    the regex engine is several times faster without repeat bookkeeping.
    """
    # `[^\S\n]`: the `rest` of TASK_ROW ends at a line break, and split() parts at any space
    value = r"-?+[0-9]{1,18}+[^\S\n]++"
    return re.compile(
        r"\[\s*+(?P<pid>[0-9]{1,18}+)\]\s++(?P<values>" + value * count + r")(?P<name>\S.*)"
    )


def take_plain_row(facts: ReportFacts, state: ParseState, text: str) -> bool:
    """Record a row of the open task table if it is a plain one (almost every row): the row
    on_task_row records, found by one regex and its values read by one orjson call."""
    m = state.plain_row.match(text) if state.plain_row is not None else None
    if m is None:
        return False
    name = m["name"].strip()
    if name in _CUT_NAMES:
        return False  # cut short: on_task_row notes it
    try:
        values = orjson.loads(f"[{m['pid']},{','.join(m['values'].split())}]")
    except orjson.JSONDecodeError:
        return False  # a leading zero, which JSON does not allow
    values.append(name)
    # as many values as keys: `pid`, one per column, `name` (dict keeps a repeated key first)
    facts.tasks.append(dict(zip(state.row_keys, values, strict=False)))
    return True


def on_task_row_headerless(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    """A row with no header before it (grep output, a paste that starts mid-table), or after
    another line ended its table: some rows may be lost there."""
    if facts.task_columns:
        facts.note_missing("block_interrupted")
    else:
        columns = infer_task_columns(_leading_numbers(m["rest"]), facts.kernel)
        if columns is None:
            return
        _set_task_columns(facts, state, list(columns))
        facts.note_missing("task_header_missing")
    state.in_task_table = True
    on_task_row(facts, m, state)


# Columns between `[ pid ]` and the name, by how many there are, newest layout first; the
# header names them, a row without one is read by the first layout its values fit.
_TASK_BASE = ("uid", "tgid", "total_vm", "rss")
TASK_LAYOUTS: dict[int, tuple[tuple[str, ...], ...]] = {
    # 6.8+
    10: (
        _TASK_BASE
        + ("rss_anon", "rss_file", "rss_shmem", "pgtables_bytes", "swapents", "oom_score_adj"),
    ),
    # 4.8-4.14
    8: (_TASK_BASE + ("nr_ptes", "nr_pmds", "swapents", "oom_score_adj"),),
    7: (
        _TASK_BASE + ("pgtables_bytes", "swapents", "oom_score_adj"),  # 4.15-6.7
        _TASK_BASE + ("cpu", "oom_adj", "oom_score_adj"),  # 2.6.32 (RHEL 6), 3.0-3.x
        _TASK_BASE + ("nr_ptes", "swapents", "oom_score_adj"),  # 3.x-4.7
    ),
    # 2.6.2x-2.6.35
    6: (_TASK_BASE + ("cpu", "oom_adj"),),
}
_PAGE = 4096  # pgtables_bytes counts whole page-table pages


def infer_task_columns(values: list[int], kernel: str | None) -> tuple[str, ...] | None:
    """The layout a headerless row's values fit; the kernel release settles the 7-column ones."""
    layouts = TASK_LAYOUTS.get(len(values))
    if layouts is None:
        return None
    return layouts[0] if len(layouts) == 1 else _seven_columns(values, kernel, layouts)


def _seven_columns(values: list[int], kernel: str | None, layouts) -> tuple[str, ...]:
    pgtables, cpu_oom_adj, nr_ptes = layouts
    release = kernel_release_number(kernel)
    if release is not None:
        if release >= (4, 15):
            return pgtables
        return cpu_oom_adj if release < (3, 8) else nr_ptes
    if values[4] >= _PAGE and values[4] % _PAGE == 0:
        return pgtables
    # oom_adj runs -17..15 and swapents is never negative
    if -17 <= values[5] < 0:
        return cpu_oom_adj
    # resident pages are mapped by page tables: nr_ptes 0 beside rss is the CPU column
    return cpu_oom_adj if values[4] == 0 and values[3] > 0 and values[5] <= 15 else nr_ptes


def kernel_release_number(kernel: str | None) -> tuple[int, int] | None:
    """(major, minor) of a release such as `5.15.0-91-generic`; None when it has none."""
    found = re.match(r"(\d+)\.(\d+)", kernel or "")
    return (int(found[1]), int(found[2])) if found else None


# A pager or a terminal cut the row: `…`, `...` or `>` where the rest was
_ROW_CUT = re.compile(r"(?:…|\.\.\.|>)$")
_PLAIN_INTS = re.compile(r"-?[0-9]+(?: -?[0-9]+)*")


def _row_values(rest: str, count: int) -> tuple[list[int], str | None]:
    """The `count` numbers of a row and the name after them.

    A row cut short keeps the numbers before the cut (a number cut in the middle is dropped)
    and has no name; a row that is not of this layout gives no numbers.
    """
    parts = rest.split(None, count)
    values = parts[:count]
    if len(parts) > count and _PLAIN_INTS.fullmatch(" ".join(values)):
        # every value a plain decimal (almost every row): what the loop below finds
        name = parts[count].strip()
        return list(map(int, values)), None if _ROW_CUT.fullmatch(name) else name
    numbers: list[int] = []
    for index, part in enumerate(parts[:count]):
        if is_signed_decimal(part):
            numbers.append(int(part))
        elif index == len(parts) - 1 and _ROW_CUT.search(part):
            return numbers, None
        else:
            return [], None
    if len(parts) <= count:
        return numbers, None  # the line ends before the name: cut at a fixed width
    name = parts[count].strip()
    return numbers, None if _ROW_CUT.fullmatch(name) else name


def _leading_numbers(rest: str) -> list[int]:
    numbers = []
    for part in rest.split():
        if not is_signed_decimal(part):
            break
        numbers.append(int(part))
    return numbers


def on_selected(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    if facts.selected is None:
        facts.selected = {"pid": int(m["pid"]), "name": m["comm"], "score": int(m["score"])}
        facts.choice_or_a_child = m.string.endswith("or a child", m.end())
    _note_prefix(facts, m["prefix"])


def on_killed(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    _note_prefix(facts, m["prefix"])
    pid = int(m["pid"])
    if any(victim.pid == pid and victim.source == "killed" for victim in facts.victims):
        return  # memory.oom.group prints the first victim again
    values = _killed_fields(m["fields"] or "")
    facts.victims = [victim for victim in facts.victims if victim.pid != pid]
    facts.victims.append(
        Victim(
            pid=pid,
            name=m["comm"] if m["comm"] is not None else _task_name(facts, pid),
            total_vm_kb=values.get("total-vm", values.get("vsz")),
            anon_rss_kb=values.get("anon-rss"),
            file_rss_kb=values.get("file-rss"),
            shmem_rss_kb=values.get("shmem-rss"),
            uid=values.get("UID", _uid_beside_name(m)),
            pgtables_kb=values.get("pgtables"),
            oom_score_adj=values.get("oom_score_adj"),
            uid_before_name=m["uid"] is not None,
        )
    )


def _killed_fields(text: str) -> dict[str, int | None]:
    """A kill line's sizes. The kernel prints no comma inside a number: a page that grouped
    its digits (`26,184,840kB`, even unevenly, `153,700,88kB`) kept them all."""
    values: dict[str, int | None] = {}
    for item in _KILLED_FIELD.finditer(text):
        if item["kb"] is None and item["key"] not in _UNITLESS:
            values[item["key"]] = None  # the rest of the number went past a wrap
        else:
            values[item["key"]] = int(item["value"].replace(",", ""))
    return values


def _task_name(facts: ReportFacts, pid: int) -> str | None:
    """The name the task table gives pid (a kill line cut before its name ends)."""
    return next((task.get("name") for task in facts.tasks if task.get("pid") == pid), None)


def _uid_beside_name(m: re.Match[str]) -> int | None:
    uid = m["uid"] or m["uid_after_name"]
    return int(uid) if uid else None


def on_summary(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    body = _SUMMARY_REJOINED.sub(",", m["body"])
    keys = list(_SUMMARY_KEY.finditer(body))
    if keys and not _SUMMARY_WHOLE.search(body):
        # The line was cut (`cut -c1-400`, a terminal): its last value is whole only when a
        # comma ends it (the cut fell in the next key's name).
        comma = body.find(",", keys[-1].end())
        body = body[:comma] if comma >= 0 else body[: keys.pop().start()]
    for index, key in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(body)
        value = body[key.end() : end]
        # after mems_allowed, or after whatever field an author's cut left before it
        if value.endswith(",global_oom"):
            value = value[: -len(",global_oom")]
            facts.global_oom_flag = True
        facts.summary[key["key"]] = value
    facts.global_oom_flag = facts.global_oom_flag or ",global_oom" in body
    facts.oom_memcg = facts.summary.get("oom_memcg") or facts.oom_memcg
    facts.task_memcg = facts.summary.get("task_memcg") or facts.task_memcg


# The kernel ends the summary with the victim's uid (4.19+); a line cut short ends elsewhere.
_SUMMARY_WHOLE = re.compile(r",uid=\d+\s*$")


def on_group(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.group_kill_path = m["path"]


def on_exiting(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    pid = int(m["pid"])
    if pid not in facts.skipped_exiting:  # a task the text names twice was skipped once
        facts.skipped_exiting.append(pid)


def on_reaped(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.reaped.append((int(m["pid"]), m["comm"]))


def on_suppressed(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.suppressed_callbacks = int(m["n"])


def on_no_killable(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.no_killable = True
    if "Kernel panic - not syncing:" in m["before"]:
        facts.panic = "Out of memory and no killable processes..."


def on_sysrq_oom(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.manual = True


def on_panic(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.panic = facts.panic or m["reason"]


_UB_FIELD = re.compile(r"(?P<key>vm|rss|swap):(?P<kb>\d+)kB")


def on_ub_killed(facts: ReportFacts, m: re.Match[str], state: ParseState) -> None:
    facts.beancounter = m["ub"] or m["ve"]
    pid, name = int(m["pid"] or m["ve_pid"]), m["comm"] if m["pid"] else m["ve_comm"]
    sizes = {item["key"]: int(item["kb"]) for item in _UB_FIELD.finditer(m["fields"] or "")}
    if m["score"] is not None and facts.selected is None:
        facts.selected = {"pid": pid, "name": name, "score": int(m["score"])}
    if all(victim.pid != pid for victim in facts.victims):
        facts.victims.append(Victim(pid=pid, name=name, total_vm_kb=sizes.get("vm")))


# The kill lines' own prefixes: `Memory cgroup out of memory` (cgroup OOMs), `Out of memory`
# (the others; early 2.6 kernels wrote `Out of Memory`).
_KILL_LINE_PREFIX = re.compile(r"(?:Memory cgroup out of memory|Out of [Mm]emory).*$")


def _note_prefix(facts: ReportFacts, prefix: str | None) -> None:
    # No kernel kill-line prefix holds a `]`: text up to one is a stamp or caller id the
    # line's prefix rules could not take off (a shell prompt glued before it, say).
    # Text before the kernel's own prefix is a caller's (a node event's `1 OOMKilling: `).
    if prefix:
        prefix = prefix.rpartition("]")[2].strip()
        own = _KILL_LINE_PREFIX.search(prefix)
        facts.kill_prefixes.add(own.group() if own else prefix)


class Rule(NamedTuple):
    name: str
    # A cheap first test, exact: the characters a (stripped) line the regex matches can start
    # with (None: any), and a literal every such line contains.
    starts: str | None
    needle: str
    pattern: re.Pattern[str]
    handler: Handler


RULES: tuple[Rule, ...] = (
    Rule("invoked", None, " invoked oom-killer", INVOKED, on_invoked),
    Rule("invoked-nameless", "o", "oom-killer: gfp_mask=", INVOKED_NAMELESS, on_invoked_nameless),
    Rule("ub-killed", "O", "OOM killed process ", UB_KILLED, on_ub_killed),
    Rule("cpu-line", "C", "CPU: ", CPU_LINE, on_cpu_line),
    Rule("pid-line", "P", "Pid: ", PID_LINE, on_cpu_line),
    Rule("cpu-only-line", "C", "CPU: ", CPU_ONLY_LINE, on_cpu_only_line),
    Rule("process-line", "P", "Process ", PROCESS_LINE, on_process_line),
    Rule("hardware", "H", "Hardware name: ", HARDWARE, on_hardware),
    Rule("summary", "o", "oom-kill:constraint=", SUMMARY, on_summary),
    Rule("killed", None, "Killed process ", KILLED, on_killed),
    Rule("selected", None, "ill process ", SELECTED, on_selected),
    Rule("group", "T", "Tasks in ", GROUP, on_group),
    Rule("exiting", None, "OOM victim ", EXITING, on_exiting),
    Rule("reaped", "o", "oom_reaper: reaped process ", REAPED, on_reaped),
    Rule("suppressed", "o", "oom_kill_process: ", SUPPRESSED, on_suppressed),
    Rule("no-killable", None, "no killable processes", NO_KILLABLE, on_no_killable),
    Rule("panic", None, "Kernel panic - not syncing: ", PANIC, on_panic),
    Rule("sysrq-oom", "Ss", "Manual OOM execution", SYSRQ_OOM, on_sysrq_oom),
    Rule("counter", "mkst", ": usage ", COUNTER, on_counter),
    Rule("stats-header", "M", "Memory cgroup stats for ", STATS_HEADER, on_stats_header),
    Rule("task-in", "T", "Task in ", TASK_IN, on_task_in),
    Rule("task-in-alone", "T", "Task in ", TASK_IN_ALONE, on_task_in_alone),
    Rule("limit-of-alone", "k", "as a result of limit of", LIMIT_OF_ALONE, on_limit_of_alone),
    Rule("tasks-title", "T", "Tasks state (memory values in pages):", TASKS_TITLE, on_tasks_title),
    Rule("task-header", "[", "pid", TASK_HEADER, on_task_header),
    Rule("task-row-headerless", "[", "]", TASK_ROW, on_task_row_headerless),
    Rule("mem-info", "M", "Mem-", MEM_INFO, on_mem_info),
    Rule("zone", "NDHM", " free:", ZONE, on_zone),
    Rule("free-swap", "F", "Free swap", FREE_SWAP, on_free_swap),
    Rule("total-swap", "T", "Total swap", TOTAL_SWAP, on_total_swap),
    # `\d` also matches other scripts' digits: no first-character test
    Rule("pages-ram", None, " RAM", PAGES_RAM, on_pages_ram),
    Rule("pages-reserved", None, " pages reserved", PAGES_RESERVED, on_pages_reserved),
    Rule("cpuset", None, " cpuset=", CPUSET, on_cpuset),
    Rule("arm-trace-frame", "[(", ") from ", ARM_TRACE_FRAME, on_arm_trace_frame),
    Rule("trace-frame", None, "+0x", TRACE_FRAME, on_trace_frame),
    Rule("trace-frame-cut", "[", "[<", TRACE_FRAME_CUT, on_cut_trace_frame),
    Rule("trace-frame-decoded", None, " (", TRACE_FRAME_DECODED, on_trace_frame),
)


def _by_first_character(rules: tuple[Rule, ...]) -> dict[str, tuple[Rule, ...]]:
    """For each character some rule's line starts with, the rules (in order) that may match a
    line starting with it; other lines try only the rules with no first-character test."""
    characters = {first for rule in rules if rule.starts for first in rule.starts}
    table = {
        first: tuple(rule for rule in rules if rule.starts is None or first in rule.starts)
        for first in characters
    }
    table[""] = tuple(rule for rule in rules if rule.starts is None)
    return table


_CANDIDATES = _by_first_character(RULES)
# x86 stack frames (`[<ffffffff817557fe>] dump_stack+0x46/0x58`), a fifth of a report's lines,
# start `[<`: the task table's `[ pid ]` and `[ 123]` cannot, nor `\d+ pages` lines.
_FRAME_CANDIDATES = tuple(
    rule
    for rule in _CANDIDATES["["]
    if rule.name not in ("task-header", "task-row-headerless", "pages-ram", "pages-reserved")
)


def match_rule(text: str) -> tuple[Rule, re.Match[str]] | None:
    """The first rule of RULES matching the stripped line `text`, with its match.

    The same answer as trying every regex in order: a rule is skipped only when the line
    cannot match it (wrong first characters, or its literal is absent).
    """
    first = text[:1]
    if first == "[":
        candidates = _FRAME_CANDIDATES if text[1:2] == "<" else _CANDIDATES["["]
    else:
        candidates = _CANDIDATES.get(first)
        if candidates is None:
            candidates = _CANDIDATES[""]
    for rule in candidates:
        if rule.needle in text:
            m = rule.pattern.match(text)
            if m:
                return rule, m
    return None
