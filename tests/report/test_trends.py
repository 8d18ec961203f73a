from datetime import UTC, datetime, timedelta

from oom_enricher.report.tables import host_list, report_tables, summary
from oom_enricher.report.trends import ReportOptions, build_report
from tests.report.fleet import AAA, MIB, POD, WORKER, fleet_documents


def test_totals_and_rankings():
    report = build_report(fleet_documents())
    assert report["totals"] == {
        "kills": 9,
        "processes_killed": 11,
        "hosts": 4,
        "cgroups": 4,
        "incomplete_reports": 0,
        "undated_documents_skipped": 0,
    }
    assert [(r["key"], r["kills"]) for r in report["by_host"]] == [
        ("web-1", 3),
        ("db-1", 2),
        ("node-1", 2),
        ("web-2", 2),
    ]
    assert [(r["key"], r["kills"]) for r in report["by_scope"]] == [("memcg", 7), ("global", 2)]
    assert [(r["key"], r["kills"]) for r in report["by_cluster"]] == [("prod", 2)]
    assert [(r["key"], r["kills"]) for r in report["by_namespace"]] == [("shop", 2)]
    # postgres died twice in one event: the event counts once for postgres
    assert [(r["key"], r["kills"]) for r in report["by_victim"]] == [
        ("java", 3),
        ("node", 2),
        ("postgres", 2),
        ("python3", 2),
        ("psql", 1),
    ]
    assert [(r["kind"], r["key"], r["kills"]) for r in report["by_workload"]] == [
        ("container", "aaa111aaa111", 3),
        ("pod", "5931aa75-4603-4e65-b552-7c71cf55cfb5", 2),
        ("unit", "worker.service", 2),
    ]


def test_daily_and_weekly_changes():
    report = build_report(fleet_documents())
    daily = report["daily"]
    assert daily[0] == {
        "date": "2026-10-05",
        "kills": 2,
        "change": None,
        "change_pct": None,
        "by_scope": {"memcg": 2},
    }
    assert len(daily) == 16  # 5th..20th, empty days included
    assert daily[1]["kills"] == 0 and daily[1]["change"] == -2 and daily[1]["change_pct"] == -100.0
    assert daily[4] == {
        "date": "2026-10-09",
        "kills": 1,
        "change": 0,
        "change_pct": 0.0,
        "by_scope": {"global": 1},
    }
    assert [(w["week"], w["kills"], w["change"], w["change_pct"]) for w in report["weekly"]] == [
        ("2026-W41", 5, None, None),
        ("2026-W42", 3, -2, -40.0),
        ("2026-W43", 1, None, None),  # the documents cover Monday and Tuesday of it only
    ]
    assert [w["partial"] for w in report["weekly"]] == [False, False, True]


def test_repeat_offenders_need_a_second_kill_within_a_day():
    offenders = build_report(fleet_documents())["repeat_offenders"]
    assert [
        (o["host"], o["cgroup"], o["kills"], o["repeats_within_day"], o["shortest_gap_seconds"])
        for o in offenders
    ] == [
        ("web-1", AAA, 3, 1, 10 * 3600),
        ("web-2", WORKER, 2, 1, 23 * 3600),
    ]  # the pod (26 h apart) and db-1 (11 days apart) are not repeats


def test_limit_deaths_carry_their_limits():
    deaths = build_report(fleet_documents())["limit_deaths"]
    assert [(d["cgroup"], d["kills"], d["limits"], d["max_usage_ratio"]) for d in deaths] == [
        (AAA, 3, [{"limit_hit": "memory", "limit_bytes": [256 * MIB]}], 1.0),
        (POD, 2, [{"limit_hit": "memory", "limit_bytes": [512 * MIB]}], 0.9766),
        (WORKER, 2, [{"limit_hit": "memory+swap", "limit_bytes": [1024 * MIB]}], 1.0),
    ]


def test_worst_incidents_rank_by_victims_then_memory():
    worst = build_report(fleet_documents())["worst_incidents"]
    assert [w["event_id"] for w in worst[:3]] == ["fleet-005", "fleet-009", "fleet-004"]
    assert worst[0]["processes_killed"] == 3
    assert worst[0]["rss_released_bytes"] == (3000 + 10 + 5 + 3) * MIB
    assert worst[0]["explanation"] == "postgres was killed (5)"


def test_period_bounds_filter_documents():
    options = ReportOptions(
        since=datetime(2026, 10, 8, tzinfo=UTC), until=datetime(2026, 10, 16, tzinfo=UTC)
    )
    report = build_report(fleet_documents(), options)
    assert report["totals"]["kills"] == 4  # 8th, 9th, 13th, 15th
    assert report["period"]["from"] == "2026-10-08T00:00:00Z"
    assert report["period"]["to"] == "2026-10-16T00:00:00Z"


def test_dotted_keys_and_undated_documents():
    docs = [
        {"@timestamp": "2026-10-05T10:00:00Z", "host.name": "h", "oom.scope": "global"},
        {"host.name": "h"},
    ]
    report = build_report(docs)
    assert report["by_host"] == [{"key": "h", "kills": 1, "share_pct": 100.0}]
    assert report["totals"]["undated_documents_skipped"] == 1
    assert build_report([])["daily"] == []


def test_documents_without_wall_clock_are_in_no_series_and_counted():
    """dmesg without -T, kmsg, bare text: no @timestamp; the read time is not the kill's."""
    docs = [
        *fleet_documents(),
        {"event": {"created": "2026-10-20T10:00:00.123Z"}, "host": {"name": "h"}},
        # in Elasticsearch the ingest pipeline stamps such a document with its ingest time
        {"@timestamp": "2026-10-20T11:00:00Z", "event": {"ingested": "2026-10-20T11:00:00Z"}},
    ]
    report = build_report(docs)
    assert report["totals"]["kills"] == 9
    assert report["totals"]["undated_documents_skipped"] == 2
    assert sum(d["kills"] for d in report["daily"]) == 9
    assert report["headline"]["last"]["kills"] == 3  # 14th-20th: 15th, 16th, 20th
    assert report["period"]["last_kill"] == "2026-10-20T14:00:00Z"
    assert ("Documents without wall-clock time, left out", "2") in summary(report)


def _rising(days: int = 30) -> list[dict]:
    """Kills rising over 30 days ending on a Monday: ISO weeks hold 23, 34, 45, 63 kills
    and the last week one day only."""
    docs, start, seq = [], datetime(2026, 10, 6, tzinfo=UTC), 0  # a Tuesday
    for day in range(days):
        for _ in range(3 + day // 3):
            seq += 1
            ts = start + timedelta(days=day, minutes=seq)
            docs.append({"@timestamp": ts.isoformat().replace("+00:00", "Z"), "event.id": str(seq)})
    return docs


def test_headline_compares_the_last_7_days_with_the_7_before():
    report = build_report(_rising())
    weekly = [(w["kills"], w["partial"]) for w in report["weekly"]]
    assert weekly[-1][1] and weekly[0][1]  # first and last week partly covered
    head = report["headline"]
    assert head["last"] == {
        "from": "2026-10-29T00:00:00Z",
        "to": "2026-11-05T00:00:00Z",
        "kills": 7 * 3 + sum(d // 3 for d in range(23, 30)),
    }
    assert head["previous"]["kills"] == 7 * 3 + sum(d // 3 for d in range(16, 23))
    assert head["change"] == head["last"]["kills"] - head["previous"]["kills"] > 0
    label = dict(summary(report))["Last 7 days vs the 7 before"]
    assert (
        label == f"{head['last']['kills']} vs {head['previous']['kills']}: +{head['change']} "
        f"(+{head['change_pct']}%)"
    )


def test_headline_with_less_than_14_days_gives_no_change():
    head = build_report(_rising(10))["headline"]
    assert head["previous"]["partial"] and head["change"] is None


def test_capped_series_say_so_on_the_page():
    report = build_report(_rising(), ReportOptions(max_days=7, max_weeks=2))
    tables = {t.key: t for t in report_tables(report)}
    before = report["series_limits"]["kills_before_daily"]
    assert before + sum(d["kills"] for d in report["daily"]) == report["totals"]["kills"]
    assert f"Only the last 7 days are listed: {before} earlier kill(s)" in tables["daily"].note
    weeks_before = report["series_limits"]["kills_before_weekly"]
    assert weeks_before + sum(w["kills"] for w in report["weekly"]) == report["totals"]["kills"]
    assert f"{weeks_before} earlier kill(s) are in the totals only" in tables["weekly"].note


def test_usage_ratio_is_a_percentage_and_host_lists_are_short():
    docs = fleet_documents()
    report = build_report(docs)
    tables = {t.key: t for t in report_tables(report)}
    assert tables["limit_deaths"].headers[-1] == "Max usage of the limit"
    assert [row[-1] for row in tables["limit_deaths"].rows] == ["100.0%", "97.7%", "100.0%"]
    hosts = [f"host-{i:02d}.example-long-name.internal" for i in range(20)]
    assert host_list(hosts) == ", ".join(hosts[:3]) + " and 17 more"
