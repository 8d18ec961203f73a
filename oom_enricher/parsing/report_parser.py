"""A report block -> `ReportFacts`, by the rule table in line_rules."""

from __future__ import annotations

import re
from typing import cast

from oom_enricher.model import ReportBlock
from oom_enricher.parsing.facts import ReportFacts
from oom_enricher.parsing.line_rules import (
    MEM_INFO_ITEMS,
    MEMORY_STAT_KEYS,
    PATH_ALONE,
    STATS_V2_ITEM,
    TASK_ROW,
    ZONE_REST,
    ParseState,
    Rule,
    match_rule,
    on_task_row,
    take_plain_row,
)
from oom_enricher.reassembly.markers import is_elision, is_report_shaped


def parse_block(block: ReportBlock) -> ReportFacts:
    facts = ReportFacts()
    state = ParseState()
    for line in block.lines:
        parse_line(facts, state, line.message)
    if state.zone_unended:
        facts.note_missing("truncated_line")  # the report's last line, a zone line cut
    _settle_trigger_comm(facts)
    named = facts.task_memcg is not None or facts.oom_memcg is not None
    _settle_cgroup_paths(facts)
    _note_missing_parts(facts, named)
    return facts


def parse_line(facts: ReportFacts, state: ParseState, message: str) -> None:
    text = message.strip()
    if not text:
        return
    if state.zone_unended:
        state.zone_unended = False
        if ZONE_REST.fullmatch(text):
            return  # the end of the zone line before, on a line of its own
        facts.note_missing("truncated_line")
    if (
        state.in_task_table
        and state.stats_path is None
        and not state.awaiting_limit_path
        and take_plain_row(facts, state, text)
    ):
        return  # what _continues_context does with the row, sooner (no elision is a row)
    if (
        state.stats_path is None
        and not state.awaiting_limit_path
        and not state.in_task_table
        and not state.in_mem_info
    ):
        # No block open (most lines): nothing the line may continue. A line a rule matches
        # is no elision (each rule's literal or regex needs a character no elision has).
        found = match_rule(text)
        if found is None and is_elision(text):
            return
    else:
        if is_elision(text):
            return  # an author's `...` stands for lines left out: it ends no table or block
        found = _continues_context(facts, state, text)
        if found is _CONTINUED:
            return
    if found is not None:
        rule, m = found
        rule.handler(facts, m, state)
        return
    item = STATS_V2_ITEM.match(text)
    if item is None:
        return
    if facts.memcg_stats_v2:
        facts.note_missing("block_interrupted")  # a stats line after its block was ended
    elif item["key"] in MEMORY_STAT_KEYS:
        facts.headless_stats += 1  # a paste that starts inside the stats block


Found = tuple[Rule, re.Match[str]] | None
# What _continues_context answers for a line that continues a block (no rule applies then)
_CONTINUED: Found = cast(Found, ("continued", None))
_NOT_TRIED: Found = cast(Found, ("not tried", None))


def _continues_context(facts: ReportFacts, state: ParseState, text: str) -> Found:
    """Lines whose meaning depends on the line before: v2 stats, split paths, table rows.

    _CONTINUED for such a line, else match_rule(text), found once: a line that ends a block
    is looked up in the rules to tell it from a foreign line, and that answer is kept.
    """
    found = _NOT_TRIED
    if state.stats_path is not None:
        item = STATS_V2_ITEM.match(text)
        if item:
            facts.stats_by_path[state.stats_path][item["key"]] = int(item["value"])
            return _CONTINUED
        found = match_rule(text)
        if _is_foreign(text, found):
            return _CONTINUED  # another driver's line of the same host, printed in between
        state.stats_path = None
    if state.awaiting_limit_path:
        state.awaiting_limit_path = False
        path = PATH_ALONE.match(text)
        if path:
            facts.oom_memcg = facts.oom_memcg or path["path"]
            return _CONTINUED
    if state.in_task_table and facts.task_columns:
        row = TASK_ROW.match(text)
        if row:
            on_task_row(facts, row, state)
            return _CONTINUED
        if found is _NOT_TRIED:
            found = match_rule(text)
        if _is_foreign(text, found):
            return _CONTINUED
        state.in_task_table = False
    if state.in_mem_info and not text.startswith(("Node", "lowmem_reserve", "DMA", "Normal")):
        items = MEM_INFO_ITEMS.findall(text)
        if items and text.split(":", 1)[0].replace("_", "").isalpha():
            for key, value in items:
                facts.mem_info.setdefault(key.lower(), int(value))
            return _CONTINUED
    return match_rule(text) if found is _NOT_TRIED else found


def _is_foreign(text: str, found: Found) -> bool:
    """A line no OOM report prints (`found`: the rule it matches): it interrupts a block
    without ending it."""
    return found is None and not is_report_shaped(text)


def _settle_cgroup_paths(facts: ReportFacts) -> None:
    """With no `Task in` or summary line (a memcg report with no killable process, or those
    lines lost), the first `Memory cgroup stats for` path is the OOM'd cgroup: the kernel
    prints its stats first, then, before 5.3, its children's (the one-line layout). A paste
    that starts at such a line, not after the usage lines, may start at a child's; the
    `key value` layout (5.3+) is printed for the OOM'd cgroup alone."""
    if (
        facts.oom_memcg is None
        and facts.task_memcg is None
        and facts.stats_by_path
        and (facts.counters or facts.memcg_stats_v2)
    ):
        facts.oom_memcg = next(iter(facts.stats_by_path))


def _note_missing_parts(facts: ReportFacts, named: bool) -> None:
    """Parts every report of its kind prints, absent here: the report is not complete.
    `named`: a line named the cgroups (`Task in`, the summary), not only a stats line."""
    # dump_tasks leaves out unkillable tasks: with none killable (a boot-time OOM, before
    # any user task) the header stands alone
    if facts.task_columns and not facts.tasks and not facts.no_killable:
        facts.note_missing("task_rows_missing")
    # dump_stack prints `CPU: ... Comm:` (3.x+) or `Pid: ..., comm:` (2.6) right after the
    # header; 2.6.18 prints only `Call Trace:`, so a trace without either is whole, unless
    # the header shows a later kernel (`oom_score_adj=`, 2.6.36+: `grep kill` kept a frame).
    trigger = facts.trigger
    if (
        trigger.comm is not None
        and trigger.pid is None
        and (not facts.trace_functions or trigger.oom_score_adj is not None)
    ):
        facts.note_missing("cpu_line_missing")
    # after its header every kernel prints a stack trace, then Mem-Info (global) or the memcg
    # usage lines, then (by default) the task table: a header and a kill with none of them
    # between is a paste with its middle left out
    if trigger.comm is not None and not _has_body(facts):
        facts.note_missing("body_missing")
    # show_mem ends with its page counts (`N pages RAM`), printed before the kill
    if facts.has_mem_info and facts.victims and facts.ram_pages is None:
        facts.note_missing("mem_info_cut")
    # show_swap_cache_info prints `Free swap` and `Total swap` together (all kernels)
    if (facts.free_swap_kb is None) != (facts.total_swap_kb is None):
        facts.note_missing("mem_info_cut")
    # between its summary and its swap and page counts show_mem prints every zone of the
    # nodes it shows (`Node 0 DMA32 free:...`, all kernels): counts with no zone before
    # them are a paste with the zones left out
    if facts.has_mem_info and not facts.zones and _past_the_zones(facts):
        facts.note_missing("mem_info_cut")
    # the kernel prints a cgroup's stats right under its `Memory cgroup stats for` line
    if any(not items for items in facts.stats_by_path.values()):
        facts.note_missing("stats_missing")
    # a memcg report that chose a victim names its cgroups (`Task in` before 4.19, the
    # `oom-kill:` summary since): usage lines and a kill without them lost that line
    if facts.counters and facts.victims and not named:
        facts.note_missing("cgroup_line_missing")
    # every kernel prints the cgroup's `memory:` usage first, then memory+swap, kmem, swap
    if facts.counters and "memory" not in facts.counters:
        facts.note_missing("usage_line_missing")
    # v1 on 4.x-5.x prints memory+swap and kmem under it, both always
    v1 = {"memsw", "kmem"} & facts.counters.keys()
    if len(v1) == 1 and _major(facts.kernel) in (4, 5):
        facts.note_missing("usage_line_missing")
    # before 5.0 every kernel prints its choice (`Kill process N (x) score S or sacrifice
    # child`, 2.6.18 `... and children.`) before the kill, unless its kill line is 5.1's,
    # which a vendor kernel took with it (RHEL 8's 4.18: `Out of memory: Killed process`;
    # only a kill line gave a prefix here, with no choice line)
    if (
        facts.selected is None
        and _before_5_0(facts.kernel)
        and _killed(facts)
        and not facts.kill_prefixes
    ):
        facts.note_missing("choice_line_missing")
    # only the root path ends in a slash (`/docker/`: a fixed-width cut inside the path)
    if any(_cut_path(path) for path in (facts.task_memcg, facts.oom_memcg)):
        facts.note_missing("truncated_line")
    # a v1 one-line stats line ends with the LRU lists, `unevictable` last (3.x-5.x)
    for items in facts.stats_by_path.values():
        if facts.stats_unit == "kB" and items and "unevictable" not in items:
            facts.note_missing("truncated_line")


_RELEASE = re.compile(r"(?P<major>\d+)\.\d+")


def _major(release: str | None) -> int | None:
    found = _RELEASE.match(release or "")
    return int(found["major"]) if found else None


def _before_5_0(release: str | None) -> bool:
    major = _major(release)
    return major is not None and major < 5


def _killed(facts: ReportFacts) -> bool:
    return any(victim.source == "killed" for victim in facts.victims)


def _cut_path(path: str | None) -> bool:
    return path is not None and len(path) > 1 and path.endswith("/")


def _past_the_zones(facts: ReportFacts) -> bool:
    return facts.ram_pages is not None or facts.free_swap_kb is not None


def _has_body(facts: ReportFacts) -> bool:
    return bool(
        facts.trace_functions
        or facts.has_mem_info
        or facts.counters
        or facts.stats_by_path
        or facts.task_columns
        or facts.tasks
    )


def _settle_trigger_comm(facts: ReportFacts) -> None:
    """Take the trigger's name from a line that names it whole when the header's carries debris.

    The header's `<comm> invoked oom-killer` is the first line of a paste and picks up stray
    characters (`_beam.smp`, `617.319540] Web Content` when the `[` of the stamp was lost); the
    CPU and cpuset lines print the same `current->comm`.
    """
    trigger = facts.trigger
    header = trigger.comm
    if not header:
        return
    if is_elision(header):
        # the author put `...` for the name: a line that prints it whole, or none
        trigger.comm = trigger.cpu_comm or trigger.cpuset_comm
        facts.note_missing("elided")
        return
    for witness in (trigger.cpu_comm, trigger.cpuset_comm):
        if witness and header != witness and header.endswith(witness):
            trigger.comm = witness
            return
    if len(header.encode("utf-8", "surrogateescape")) > _TASK_COMM_LEN:
        trigger.comm = _strip_prefix_debris(header)


# A task name is at most 15 bytes (TASK_COMM_LEN 16): a longer one carries a prefix the
# normalizer could not take apart, which ends in one of these.
_TASK_COMM_LEN = 15
_DEBRIS_END = re.compile(r"(?:\]|:|>)\s+")


def _strip_prefix_debris(name: str) -> str:
    for end in _DEBRIS_END.finditer(name):
        rest = name[end.end() :]
        if rest and len(rest.encode("utf-8", "surrogateescape")) <= _TASK_COMM_LEN:
            return rest
    return name
