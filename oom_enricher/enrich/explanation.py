"""`oom.explanation`: two to five plain sentences, the way an expert would tell a colleague."""

from __future__ import annotations

import re

from oom_enricher.enrich.sizes import human_bytes

_LONG_HEX = re.compile(r"([0-9a-f]{12})[0-9a-f]{20,}")
_LIMIT_WORDS = {
    "memory": "memory limit",
    "memory+swap": "memory+swap limit",
    "kmem": "kernel-memory (kmem) limit",
    "swap": "swap limit",
}


_RUNTIME_NAMES = {"openvz": "OpenVZ"}


def short_path(path: str | None) -> str:
    return _LONG_HEX.sub(lambda m: m.group(1) + "…", path) if path else ""


def _cgroup_words(path: str | None) -> str:
    return f"cgroup {short_path(path)}" if path else "its memory cgroup"


def explain(doc: dict) -> str:
    oom = doc.get("oom", {})
    sentences = [
        _what_died(doc, oom),
        _why(oom),
        _limit_lowered(oom) or _selection(oom),
        _remedy(oom),
        _completeness(oom),
    ]
    return " ".join(sentence for sentence in sentences if sentence)


def _proc(name: str | None, pid: int | None) -> str:
    return f"{name or 'unknown'} (pid {pid})" if pid is not None else (name or "an unknown process")


def _where(doc: dict, oom: dict) -> str:
    pod = doc.get("kubernetes", {}).get("pod", {}).get("uid")
    container = doc.get("container", {}).get("id")
    runtime = doc.get("container", {}).get("runtime")
    unit = doc.get("systemd", {}).get("unit")
    if pod:
        return f" in Kubernetes pod {pod}" + (f" (container {container[:12]})" if container else "")
    if container:
        return f" in {_RUNTIME_NAMES.get(runtime, runtime) or 'a'} container {container[:12]}"
    if unit:
        return f" in systemd unit {unit}"
    return ""


def _what_died(doc: dict, oom: dict) -> str:
    victims = oom.get("victims") or []
    host = doc.get("host", {}).get("name")
    on_host = f" on {host}" if host else ""
    where = _where(doc, oom)
    panic = _panic_words(oom.get("panic"))
    if not victims:
        if oom.get("no_killable"):
            text = (
                f"The kernel ran out of memory{where}{on_host} and found no process it could kill"
            )
            return text + (f", so the machine panicked{panic}." if oom.get("panic") else ".")
        trigger = (oom.get("trigger") or {}).get("name")
        when = f" when {trigger} could not get memory" if trigger else ""
        if oom.get("panic"):
            # by hand, nothing ran out (the next sentence says so)
            began = "The OOM killer ran" if _forced(oom) else "The kernel ran out of memory"
            return f"{began}{where}{on_host}{when}, and the machine panicked{panic}."
        return (
            f"The kernel OOM killer fired{where}{on_host}{when}, "
            "but the report does not show who was killed."
        )
    first = _proc(victims[0]["name"], victims[0]["pid"])
    then = f" Then the machine panicked{panic}." if oom.get("panic") else ""
    if victims[0].get("named_by") == "summary":
        # the summary is printed when the task is chosen, before the kill (4.19+)
        return (
            f"The kernel OOM killer chose {first}{where}{on_host} to kill, as its oom-kill "
            f"summary line says; the report does not show the kill itself.{then}"
        )
    if len(victims) == 1:
        return f"The kernel OOM killer killed {first}{where}{on_host}.{then}"
    return (
        f"The kernel OOM killer killed {len(victims)} processes{where}{on_host}, "
        f"starting with {first}, because memory.oom.group makes the whole cgroup die together."
        + then
    )


def _panic_words(reason: str | None) -> str:
    """Why the kernel panicked, in the words its panic line gives."""
    if not reason:
        return ""
    if "panic_on_oom" in reason:
        return " instead of killing a process, because vm.panic_on_oom is set"
    if "deadlocked" in reason:
        return " (System is deadlocked on memory)"
    return ""


def _forced(oom: dict) -> bool:
    """A manual OOM (SysRq-f, `echo f > /proc/sysrq-trigger`): `oom.manual`, from the
    header's `order=-1` or SysRq's own `Manual OOM execution` line."""
    return bool(oom.get("manual"))


def _why(oom: dict) -> str:
    if _forced(oom):
        sign = (
            "order=-1 is what a SysRq-f request prints"
            if (oom.get("trigger") or {}).get("order") == -1
            else "SysRq-f, the Manual OOM execution line"
        )
        return (
            f"The OOM killer was started by hand ({sign}): "
            "no allocation failed, so the report does not show that memory ran out."
        )
    hit = oom.get("limit_hit")
    cgroup = oom.get("cgroup") or {}
    if hit in _LIMIT_WORDS:
        counter = oom.get({"memory+swap": "memsw"}.get(hit, hit)) or {}
        cgroup_words = _cgroup_words(cgroup.get("oom_path") or cgroup.get("task_path"))
        limit = human_bytes(counter.get("limit_bytes"))
        return (
            f"The {_LIMIT_WORDS[hit]} of {cgroup_words} ({limit}) "
            f"was reached: usage was {human_bytes(counter.get('usage_bytes'))}."
        )
    if hit == "global":
        return _why_global(oom)
    if oom.get("scope") == "beancounter":
        return (
            "The memory its OpenVZ beancounter allows the container ran out; "
            "the report does not say which beancounter limit."
        )
    if oom.get("scope") == "memcg":
        path = cgroup.get("oom_path") or cgroup.get("task_path")
        if not path:
            return "A memory cgroup limit was hit; the report does not say which cgroup or counter."
        return (
            f"The limit of memory cgroup {short_path(path)} was hit, "
            "but the report does not say which counter."
        )
    return ""


def _limit_lowered(oom: dict) -> str:
    """cgroup v2: writing a memory.max below current usage makes the kernel kill at once."""
    if not oom.get("limit_lowered"):
        return ""
    trigger = oom.get("trigger") or {}
    writer = _proc(trigger.get("name"), trigger.get("pid")) if trigger.get("name") else "a process"
    return (
        f"The limit had just been lowered below the cgroup's usage: {writer} wrote memory.max, "
        "and the kernel reclaims or kills until usage fits the new limit."
    )


def _restricted(oom: dict, nodemask: str | None) -> bool:
    """The allocation's nodemask leaves out some of the machine's memory nodes, as far as the
    report shows: not when the kernel found no constraint (it checks the nodemask against
    every node with memory), nor when the root cpuset or the zones show no other node."""
    nodes = _node_list(nodemask)
    if nodes is None or oom.get("constraint") == "CONSTRAINT_NONE":
        return False
    trigger = oom.get("trigger") or {}
    machine = _node_list(trigger.get("mems_allowed")) if trigger.get("cpuset") == "/" else None
    if machine is not None:  # the root cpuset allows every node
        return not machine <= nodes
    zones = (oom.get("system") or {}).get("zones") or []
    return not zones or any(zone.get("node") not in nodes for zone in zones)


def _node_list(text: str | None) -> set[int] | None:
    """The nodes of a printed node list (`0`, `0-1,3`); None for `(null)` or no list."""
    if not text or not re.fullmatch(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*", text):
        return None
    nodes: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        nodes.update(range(int(low), int(high or low) + 1))
    return nodes


def _why_global(oom: dict) -> str:
    system = oom.get("system") or {}
    scope = oom.get("scope")
    if scope in ("cpuset", "mempolicy"):
        return f"The memory allowed by the task's {scope} ran out, not the whole machine."
    if (oom.get("trigger") or {}).get("gfp_mask") == "0x0":
        # pagefault_out_of_memory (4.x-5.15) passes no allocation's flags
        return (
            "A page fault failed for lack of memory (gfp_mask=0x0, the page fault path's): no "
            "page allocation failed here, so the report does not show the machine's memory "
            "running out."
        )
    ram = system.get("ram_bytes")
    parts = [f"{human_bytes(ram)} of RAM" if ram else "RAM"]
    swap_total = system.get("total_swap_bytes")
    if swap_total == 0:
        parts.append("no swap")
    elif swap_total:
        free_bytes = system.get("free_swap_bytes")
        if free_bytes is not None and free_bytes < 0:  # the kernel's count may dip below 0
            parts.append(f"none of {human_bytes(swap_total)} swap left")
        else:
            parts.append(f"{human_bytes(free_bytes)} of {human_bytes(swap_total)} swap left")
    nodemask = (oom.get("trigger") or {}).get("nodemask")
    if _restricted(oom, nodemask):  # the allocation could use these NUMA nodes only
        text = f"The NUMA nodes this allocation may use (nodemask={nodemask}) ran out of memory, "
        text += "which need not be the whole machine (" + ", ".join(parts) + ")"
    else:
        text = "The whole machine ran out of memory (" + ", ".join(parts) + ")"
    starved = [zone for zone in system.get("zones") or [] if zone["free_bytes"] < zone["min_bytes"]]
    if starved:
        zone = starved[0]
        free, minimum = human_bytes(zone["free_bytes"]), human_bytes(zone["min_bytes"])
        if free == minimum:  # close enough to round alike: show the kernel's own kB
            free, minimum = f"{zone['free_bytes'] // 1024} kB", f"{zone['min_bytes'] // 1024} kB"
        text += f": zone {zone['zone']} had {free} free, below its {minimum} minimum watermark"
    elif not system and not _restricted(oom, nodemask):
        text = "The whole machine ran out of memory; no cgroup limit was involved"
    return text + "."


def _selection(oom: dict) -> str:
    selected = oom.get("selected") or {}
    victims = oom.get("victims") or []
    if not selected.get("pid"):
        return _trigger_sentence(oom)
    details = [f"pid {selected['pid']}"]
    if oom.get("selected_is_thread") and selected.get("tgid"):
        details.append(
            f"a thread of process {selected['tgid']}, so it is not in the task table, "
            "which lists processes"
        )
    text = f"The kernel chose {selected.get('name')} ({', '.join(details)})"
    if oom.get("kill_allocating_task"):
        text += (
            ", the task whose allocation failed, as vm.oom_kill_allocating_task is set (the "
            "score it printed ranks nothing)"
        )
    elif selected.get("score") is not None:
        text += f" with badness score {selected['score']}"
    if oom.get("sacrificed_child") and victims and not oom.get("tasks"):
        # Without the task table a killed pid other than the chosen one is a child it
        # sacrificed or, when a thread was chosen, its process (the kernel names the thread
        # group's first task that still has memory): the text cannot tell them apart.
        return (
            f"{text}, but killed {_proc(victims[0]['name'], victims[0]['pid'])}: a child it "
            "sacrificed (kernels before 5.1 sacrifice a child that has its own memory to spare "
            "the parent) or, if a thread was chosen, the process it belongs to; the report "
            "holds no task table to tell which."
        )
    if victims and victims[0]["pid"] != selected["pid"] and not oom.get("tasks"):
        # an older pid than the chosen one: the thread group's first task (a child is newer)
        return (
            f"{text}, and the kill line names {_proc(victims[0]['name'], victims[0]['pid'])}: "
            "most likely the process of a chosen thread, as the kernel names a thread group "
            "by its first task, older than its other threads; the report holds no task table "
            "to confirm it."
        )
    if oom.get("sacrificed_child") and victims:
        child = _proc(victims[0]["name"], victims[0]["pid"])
        return (
            f"{text}, but killed that process's child {child} instead: kernels before 5.1 "
            f"sacrifice a child that has its own memory to spare the parent, so "
            f"{selected.get('name')} itself was not killed."
        )
    return text + "."


def _trigger_sentence(oom: dict) -> str:
    trigger = oom.get("trigger") or {}
    victims = oom.get("victims") or []
    if not trigger.get("name") or not victims:
        return ""
    if _forced(oom):
        return f"{_proc(trigger['name'], trigger.get('pid'))} only ran the request."
    if trigger.get("pid") is not None and trigger["pid"] == victims[0]["pid"]:
        return f"{trigger['name']} was both the task whose allocation failed and the one killed."
    if trigger.get("pid") in {victim["pid"] for victim in victims}:
        return f"{_proc(trigger['name'], trigger['pid'])}, whose allocation failed, was killed too."
    if trigger["name"] == victims[0]["name"]:
        # a thread shares its process's name and has a pid of its own
        return (
            f"The allocation that failed was made by {_proc(trigger['name'], trigger.get('pid'))}, "
            "a task of the same name as the one killed: the report does not show whether it "
            "is a thread of that process."
        )
    if trigger.get("gfp_mask") == "0x0":
        return (
            f"The page fault was {_proc(trigger['name'], trigger.get('pid'))}'s; the kernel "
            "chooses whom to kill by badness score, not by who ran out."
        )
    return (
        f"The allocation that failed was made by {_proc(trigger['name'], trigger.get('pid'))}; "
        "the kernel chooses whom to kill by badness score, not by who asked for memory."
    )


def _remedy(oom: dict) -> str:
    if not oom.get("sacrificed_child") or oom.get("kill_allocating_task"):
        return ""
    trigger = oom.get("trigger") or {}
    victims = oom.get("victims") or []
    if trigger.get("pid") is not None and trigger["pid"] == victims[0]["pid"]:
        return ""  # the allocating task is the one killed already
    allocating = (
        f", here {_proc(trigger['name'], trigger.get('pid'))}" if trigger.get("name") else ""
    )
    text = (
        "Setting vm.oom_kill_allocating_task=1 changes this for system-wide OOMs: the kernel "
        f"then kills the task whose allocation failed{allocating}, instead of the highest score"
    )
    if oom.get("scope") == "memcg":
        return (
            text + "; a cgroup limit like this one always chooses by score, so raise the "
            "limit or shrink the biggest process."
        )
    return text + "."


def _completeness(oom: dict) -> str:
    if oom.get("complete", True):
        return ""
    reason = (oom.get("incomplete_reason") or "unknown").replace("_", " ")
    return f"Part of the report is missing ({reason}), so some facts are unknown."
