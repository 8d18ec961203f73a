"""A small hand-built fleet of OOM documents that follows the document contract.

Known timeline (UTC), so tests can assert exact numbers:

| day        | time  | host   | what                                        |
|------------|-------|--------|---------------------------------------------|
| 2026-10-05 | 10:00 | web-1  | docker aaa, memory limit 256 MiB, java       |
| 2026-10-05 | 20:00 | web-1  | docker aaa again (10 h later: repeat)        |
| 2026-10-07 | 03:00 | web-2  | worker.service, memory+swap 1 GiB, python3   |
| 2026-10-08 | 02:00 | web-2  | worker.service again (23 h later: repeat)    |
| 2026-10-09 | 12:00 | db-1   | global OOM, postgres + 2 children killed     |
| 2026-10-13 | 08:00 | web-1  | docker aaa (4 days later: not a repeat)      |
| 2026-10-15 | 09:00 | node-1 | k8s pod, prod/shop, memory 512 MiB, node     |
| 2026-10-16 | 11:00 | node-1 | same pod (26 h later: not a repeat), node    |
| 2026-10-20 | 14:00 | db-1   | global OOM, postgres                         |
"""

from __future__ import annotations

MIB = 1024 * 1024
AAA = "/docker/aaa111aaa111aaa111aaa111aaa111aaa111aaa111aaa111aaa111aaa1"
WORKER = "/system.slice/worker.service"
POD_UID = "5931aa75-4603-4e65-b552-7c71cf55cfb5"
POD = f"/kubepods.slice/kubepods-pod{POD_UID.replace('-', '_')}.slice"


def _victim(pid: int, name: str, anon_mib: int) -> dict:
    return {
        "pid": pid,
        "name": name,
        "uid": 0,
        "total_vm_bytes": anon_mib * 2 * MIB,
        "anon_rss_bytes": anon_mib * MIB,
        "file_rss_bytes": MIB,
        "shmem_rss_bytes": 0,
    }


def _doc(ts: str, host: str, seq: int, victims: list[dict], **extra) -> dict:
    doc = {
        "@timestamp": ts,
        "host": {"name": host, "os": {"kernel": "6.1.0-13-amd64"}},
        "event": {"id": f"fleet-{seq:03d}", "kind": "event", "original": "Out of memory: ..."},
        "process": {"pid": victims[0]["pid"], "name": victims[0]["name"]},
        "oom": {
            "complete": True,
            "victims": victims,
            "victims_count": len(victims),
            "explanation": f"{victims[0]['name']} was killed ({seq})",
        },
    }
    for dotted, value in extra.items():
        node = doc
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc


def _memcg(path: str, limit_hit: str, limit: int, usage: int) -> dict:
    counter = "memsw" if limit_hit == "memory+swap" else "memory"
    return {
        "oom__scope": "memcg",
        "oom__limit_hit": limit_hit,
        "oom__usage_ratio": round(usage / limit, 4),
        "oom__cgroup": {"task_path": path, "oom_path": path, "version": "v2"},
        f"oom__{counter}": {"usage_bytes": usage, "limit_bytes": limit},
    }


def _global() -> dict:
    return {"oom__scope": "global", "oom__limit_hit": "global", "oom__cgroup": {"task_path": "/"}}


def fleet_documents() -> list[dict]:
    aaa = {**_memcg(AAA, "memory", 256 * MIB, 256 * MIB), "container__id": AAA[8:]}
    aaa["container__runtime"] = "docker"
    worker = {
        **_memcg(WORKER, "memory+swap", 1024 * MIB, 1024 * MIB),
        "systemd__unit": "worker.service",
    }
    pod = {
        **_memcg(POD, "memory", 512 * MIB, 500 * MIB),
        "kubernetes__pod": {"uid": POD_UID, "qos_class": "burstable"},
        "kubernetes__namespace": "shop",
        "orchestrator__cluster": {"name": "prod"},
    }
    return [
        _doc("2026-10-05T10:00:00Z", "web-1", 1, [_victim(101, "java", 200)], **aaa),
        _doc("2026-10-05T20:00:00Z", "web-1", 2, [_victim(102, "java", 210)], **aaa),
        _doc("2026-10-07T03:00:00Z", "web-2", 3, [_victim(201, "python3", 900)], **worker),
        _doc("2026-10-08T02:00:00Z", "web-2", 4, [_victim(202, "python3", 950)], **worker),
        _doc(
            "2026-10-09T12:00:00Z",
            "db-1",
            5,
            [_victim(301, "postgres", 3000), _victim(302, "postgres", 10), _victim(303, "psql", 5)],
            **_global(),
        ),
        _doc("2026-10-13T08:00:00Z", "web-1", 6, [_victim(103, "java", 220)], **aaa),
        _doc("2026-10-15T09:00:00Z", "node-1", 7, [_victim(401, "node", 480)], **pod),
        _doc("2026-10-16T11:00:00Z", "node-1", 8, [_victim(402, "node", 490)], **pod),
        _doc("2026-10-20T14:00:00Z", "db-1", 9, [_victim(304, "postgres", 2800)], **_global()),
    ]
