"""The kernel lines that open, close or extend an OOM report, one regex per kind."""

from __future__ import annotations

import re
from enum import Enum


class Marker(Enum):
    START = "start"  # `<comm> invoked oom-killer:`
    SELECTED = "selected"  # `Kill process N (x) score S or sacrifice child`
    KILLED = "killed"  # `Killed process N (x) ...`
    SUMMARY = "summary"  # `oom-kill:constraint=...`
    GROUP = "group"  # `Tasks in <cg> are going to be killed due to memory.oom.group set`
    EXITING = "exiting"  # `OOM victim N (x) is already exiting. Skip killing the task`
    REAPED = "reaped"  # `oom_reaper: reaped process N (x), now ...`
    SUPPRESSED = "suppressed"  # `oom_kill_process: N callbacks suppressed`
    NO_KILLABLE = "no-killable"  # `Out of memory and no killable processes...`
    BODY_STRONG = "body-strong"  # the task table header, printed only inside an OOM report


# every kernel since 2.6: `apt-check invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=0`
START_LINE = re.compile(r"(?P<comm>.*?) invoked oom-killer: ")
# 2.6-5.0: `[Memory cgroup ]Out of memory: Kill process 123 (x) score 5 or sacrifice child`
SELECTED_LINE = re.compile(r"(?:.*: )?[Kk]ill process (?P<pid>\d+) \((?P<comm>.*)\) score -?\d+")
# all kernels; 5.1+ prefix it with `Out of memory: ` / `Memory cgroup out of memory: `
# 2.6.18: `Out of memory: Killed process 2592, UID 0, (oracle).`
KILLED_LINE = re.compile(r"(?:.*: )?Killed process (?P<pid>\d+)(?:, UID \d+,)? \((?P<comm>.*)\)")
# 4.19+ (memcg paths since 5.0): `oom-kill:constraint=CONSTRAINT_MEMCG,...,pid=996,uid=1000`
SUMMARY_LINE = re.compile(r"oom-kill:constraint=")
# 4.19+ cgroup v2 memory.oom.group
GROUP_LINE = re.compile(
    r"Tasks in (?P<path>\S+) are going to be killed due to memory\.oom\.group set"
)
# 4.19+ during a group kill
EXITING_LINE = re.compile(r"(?:.*: )?OOM victim (?P<pid>\d+) \((?P<comm>.*)\) is already exiting")
# 4.6+
REAPED_LINE = re.compile(r"oom_reaper: reaped process (?P<pid>\d+) \((?P<comm>.*?)\)(?:,|$)")
# printk ratelimit of oom_kill_process (4.x+)
SUPPRESSED_LINE = re.compile(r"oom_kill_process: \d+ callbacks suppressed")
# 4.x+: nothing left to kill
NO_KILLABLE_LINE = re.compile(r"Out of memory and no killable processes")
# The task table header (every kernel since 2.6.2x) is printed only inside an OOM report. It
# opens a report whose header and end are both missing; the memcg usage and stats lines
# before it are recovered by looking back.
BODY_STRONG_LINE = re.compile(r"\[\s*pid\s*\]\s+uid\s+tgid\s+total_vm")
# systemd (PID 1 or user manager) after a kernel kill in one of its units
UNIT_NOTICE_LINE = re.compile(
    r"(?P<unit>\S+): A process of this unit has been killed by the OOM killer\."
)

_ORDERED = (
    (Marker.START, START_LINE),
    (Marker.KILLED, KILLED_LINE),
    (Marker.SELECTED, SELECTED_LINE),
    (Marker.SUMMARY, SUMMARY_LINE),
    (Marker.GROUP, GROUP_LINE),
    (Marker.EXITING, EXITING_LINE),
    (Marker.REAPED, REAPED_LINE),
    (Marker.SUPPRESSED, SUPPRESSED_LINE),
    (Marker.NO_KILLABLE, NO_KILLABLE_LINE),
    (Marker.BODY_STRONG, BODY_STRONG_LINE),
)

# Every marker line and unit notice contains one of these byte strings: a reader may skip
# any line that has none of them while no report of its host is in progress.
# Few and distinctive: each extra short literal slows the one-pass search.
SKIM_NEEDLES = (b"oom", b"OOM", b"Kill", b"of memory", b"total_vm")
_HINT = re.compile("|".join(re.escape(needle.decode()) for needle in SKIM_NEEDLES))


def classify(message: str) -> tuple[Marker, re.Match[str]] | None:
    """The marker kind of a kernel message, or None for any other line."""
    if not _HINT.search(message):
        return None
    for marker, pattern in _ORDERED:
        m = pattern.match(message)
        if m:
            return marker, m
    return None


def unit_notice(message: str) -> str | None:
    m = UNIT_NOTICE_LINE.match(message)
    return m["unit"] if m else None


# Lines a report body is made of, for the look-back that recovers the part of a report
# that arrived before a report without its `invoked oom-killer` line was noticed.
REPORT_SHAPED_LINE = re.compile(
    r"\s*(?:"
    r"CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: |Pid: \d+, comm: |Hardware name: |Tainted: "
    r"|Call [Tt]race:|<(?:/?TASK|/?IRQ|EOI|NMI)>|\.\.\.$"
    r"|(?:\[<[0-9a-f]+>\] )?\??\s*[\w.$]+\+0x[0-9a-f]+/0x[0-9a-f]+"
    r"|(?:Stack : )?[0-9a-f]{8,16}(?: [0-9a-f]{8,16})*$"
    r"|(?:RIP|RSP|RAX|RDX|RBP|R10|R13|Code|pc|lr|sp|x\d+)\s*: "
    r"|(?:memory|memory\+swap|kmem|swap): usage |Memory cgroup stats for |[a-z_]+ \d+$"
    r"|Tasks state |\[\s*pid\s*\]|\[\s*\d+\]\s+\d+\s+\d+\s"
    r"|Mem-Info:|Node \d|lowmem_reserve|\d+ pages |\d+ total pagecache|Free swap|Total swap"
    r"|Swap cache stats|[a-z_]+:\d+ |[A-Za-z0-9]+ per-cpu:|CPU\s+\d+: hi:"
    r"|.*\bcpuset=\S* mems_allowed="
    r"|Task in |killed as a result of limit of|/\S*$"
    r")"
)


def is_report_shaped(message: str) -> bool:
    return REPORT_SHAPED_LINE.match(message) is not None


# A line cut at a fixed width by a pager or terminal ends in `>` (`...sec_paget>`), while
# kernel lines ending in `>` close a `<...>` token (`</TASK>`, `<48>`).
_PAGER_CUT = re.compile(r"[^\s<>]>$")
_ANGLE_TOKEN_END = re.compile(r"<[^<>\s]*>$")


def looks_cut(message: str) -> bool:
    return _PAGER_CUT.search(message) is not None and _ANGLE_TOKEN_END.search(message) is None
