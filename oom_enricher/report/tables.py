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
    return "—" if value is None else f"{value:.3f}"


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
                [w["week"], w["start"], str(w["kills"]), change(w)]
                for w in report["weekly"]
                if _moved(w)
            ],
            "Quiet weeks after quiet weeks are left out (the chart shows every week); "
            "weeks start on Monday (ISO 8601, UTC).",
            numeric=(2, 3),
        ),
        Table(
            "daily",
            "Kills per day",
            ["Day", "Kills", "Change vs previous day"],
            [[d["date"], str(d["kills"]), change(d)] for d in report["daily"] if _moved(d)],
            "Quiet days after quiet days are left out (the chart shows every day); "
            "the change is against the previous calendar day.",
            numeric=(1, 2),
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
                [w["kind"], w["key"], str(w["kills"]), ", ".join(w["hosts"])]
                for w in report["by_workload"]
            ],
            numeric=(2,),
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
        ),
        Table(
            "limit_deaths",
            "Cgroups that died at their limit most often",
            ["Host", "Cgroup", "Kills", "Limits", "Max usage ratio"],
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
                "Usage ratio",
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
        ),
    ]
    return tables


def summary(report: dict) -> list[tuple[str, str]]:
    totals, period = report["totals"], report["period"]
    weekly = report["weekly"]
    items = [
        ("Kills", str(totals["kills"])),
        ("Processes killed", str(totals["processes_killed"])),
        ("Hosts", str(totals["hosts"])),
        ("Cgroups", str(totals["cgroups"])),
        ("Repeat offenders", str(len(report["repeat_offenders"]))),
        ("Last week vs previous", change(weekly[-1]) if weekly else "—"),
        ("Period", f"{period['from'] or '—'} → {period['to'] or '—'}"),
    ]
    if totals["undated_documents_skipped"]:
        items.append(("Undated documents skipped", str(totals["undated_documents_skipped"])))
    return items
