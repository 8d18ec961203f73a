from datetime import UTC, datetime

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
        ("2026-W43", 1, -2, -66.7),
    ]


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


def test_documents_without_wall_clock_fall_back_to_read_time():
    docs = [{"event": {"created": "2026-10-05T10:00:00.123Z"}, "host": {"name": "h"}}]
    report = build_report(docs)
    assert report["totals"]["kills"] == 1
    assert report["period"]["first_kill"] == "2026-10-05T10:00:00.123000Z"
