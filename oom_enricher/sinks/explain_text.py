"""A readable terminal summary of one enriched document."""

from __future__ import annotations

import textwrap

from oom_enricher.enrich.explanation import short_path
from oom_enricher.enrich.sizes import human_bytes

WIDTH = 78
BAR_WIDTH = 40


def render(doc: dict, index: int = 1) -> str:
    oom = doc.get("oom", {})
    lines = [_title(doc, oom, index), ""]
    lines += _facts(doc, oom)
    bar = _usage_bar(oom)
    if bar:
        lines += ["", bar]
    if oom.get("top_consumers"):
        lines += ["", *_consumers(oom)]
    # host and process names carry hyphens: never break a line inside one
    wrapped = textwrap.wrap(
        oom.get("explanation", ""), WIDTH, break_on_hyphens=False, break_long_words=False
    )
    lines += ["", *wrapped]
    return "\n".join(lines) + "\n"


def _title(doc: dict, oom: dict, index: int) -> str:
    victims = oom.get("victims") or []
    who = ", ".join(f"{v['name']} ({v['pid']})" for v in victims[:3])
    if len(victims) > 3:
        who += f" and {len(victims) - 3} more"
    status = "" if oom.get("complete") else "  [incomplete]"
    what = f"killed {who}" if who else "no victim shown"
    title = f"OOM report #{index}: {what}{status}"
    return f"{title}\n{'=' * min(len(title), WIDTH)}"


def _facts(doc: dict, oom: dict) -> list[str]:
    trigger = oom.get("trigger") or {}
    selected = oom.get("selected") or {}
    cgroup = oom.get("cgroup") or {}
    rows = [
        ("when", doc.get("@timestamp")),
        ("host", doc.get("host", {}).get("name")),
        ("kernel", doc.get("host", {}).get("os", {}).get("kernel")),
        ("scope", f"{oom.get('scope')} (limit hit: {oom.get('limit_hit')})"),
        ("container", _container(doc)),
        ("cgroup", short_path(cgroup.get("oom_path")) if cgroup.get("oom_path") else None),
        ("trigger", _named(trigger.get("name"), trigger.get("pid"), trigger.get("gfp_flags"))),
        ("selected", _selected(oom, selected)),
    ]
    return [f"  {label:<10} {value}" for label, value in rows if value]


def _named(name, pid, flags=None) -> str | None:
    if name is None and pid is None:
        return None
    text = f"{name or '?'} ({pid if pid is not None else '?'})"
    return text + (f" allocating {'|'.join(flags)}" if flags else "")


def _selected(oom: dict, selected: dict) -> str | None:
    if not selected.get("pid"):
        return None
    text = f"{selected.get('name')} ({selected['pid']}) score {selected.get('score')}"
    if oom.get("selected_is_thread"):
        text += f", thread of {selected.get('tgid')}"
    if oom.get("sacrificed_child"):
        text += "; its child was killed instead"
    return text


def _container(doc: dict) -> str | None:
    pod = doc.get("kubernetes", {}).get("pod", {})
    container = doc.get("container", {})
    unit = doc.get("systemd", {}).get("unit")
    parts = []
    if pod.get("uid"):
        parts.append(
            f"pod {pod['uid']}" + (f" ({pod['qos_class']})" if pod.get("qos_class") else "")
        )
    if container.get("id"):
        parts.append(f"{container.get('runtime', 'container')} {container['id'][:12]}")
    if unit and not (container.get("id") and container["id"] in unit):
        parts.append(f"unit {unit}")  # a container's own scope unit would only repeat its id
    return ", ".join(parts) or None


def _usage_bar(oom: dict) -> str | None:
    hit = oom.get("limit_hit")
    counter = oom.get({"memory+swap": "memsw"}.get(hit, hit)) if hit else None
    if not counter or not counter.get("limit_bytes"):
        return None
    ratio = counter["usage_bytes"] / counter["limit_bytes"]
    filled = min(int(round(ratio * BAR_WIDTH)), BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return (
        f"  {hit:<12} [{bar}] {human_bytes(counter['usage_bytes'])} of "
        f"{human_bytes(counter['limit_bytes'])} ({ratio:.0%})"
    )


def _consumers(oom: dict) -> list[str]:
    rows = ["  top consumers (resident memory in the task table)"]
    rows.append(f"  {'pid':>8}  {'name':<16} {'rss':>10} {'swap':>10} {'share':>6}")
    for item in oom["top_consumers"]:
        share = f"{item['share_of_usage']:.0%}" if item.get("share_of_usage") is not None else ""
        name = item["name"] or ""  # a row cut before its name keeps only its numbers
        rows.append(
            f"  {item['pid']:>8}  {name[:16]:<16} {human_bytes(item['rss_bytes']):>10}"
            f" {human_bytes(item['swap_bytes']):>10} {share:>6}"
        )
    return rows
