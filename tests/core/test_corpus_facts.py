"""Every fact a careful reader takes from each real report, checked against `parse`."""

from __future__ import annotations

import pytest

from oom_enricher.skimming.skim_files import skim_documents
from tests.corpus_cases import CorpusCase, corpus_cases

CASES = corpus_cases()


def _main_document(docs: list[dict], facts: dict) -> dict:
    """The document of the file's main event (a file may hold the edge of another one)."""
    killed = [victim["pid"] for victim in facts.get("killed") or []]
    trigger = facts.get("trigger") or {}
    for doc in docs:
        pids = [victim["pid"] for victim in doc["oom"]["victims"]]
        if killed and pids[:1] == killed[:1]:
            return doc
    selected = (facts.get("selected") or {}).get("pid")
    for doc in docs:
        if not killed and selected and doc["oom"]["selected"]["pid"] == selected:
            return doc
    for doc in docs:
        if not killed and trigger.get("pid") and doc["oom"]["trigger"]["pid"] == trigger["pid"]:
            return doc
    for doc in docs:
        if not killed and trigger.get("comm") and doc["oom"]["trigger"]["name"] == trigger["comm"]:
            return doc
    return docs[0]


def container_hint(doc: dict) -> str | None:
    pod = doc.get("kubernetes", {}).get("pod", {}).get("uid")
    container = doc.get("container", {})
    unit = doc.get("systemd", {}).get("unit")
    if pod:
        return f"k8s-pod:{pod}"
    if container.get("runtime") == "lxc":
        return f"lxc:{container['id']}"
    if container.get("id"):
        return f"docker:{container['id']}"
    if unit:
        return f"systemd:{unit}"
    return None


def _counter_expectation(expected: dict | None) -> dict | None:
    if expected is None:
        return None
    unlimited = expected["limit_kb"] == "unlimited"
    return {
        "usage_bytes": expected["usage_kb"] * 1024,
        "limit_bytes": None if unlimited else expected["limit_kb"] * 1024,
        "failcnt": expected["failcnt"],
        "unlimited": unlimited,
    }


def _kb(value):
    return None if value is None else value * 1024


@pytest.fixture(scope="module", params=CASES, ids=[case.name for case in CASES])
def parsed(request) -> tuple[CorpusCase, list[dict], dict]:
    case: CorpusCase = request.param
    docs = list(skim_documents([str(case.log)]))
    assert docs, f"{case.name}: no document"
    return case, docs, _main_document(docs, case.facts)


def test_event_count(parsed):
    case, docs, _ = parsed
    assert len(docs) == case.facts["events_in_file"]


def test_kernel_and_hardware(parsed):
    case, _, doc = parsed
    assert doc["host"].get("os", {}).get("kernel") == case.facts["kernel"]
    if "hardware" in case.facts:
        assert doc["host"].get("hardware") == case.facts["hardware"]


def test_scope_version_limit(parsed):
    case, _, doc = parsed
    oom = doc["oom"]
    assert oom["scope"] == case.facts["scope"]
    assert oom["cgroup"]["version"] == case.facts["cgroup_version"]
    assert oom["limit_hit"] == case.facts["limit_hit"]


def test_trigger(parsed):
    case, _, doc = parsed
    expected = case.facts["trigger"] or {}
    trigger = doc["oom"]["trigger"]
    assert trigger["name"] == expected.get("comm")
    assert trigger["pid"] == expected.get("pid")
    for key, field in (("gfp_mask", "gfp_mask"), ("order", "order"), ("cpu", "cpu")):
        if key in expected:
            assert trigger[field] == expected[key]
    if "oom_score_adj" in expected:
        assert trigger["oom_score_adj"] == expected["oom_score_adj"]


def test_selected(parsed):
    case, _, doc = parsed
    expected = case.facts["selected"]
    selected = doc["oom"]["selected"]
    if expected is None:
        assert selected["pid"] is None
    else:
        assert (selected["pid"], selected["name"], selected["score"]) == (
            expected["pid"],
            expected["name"],
            expected["score"],
        )
    if "selected_is_thread" in case.facts:
        assert doc["oom"]["selected_is_thread"] is case.facts["selected_is_thread"]
    if "selected_tgid" in case.facts:
        assert selected["tgid"] == case.facts["selected_tgid"]
    assert doc["oom"]["sacrificed_child"] is case.facts["sacrificed_child"]


def test_victims(parsed):
    case, _, doc = parsed
    expected = [
        {
            "pid": item["pid"],
            "name": item["name"],
            "total_vm_bytes": _kb(item["total_vm_kb"]),
            "anon_rss_bytes": _kb(item["anon_rss_kb"]),
            "file_rss_bytes": _kb(item["file_rss_kb"]),
            "shmem_rss_bytes": _kb(item["shmem_rss_kb"]),
        }
        for item in case.facts["killed"]
    ]
    got = (
        [{key: victim[key] for key in expected[0]} for victim in doc["oom"]["victims"]]
        if expected
        else doc["oom"]["victims"]
    )
    assert got == expected
    if expected:
        assert doc["process"] == {"pid": expected[0]["pid"], "name": expected[0]["name"]}


def test_cgroup_paths(parsed):
    case, _, doc = parsed
    expected = case.facts["cgroup"] or {"task_memcg": None, "oom_memcg": None}
    cgroup = doc["oom"]["cgroup"]
    assert (cgroup["task_path"], cgroup["oom_path"]) == (
        expected["task_memcg"],
        expected["oom_memcg"],
    )


def test_memcg_counters(parsed):
    case, _, doc = parsed
    for name in ("memory", "memsw", "swap", "kmem"):
        assert doc["oom"][name] == _counter_expectation(case.facts[name]), name


def test_memcg_stats(parsed):
    case, _, doc = parsed
    if "memcg_stats_kb" in case.facts:
        expected = {key: value * 1024 for key, value in case.facts["memcg_stats_kb"].items()}
        assert doc["oom"]["memcg_stats"] == expected


def test_task_table(parsed):
    case, _, doc = parsed
    assert doc["oom"]["tasks_count"] == case.facts["task_table_rows"]
    top = case.facts.get("top_consumer")
    if top:
        first = doc["oom"]["top_consumers"][0]
        assert (first["pid"], first["name"]) == (top["pid"], top["name"])
        assert first["rss_bytes"] == top["rss_pages"] * doc["oom"]["page_size"]
        assert first["swap_bytes"] == top["swapents"] * doc["oom"]["page_size"]
    if "page_size" in case.facts:
        assert doc["oom"]["page_size"] == case.facts["page_size"]


def test_container_hint(parsed):
    case, _, doc = parsed
    assert container_hint(doc) == case.facts["container_hint"]


def test_completeness(parsed):
    case, _, doc = parsed
    assert doc["oom"]["complete"] is case.facts["complete"]
    assert (doc["oom"]["incomplete_reason"] is None) is case.facts["complete"]
