"""Small kernel report texts for reassembly tests, written as a kernel prints them."""

from __future__ import annotations


def memcg_report(comm: str = "stress", pid: int = 100, victim: int = 101) -> list[str]:
    return [
        f"{comm} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        f"CPU: 1 PID: {pid} Comm: {comm} Not tainted 6.1.0-13-amd64 #1 Debian 6.1.55-1",
        "Call Trace:",
        " <TASK>",
        " dump_stack_lvl+0x44/0x5c",
        " </TASK>",
        "memory: usage 102400kB, limit 102400kB, failcnt 12",
        "swap: usage 0kB, limit 9007199254740988kB, failcnt 0",
        "Tasks state (memory values in pages):",
        "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
        f"[{victim:7d}]     0 {victim:5d}    74798    23376   487424        0          1000 {comm}",
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        f"oom_memcg=/app.slice,task_memcg=/app.slice,task={comm},pid={victim},uid=0",
        f"Memory cgroup out of memory: Killed process {victim} ({comm}) total-vm:299192kB, "
        "anon-rss:93176kB, file-rss:316kB, shmem-rss:12kB, UID:0 pgtables:476kB oom_score_adj:1000",
    ]


def syslog(host: str, second: float, message: str, tag: str = "kernel") -> str:
    whole = int(second)
    return f"Nov 25 10:{whole // 60:02d}:{whole % 60:02d} {host} {tag}: [{second:12.6f}] {message}"
