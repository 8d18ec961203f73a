"""A readable terminal summary of one enriched document, fitted to a terminal width.

Lines break only between words: never inside a number and its unit ("400 MiB"), a name or a
path; a path longer than the line is shortened in the middle.
"""

from __future__ import annotations

import re
import textwrap

from oom_enricher.enrich.explanation import short_path
from oom_enricher.enrich.sizes import human_bytes

WIDTH = 80  # when the output is not a terminal
MIN_WIDTH = 40
BAR_WIDTH = 40
LABEL_INDENT = " " * 13  # "  " + a 10-column label + " "
_NBSP = "\u00a0"  # textwrap splits at ASCII white space only
# a number and its unit, "pid N", "score N": one unbreakable unit each
_KEEP_TOGETHER = re.compile(
    r"(?<=\d) (?=(?:[KMGTP]i?B|B|kB|pages?|%)\b)|(?<=\bpid) (?=\d)|(?<=\bscore) (?=\d)"
)


def render(doc: dict, index: int = 1, width: int = WIDTH) -> str:
    width = max(width, MIN_WIDTH)
    oom = doc.get("oom", {})
    lines = [*_title(oom, index, width), ""]
    lines += _facts(doc, oom, width)
    bar = _usage_bar(oom, width)
    if bar:
        lines += ["", bar]
    if oom.get("top_consumers"):
        lines += ["", *_consumers(oom)]
    lines += ["", *wrap(oom.get("explanation", ""), width)]
    return "\n".join(lines) + "\n"


def wrap(text: str, width: int, indent: str = "", first: str = "") -> list[str]:
    """text in lines of at most width columns, broken only between words."""
    words = [shorten_middle(w, width - len(indent)) for w in text.split(" ") if w]
    joined = _KEEP_TOGETHER.sub(_NBSP, " ".join(words))
    lines = textwrap.wrap(
        joined,
        width,
        initial_indent=first,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    )
    return [line.replace(_NBSP, " ") for line in lines]


def shorten_middle(text: str, room: int) -> str:
    """text cut in the middle to room columns; a path keeps its last component whole when
    it fits, and as many leading components as fit."""
    if len(text) <= room:
        return text
    keep = room - 1  # the ellipsis takes one column
    parts = text.split("/")
    if len(parts) > 1 and len(parts[-1]) + 1 <= keep:
        tail, head = "/" + parts[-1], ""
        for part in parts[:-1]:
            if len(head) + len(part) + 1 + len(tail) > keep:
                break
            head += part + "/"
        return f"{head}…{tail}"
    return f"{text[: (keep + 1) // 2]}…{text[len(text) - keep // 2 :]}"


def _title(oom: dict, index: int, width: int) -> list[str]:
    victims = oom.get("victims") or []
    status = "" if oom.get("complete") else "  [incomplete]"
    title = ""
    for shown in range(min(len(victims), 3), -1, -1):
        who = ", ".join(f"{v['name']} ({v['pid']})" for v in victims[:shown])
        if len(victims) > shown:
            more = f"{len(victims) - shown} more"
            who = f"{who} and {more}" if who else f"{len(victims)} processes"
        what = f"killed {who}" if victims else "no victim shown"
        title = f"OOM report #{index}: {what}{status}"
        if len(title) <= width:
            break
    title = shorten_middle(title, width)
    return [title, "=" * len(title)]


def _when(doc: dict) -> str | None:
    """@timestamp, and whether its year was inferred: the report's first line does not
    print it (RFC 3164 and journalctl's short stamps, `dmesg -e`)."""
    stamp = doc.get("@timestamp")
    first = (doc.get("event", {}).get("original") or "").partition("\n")[0]
    if stamp and first and stamp[:4] not in first:
        return f"{stamp} (year inferred: none in the log)"
    return stamp


def _facts(doc: dict, oom: dict, width: int) -> list[str]:
    trigger = oom.get("trigger") or {}
    selected = oom.get("selected") or {}
    cgroup = oom.get("cgroup") or {}
    rows = [
        ("when", _when(doc)),
        ("host", doc.get("host", {}).get("name")),
        ("kernel", doc.get("host", {}).get("os", {}).get("kernel")),
        ("scope", f"{oom.get('scope')} (limit hit: {oom.get('limit_hit')})"),
        ("container", _container(doc)),
        ("cgroup", short_path(cgroup.get("oom_path")) if cgroup.get("oom_path") else None),
        ("trigger", _named(trigger.get("name"), trigger.get("pid"), trigger.get("gfp_flags"))),
        ("selected", _selected(oom, selected)),
    ]
    lines = []
    for label, value in rows:
        if value:
            lines += wrap(str(value), width, LABEL_INDENT, f"  {label:<10} ")
    return lines


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
    if oom.get("sacrificed_child") and oom.get("tasks"):
        text += "; its child was killed instead"
    elif oom.get("sacrificed_child"):  # no table to tell a child from the thread's process
        text += "; another task was killed"
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


def _usage_bar(oom: dict, width: int) -> str | None:
    hit = oom.get("limit_hit")
    counter = oom.get({"memory+swap": "memsw"}.get(hit, hit)) if hit else None
    if not counter or not counter.get("limit_bytes"):
        return None
    ratio = counter["usage_bytes"] / counter["limit_bytes"]
    figures = (
        f"{human_bytes(counter['usage_bytes'])} of "
        f"{human_bytes(counter['limit_bytes'])} ({ratio:.0%})"
    )
    label = f"  {hit:<12} "
    bar_width = max(min(BAR_WIDTH, width - len(label) - len(figures) - 3), 10)
    filled = min(int(round(ratio * bar_width)), bar_width)
    bar = "#" * filled + "." * (bar_width - filled)
    return f"{label}[{bar}] {figures}"


def _consumers(oom: dict) -> list[str]:
    # an incomplete report may lack rows: the ranking is of those it shows
    title = "in the task table)" if oom.get("complete") else "of the rows shown)"
    rows = [f"  top consumers (resident memory {title}"]
    rows.append(f"  {'pid':>8}  {'name':<16} {'rss':>10} {'swap':>10} {'share':>6}")
    for item in oom["top_consumers"]:
        share = f"{item['share_of_usage']:.0%}" if item.get("share_of_usage") is not None else ""
        name = item["name"] or ""  # a row cut before its name keeps only its numbers
        rows.append(
            f"  {item['pid']:>8}  {name[:16]:<16} {human_bytes(item['rss_bytes']):>10}"
            f" {human_bytes(item['swap_bytes']):>10} {share:>6}"
        )
    return rows
