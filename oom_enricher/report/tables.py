"""The report's tables, shared by the HTML and Markdown renderers so both show the same cells."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Table:
    key: str  # the JSON key the rows come from
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    numeric: tuple[int, ...] = ()  # right-aligned column indices
    nowrap: tuple[int, ...] = ()  # columns of names and times: never broken inside one


def human_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def change(row: dict) -> str:
    if row.get("change") is None:
        return "—"
    sign = "+" if row["change"] > 0 else ""
    pct = row.get("change_pct")
    return f"{sign}{row['change']}" + ("" if pct is None else f" ({sign}{pct}%)")


def ratio(value: float | None) -> str:
    """A usage ratio as a percentage of the limit, like the rest of the report."""
    return "—" if value is None else f"{100.0 * value:.1f}%"


MAX_HOSTS_LISTED = 3


def host_list(hosts: list[str]) -> str:
    shown = ", ".join(hosts[:MAX_HOSTS_LISTED])
    more = len(hosts) - MAX_HOSTS_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _week_change(row: dict) -> str:
    return "partial week" if row.get("partial") else change(row)


def _capped(report: dict, kind: str) -> str:
    limits = report.get("series_limits") or {}
    left_out = limits.get(f"kills_before_{kind}", 0)
    if not left_out:
        return ""
    span = f"{limits['max_days']} days" if kind == "daily" else f"{limits['max_weeks']} weeks"
    return f" Only the last {span} are listed: {left_out} earlier kill(s) are in the totals only."


def gap(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m"


def _moved(row: dict) -> bool:
    """A period with kills, or the first quiet one after kills."""
    return bool(row["kills"] or row.get("change"))


def _ranking(report: dict, key: str, title: str, label: str) -> Table:
    rows = [[r["key"], str(r["kills"]), f"{r['share_pct']}%"] for r in report[key]]
    return Table(key, title, [label, "Kills", "Share"], rows, numeric=(1, 2))


def report_tables(report: dict) -> list[Table]:
    tables = [
        Table(
            "weekly",
            "Kills per week",
            ["Week", "Starts", "Kills", "Change vs previous week"],
            [
                [w["week"], w["start"], str(w["kills"]), _week_change(w)]
                for w in report["weekly"]
                if _moved(w)
            ],
            "Quiet weeks after quiet weeks are left out (the chart shows every week); "
            "weeks start on Monday (ISO 8601, UTC); a partial week is one the documents "
            "cover only in part, and is compared with nothing." + _capped(report, "weekly"),
            numeric=(2, 3),
            nowrap=(0, 1),
        ),
        Table(
            "daily",
            "Kills per day",
            ["Day", "Kills", "Change vs previous day"],
            [[d["date"], str(d["kills"]), change(d)] for d in report["daily"] if _moved(d)],
            "Quiet days after quiet days are left out (the chart shows every day); "
            "the change is against the previous calendar day." + _capped(report, "daily"),
            numeric=(1, 2),
            nowrap=(0,),
        ),
        _ranking(report, "by_scope", "By scope", "Scope"),
        _ranking(report, "by_limit_hit", "Which limit was hit", "Limit"),
        _ranking(report, "by_host", "By host", "Host"),
    ]
    if report["by_cluster"]:
        tables.append(_ranking(report, "by_cluster", "By cluster", "Cluster"))
    if report["by_namespace"]:
        tables.append(_ranking(report, "by_namespace", "By namespace", "Namespace"))
    if report["by_kubernetes_workload"]:
        tables.append(
            _ranking(report, "by_kubernetes_workload", "By Kubernetes workload", "Workload")
        )
    tables += [
        _ranking(report, "by_victim", "By victim process", "Process"),
        Table(
            "by_workload",
            "By container, pod or unit",
            ["Kind", "Name", "Kills", "Hosts"],
            [
                [w["kind"], w["key"], str(w["kills"]), host_list(w["hosts"])]
                for w in report["by_workload"]
            ],
            numeric=(2,),
            nowrap=(0,),
        ),
        Table(
            "repeat_offenders",
            "Repeat offenders (same cgroup killed again within a day)",
            ["Host", "Cgroup", "Kills", "Repeats within a day", "Shortest gap", "Last kill"],
            [
                [
                    r["host"] or "—",
                    r["cgroup"],
                    str(r["kills"]),
                    str(r["repeats_within_day"]),
                    gap(r["shortest_gap_seconds"]),
                    r["last_kill"],
                ]
                for r in report["repeat_offenders"]
            ],
            numeric=(2, 3, 4),
            nowrap=(0, 5),
        ),
        Table(
            "limit_deaths",
            "Cgroups that died at their limit most often",
            ["Host", "Cgroup", "Kills", "Limits", "Max usage of the limit"],
            [
                [
                    r["host"] or "—",
                    r["cgroup"],
                    str(r["kills"]),
                    "; ".join(
                        f"{lim['limit_hit']}: "
                        + ", ".join(human_bytes(b) for b in lim["limit_bytes"])
                        for lim in r["limits"]
                    )
                    or "—",
                    ratio(r["max_usage_ratio"]),
                ]
                for r in report["limit_deaths"]
            ],
            numeric=(2, 4),
            nowrap=(0,),
        ),
        Table(
            "worst_incidents",
            "Worst incidents",
            [
                "Time",
                "Host",
                "Victims",
                "Killed",
                "RSS released",
                "Limit",
                "Usage of the limit",
                "Explanation",
            ],
            [
                [
                    w["timestamp"],
                    w["host"] or "—",
                    ", ".join(w["victims"]) or "—",
                    str(w["processes_killed"]),
                    human_bytes(w["rss_released_bytes"]),
                    w["limit_hit"] or "—",
                    ratio(w["usage_ratio"]),
                    w["explanation"] or "—",
                ]
                for w in report["worst_incidents"]
            ],
            "Ranked by processes killed, then memory released.",
            numeric=(3, 4, 6),
            nowrap=(0, 1),
        ),
    ]
    return tables


def summary(report: dict) -> list[tuple[str, str]]:
    totals, period = report["totals"], report["period"]
    items = [
        ("Kills", str(totals["kills"])),
        ("Processes killed", str(totals["processes_killed"])),
        ("Hosts", str(totals["hosts"])),
        ("Cgroups", str(totals["cgroups"])),
        ("Repeat offenders", str(len(report["repeat_offenders"]))),
        ("Last 7 days vs the 7 before", headline(report.get("headline"))),
        ("Period", f"{period['from'] or '—'} → {period['to'] or '—'}"),
    ]
    if totals["undated_documents_skipped"]:
        items.append(
            (
                "Documents without wall-clock time, left out",
                str(totals["undated_documents_skipped"]),
            )
        )
    return items


def headline(head: dict | None) -> str:
    """`12 vs 9: +3 (+33.3%)`; a previous span the documents cover only in part gives no
    change."""
    if not head or not head.get("last"):
        return "—"
    last, previous = head["last"]["kills"], head["previous"]
    if previous["partial"]:
        return f"{last} (the 7 days before are covered only in part)"
    return f"{last} vs {previous['kills']}: {change(head)}"
