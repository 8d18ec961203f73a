"""The kernel's OOM vocabulary: one regex per line kind that opens, closes or extends a report.

Shared by reassembly (which lines start and end a report) and parsing (what they say), so a
line kind is defined once. Comments name the kernel versions each form covers.
"""

from __future__ import annotations

import re

# every kernel since 2.6: `apt-check invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=0`;
# 4.10+ add the flag names `gfp_mask=0x1100cca(GFP_HIGHUSER_MOVABLE)`, 4.15+ `nodemask=`.
# A header cut right after the colon (a wrapped paste), stripped or not, still opens a report,
# and so does one an author cut before it (`mem_hog invoked oom-killer`).
INVOKED = re.compile(r"(?P<comm>.*?) invoked oom-killer(?::(?: |$)|\s*$)(?P<rest>.*)")
# 2.6.8-2.6.18 name no task: `oom-killer: gfp_mask=0xd0` (2.6.16+ `, order=0`).
INVOKED_NAMELESS = re.compile(r"oom-killer:(?P<rest> gfp_mask=0x[0-9a-f]+.*)")
# 2.6-5.0: `[Memory cgroup ]Out of memory: Kill process 20911 (beam.smp) score 1001 or
# sacrifice child`; 2.6.2x write `kill process ... or a child`, 2.6.34-mm `... with score 967`.
SELECTED = re.compile(
    r"(?:(?P<prefix>.*?): )?[Kk]ill process +(?P<pid>\d+) \((?P<comm>.*)\) (?:with )?score "
    r"(?P<score>-?\d+)"
)
# all kernels: `Killed process 20977 (sh) total-vm:4404kB, anon-rss:0kB, file-rss:508kB[,
# shmem-rss:0kB][, UID:0 pgtables:476kB oom_score_adj:1000]`; 5.1+ prefix `Out of memory: ` or
# `Memory cgroup out of memory: `; 2.6 `vsz:`; 2.6.18 `Killed process 2592, UID 0, (oracle).`;
# RHEL 7.7+ 3.10 `Killed process 28822 (mysqld), UID 999, total-vm:1276580kB, ...`
# A name ends at the `)` before the size fields or the line's end; an unknown tail still counts.
# Some shipped copies pad the pid (`Killed process  532 (kodi.bin)`); a paste cut inside the
# name keeps the pid (`Killed process 62769 (`).
KILLED = re.compile(
    r"(?:(?P<prefix>.*?): )?Killed process +(?P<pid>\d+)"
    r"(?:(?:, UID (?P<uid>\d+),)? \((?P<comm>.*?)\)"
    r"(?:, UID (?P<uid_after_name>\d+),)?"
    r"(?:(?P<fields> (?:total-vm|vsz|anon-rss|UID):.*)|\.?\s*$|(?P<tail> .*))"
    r"|(?P<cut> \([^)]*)?\s*$)"
)
# 4.19+ (memcg paths since 5.0): `oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),
# cpuset=x,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=stress,pid=1,uid=0`
# (`global_oom` instead of `oom_memcg=` for system-wide OOMs)
SUMMARY = re.compile(r"oom-kill:(?P<body>constraint=.*)")
# its fields, in the order the kernel prints them
SUMMARY_KEYS = (
    "constraint",
    "nodemask",
    "cpuset",
    "mems_allowed",
    "oom_memcg",
    "task_memcg",
    "task",
    "pid",
    "uid",
)
# 4.19+ cgroup v2 with memory.oom.group set
GROUP = re.compile(r"Tasks in (?P<path>\S+) are going to be killed due to memory\.oom\.group set")
# 4.19+ during a group kill
EXITING = re.compile(r"(?:.*: )?OOM victim (?P<pid>\d+) \((?P<comm>.*)\) is already exiting")
# 4.6+: `oom_reaper: reaped process 2279 (Web Content), now anon-rss:0kB, file-rss:0kB, ...`
REAPED = re.compile(r"oom_reaper: reaped process +(?P<pid>\d+) \((?P<comm>.*)\)(?:, now |$)")
# printk rate limit of the report header (4.x+)
SUPPRESSED = re.compile(r"oom_kill_process: (?P<n>\d+) callbacks suppressed")
# nothing left to kill: 4.x+ print it alone (a panic follows), earlier kernels panic with it
# (`Kernel panic - not syncing: Out of memory and no killable processes...`)
NO_KILLABLE = re.compile(r"(?P<before>.*?)Out of memory and no killable processes")
# the panic that ends a report, any prefix before it: 2.6-6.x `vm.panic_on_oom`
# (`Out of memory: system-wide panic_on_oom is enabled`, `compulsory` for memcg ones), 4.x+
# after a system-wide OOM with nothing to kill (`System is deadlocked on memory`)
PANIC = re.compile(
    r".*?Kernel panic - not syncing: (?P<reason>System is deadlocked on memory"
    r"|Out of memory(?::? \S+)? panic_on_oom is enabled)"
)
# OpenVZ / Virtuozzo beancounter kills, each line a whole event: 2.6.32 (RHEL 6 based)
# `Out of memory in UB 1234: OOM killed process 21738 (php-cgi) score 0 vm:281988kB, rss:17004kB,
# swap:0kB`; 2.6.18 `OOM killed process watchdog (pid=14490, ve=13516) exited, free=43104 gen=2.`
UB_KILLED = re.compile(
    r"(?:Out of memory in UB (?P<ub>[^:\s]+): OOM killed process (?P<pid>\d+) \((?P<comm>.*?)\)"
    r"(?: score (?P<score>-?\d+))?(?P<fields> .*)?"
    r"|OOM killed process (?P<ve_comm>.*?) \(pid=(?P<ve_pid>\d+), ve=(?P<ve>[^)\s]+)\) exited)"
)
# task table header, every layout: 2.6 `cpu oom_adj`, 3.x `nr_ptes`, 4.8 `nr_pmds`,
# 4.15+ `pgtables_bytes`, 6.8+ `rss_anon rss_file rss_shmem`
TASK_HEADER = re.compile(r"\[\s*pid\s*\]\s+(?P<columns>uid\s+tgid\s+total_vm\b.*)")
# the start of one of its rows (`[  101]     0   101 …`: pid, uid, tgid), every layout
TASK_ROW_START = re.compile(r"\s*\[\s*\d+\]\s+-?\d+\s+\d+\s")
# memcg context, printed only inside a memcg OOM report, 2.6.29-4.18: `Task in X killed as a
# result of limit of Y` (its first half may stand alone, pr_cont split)
MEMCG_TASK_IN = re.compile(r"(?:Task in \S+ )?killed as a result of limit of \S")
# memcg stats, printed only inside a memcg OOM report (2.6.29+): `Memory cgroup stats for /x:`,
# or cut inside its path where a paste ends
MEMCG_STATS_HEADER = re.compile(r"Memory cgroup stats for /\S*(?::|\s*$)")
# systemd (PID 1 or a user manager) after a kernel kill in one of its units (v239+)
UNIT_NOTICE = re.compile(
    r"(?P<unit>\S+): A process of this unit has been killed by the OOM killer\."
)
