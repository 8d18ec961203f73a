"""Fleet trend numbers from enriched OOM documents.

The result is one plain dict (the JSON output); the HTML and Markdown renderers only lay it
out, so every format carries the same numbers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from oom_enricher.report import fields as f

REPEAT_WINDOW = timedelta(days=1)
HEADLINE_SPAN = timedelta(days=7)
REPORT_VERSION = 2


@dataclass(frozen=True, slots=True)
class ReportOptions:
    since: datetime | None = None  # inclusive; None: from the first document
    until: datetime | None = None  # exclusive; None: after the last document
    top: int = 10  # rows in each ranking table
    worst: int = 10  # rows in the worst-incidents table
    max_days: int = 62  # the daily series shows at most this many trailing days
    max_weeks: int = 26


def build_report(docs: Iterable[dict], options: ReportOptions | None = None) -> dict:
    options = options or ReportOptions()
    dated: list[tuple[datetime, dict]] = []
    undated = 0
    for doc in docs:
        ts = f.timestamp(doc)
        if ts is None:
            undated += 1
        elif (options.since is None or ts >= options.since) and (
            options.until is None or ts < options.until
        ):
            dated.append((ts, doc))
    dated.sort(key=lambda pair: (pair[0], str(f.get(pair[1], "event.id") or "")))
    docs_in_period = [doc for _, doc in dated]
    coverage = _coverage(dated, options)
    daily = _daily(dated, options.max_days)
    weekly = _weekly(dated, options.max_weeks, coverage)
    return {
        "report_version": REPORT_VERSION,
        "period": _period(dated, options),
        "totals": _totals(docs_in_period, undated),
        "headline": _headline(dated, coverage),
        "series_limits": _series_limits(dated, daily, weekly, options),
        "daily": daily,
        "weekly": weekly,
        "by_scope": _ranking(docs_in_period, lambda d: [f.get(d, "oom.scope") or "unknown"], 0),
        "by_limit_hit": _ranking(
            docs_in_period, lambda d: [f.get(d, "oom.limit_hit") or "unknown"], 0
        ),
        "by_host": _ranking(docs_in_period, lambda d: _one(f.get(d, "host.name")), options.top),
        "by_cluster": _ranking(docs_in_period, lambda d: _one(f.cluster(d)), options.top),
        "by_namespace": _ranking(docs_in_period, lambda d: _one(f.namespace(d)), options.top),
        "by_workload": _workloads(docs_in_period, options.top),
        "by_kubernetes_workload": _ranking(
            docs_in_period, lambda d: _one(f.kubernetes_workload(d)), options.top
        ),
        "by_victim": _ranking(
            docs_in_period, lambda d: sorted(set(f.victim_names(d))), options.top
        ),
        "repeat_offenders": _repeat_offenders(dated, options.top),
        "limit_deaths": _limit_deaths(docs_in_period, options.top),
        "worst_incidents": _worst(dated, options.worst),
    }


def _one(value: object) -> list[str]:
    return [str(value)] if value else []


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _period(dated: list[tuple[datetime, dict]], options: ReportOptions) -> dict:
    first = dated[0][0] if dated else None
    last = dated[-1][0] if dated else None
    start = options.since or first
    end = options.until or last
    return {
        "from": _iso(start) if start else None,
        "to": _iso(end) if end else None,
        "first_kill": _iso(first) if first else None,
        "last_kill": _iso(last) if last else None,
    }


def _totals(docs: list[dict], undated: int) -> dict:
    return {
        "kills": len(docs),
        "processes_killed": sum(f.victims_count(d) for d in docs),
        "hosts": len({f.get(d, "host.name") for d in docs if f.get(d, "host.name")}),
        "cgroups": len({f.cgroup(d) for d in docs if f.cgroup(d)}),
        "incomplete_reports": sum(1 for d in docs if f.get(d, "oom.complete") is False),
        "undated_documents_skipped": undated,
    }


def _coverage(
    dated: list[tuple[datetime, dict]], options: ReportOptions
) -> tuple[datetime, datetime] | None:
    """[start, end) of the time the documents cover: the window asked for, else the UTC days
    from the first kill's to the last kill's."""
    if not dated:
        return None
    first_day = datetime.combine(dated[0][0].astimezone(UTC).date(), datetime.min.time(), UTC)
    last_day = datetime.combine(dated[-1][0].astimezone(UTC).date(), datetime.min.time(), UTC)
    return options.since or first_day, options.until or last_day + timedelta(days=1)


def _headline(dated: list[tuple[datetime, dict]], coverage) -> dict:
    """Kills in the last 7 days of the covered time against the 7 days before: equal spans.
    When the covered time is shorter than 14 days, the previous span is partial and no
    change is given."""
    if coverage is None:
        return {"span_days": 7, "last": None, "previous": None, "change": None, "change_pct": None}
    start, end = coverage
    middle, begin = end - HEADLINE_SPAN, end - 2 * HEADLINE_SPAN
    last = sum(1 for ts, _ in dated if middle <= ts < end)
    previous = sum(1 for ts, _ in dated if begin <= ts < middle)
    partial = begin < start
    return {
        "span_days": 7,
        "last": {"from": _iso(middle), "to": _iso(end), "kills": last},
        "previous": {
            "from": _iso(begin),
            "to": _iso(middle),
            "kills": previous,
            "partial": partial,
        },
        **_change(last, None if partial else previous),
    }


def _series_limits(dated, daily: list[dict], weekly: list[dict], options: ReportOptions) -> dict:
    """How many kills fall before the first day / week the series show (they are capped)."""
    first_day = daily[0]["date"] if daily else None
    first_week = weekly[0]["start"] if weekly else None

    def before(bound: str | None) -> int:
        return sum(1 for ts, _ in dated if bound and ts.astimezone(UTC).date().isoformat() < bound)

    return {
        "max_days": options.max_days,
        "kills_before_daily": before(first_day),
        "max_weeks": options.max_weeks,
        "kills_before_weekly": before(first_week),
    }


def _change(current: int, previous: int | None) -> dict:
    if previous is None:
        return {"change": None, "change_pct": None}
    pct = None if previous == 0 else round(100.0 * (current - previous) / previous, 1)
    return {"change": current - previous, "change_pct": pct}


def _daily(dated: list[tuple[datetime, dict]], max_days: int) -> list[dict]:
    if not dated:
        return []
    counts = Counter(ts.astimezone(UTC).date() for ts, _ in dated)
    scopes: dict[date, Counter[str]] = defaultdict(Counter)
    for ts, doc in dated:
        scopes[ts.astimezone(UTC).date()][f.get(doc, "oom.scope") or "unknown"] += 1
    last = max(counts)
    first = max(min(counts), last - timedelta(days=max_days - 1))
    rows = []
    day = first - timedelta(days=1)
    previous = counts.get(day, 0) if day >= min(counts) else None
    day = first
    while day <= last:
        kills = counts.get(day, 0)
        rows.append(
            {
                "date": day.isoformat(),
                "kills": kills,
                **_change(kills, previous),
                "by_scope": dict(sorted(scopes[day].items())),
            }
        )
        previous = kills
        day += timedelta(days=1)
    return rows


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weekly(dated: list[tuple[datetime, dict]], max_weeks: int, coverage=None) -> list[dict]:
    if not dated:
        return []
    counts = Counter(_week_start(ts.astimezone(UTC).date()) for ts, _ in dated)
    last = max(counts)
    first = max(min(counts), last - timedelta(weeks=max_weeks - 1))
    before = first - timedelta(weeks=1)
    previous = counts.get(before, 0) if before >= min(counts) else None
    rows, week = [], first
    while week <= last:
        kills = counts.get(week, 0)
        iso = week.isocalendar()
        partial = _partial_week(week, coverage)
        rows.append(
            {
                "week": f"{iso.year}-W{iso.week:02d}",
                "start": week.isoformat(),
                "kills": kills,
                "partial": partial,
                # a week the documents cover only in part compares with nothing
                **_change(kills, None if partial else previous),
            }
        )
        previous = None if partial else kills
        week += timedelta(weeks=1)
    return rows


def _partial_week(week: date, coverage) -> bool:
    if coverage is None:
        return False
    start = datetime.combine(week, datetime.min.time(), UTC)
    return start < coverage[0] or start + timedelta(weeks=1) > coverage[1]


def _ranking(docs: list[dict], keys_of, top: int) -> list[dict]:
    """Kills per key, most first; a document counts once per distinct key it names."""
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(set(keys_of(doc)))
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    total = len(docs)
    return [
        {"key": key, "kills": n, "share_pct": round(100.0 * n / total, 1) if total else 0.0}
        for key, n in (ordered[:top] if top else ordered)
    ]


def _workloads(docs: list[dict], top: int) -> list[dict]:
    counts: Counter[tuple[str, str]] = Counter()
    hosts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for doc in docs:
        key = f.workload(doc)
        if key:
            counts[key] += 1
            if f.get(doc, "host.name"):
                hosts[key].add(f.get(doc, "host.name"))
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [
        {"kind": kind, "key": name, "kills": n, "hosts": sorted(hosts[(kind, name)])}
        for (kind, name), n in ordered
    ]


def _repeat_offenders(dated: list[tuple[datetime, dict]], top: int) -> list[dict]:
    """Cgroups (per host) killed again within REPEAT_WINDOW of their previous kill."""
    times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for ts, doc in dated:
        path = f.cgroup(doc)
        if path:
            times[(f.get(doc, "host.name") or "", path)].append(ts)
    rows = []
    for (host, path), stamps in times.items():
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        repeats = sum(1 for gap in gaps if gap <= REPEAT_WINDOW)
        if repeats:
            rows.append(
                {
                    "host": host or None,
                    "cgroup": path,
                    "kills": len(stamps),
                    "repeats_within_day": repeats,
                    "shortest_gap_seconds": int(min(gaps).total_seconds()),
                    "first_kill": _iso(stamps[0]),
                    "last_kill": _iso(stamps[-1]),
                }
            )
    rows.sort(key=lambda r: (-r["repeats_within_day"], -r["kills"], r["host"] or "", r["cgroup"]))
    return rows[:top]


def _limit_deaths(docs: list[dict], top: int) -> list[dict]:
    """Cgroups whose own limit was reached, most kills first, with the limits seen."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for doc in docs:
        hit = f.get(doc, "oom.limit_hit")
        path = f.get(doc, "oom.cgroup.oom_path") or f.cgroup(doc)
        if hit in f.LIMIT_FIELD_BY_HIT and path:
            groups[(f.get(doc, "host.name") or "", path)].append(doc)
    rows = []
    for (host, path), members in groups.items():
        limits: dict[str, set[int]] = defaultdict(set)
        ratios = []
        for doc in members:
            hit = f.get(doc, "oom.limit_hit")
            limit = f.get(doc, f.LIMIT_FIELD_BY_HIT[hit])
            if isinstance(limit, int):
                limits[hit].add(limit)
            if isinstance(f.get(doc, "oom.usage_ratio"), int | float):
                ratios.append(float(f.get(doc, "oom.usage_ratio")))
        rows.append(
            {
                "host": host or None,
                "cgroup": path,
                "kills": len(members),
                "limits": [
                    {"limit_hit": hit, "limit_bytes": sorted(values)}
                    for hit, values in sorted(limits.items())
                ],
                "max_usage_ratio": round(max(ratios), 4) if ratios else None,
            }
        )
    rows.sort(key=lambda r: (-r["kills"], r["host"] or "", r["cgroup"]))
    return rows[:top]


def _severity(doc: dict) -> tuple[int, int, float]:
    ratio = f.get(doc, "oom.usage_ratio")
    return (
        f.victims_count(doc),
        f.victim_rss_bytes(doc),
        float(ratio) if isinstance(ratio, int | float) else 0.0,
    )


def _worst(dated: list[tuple[datetime, dict]], limit: int) -> list[dict]:
    """Most processes killed first, then most memory released."""
    ranked = sorted(dated, key=lambda pair: (_severity(pair[1]), pair[0]), reverse=True)[:limit]
    rows = []
    for ts, doc in ranked:
        victims = f.victim_names(doc)
        rows.append(
            {
                "timestamp": _iso(ts),
                "event_id": f.get(doc, "event.id"),
                "host": f.get(doc, "host.name"),
                "scope": f.get(doc, "oom.scope"),
                "limit_hit": f.get(doc, "oom.limit_hit"),
                "cgroup": f.cgroup(doc),
                "victims": victims,
                "processes_killed": f.victims_count(doc),
                "rss_released_bytes": f.victim_rss_bytes(doc),
                "usage_ratio": f.get(doc, "oom.usage_ratio"),
                "explanation": f.get(doc, "oom.explanation"),
            }
        )
    return rows
