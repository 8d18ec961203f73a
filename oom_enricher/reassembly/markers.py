"""Which kind of report line a kernel message is, for the reassembly state machine."""

from __future__ import annotations

import re
from enum import Enum

from oom_enricher import kernel_lines
from oom_enricher.model import LogLine


class Marker(Enum):
    START = "start"  # `<comm> invoked oom-killer:`, 2.6.8-2.6.18 `oom-killer: gfp_mask=`
    SELECTED = "selected"  # `Kill process N (x) score S or sacrifice child`
    KILLED = "killed"  # `Killed process N (x) ...`
    SUMMARY = "summary"  # `oom-kill:constraint=...`
    GROUP = "group"  # `Tasks in <cg> are going to be killed due to memory.oom.group set`
    EXITING = "exiting"  # `OOM victim N (x) is already exiting. Skip killing the task`
    REAPED = "reaped"  # `oom_reaper: reaped process N (x), now ...`
    SUPPRESSED = "suppressed"  # `oom_kill_process: N callbacks suppressed`
    NO_KILLABLE = "no-killable"  # `Out of memory and no killable processes...`
    PANIC = "panic"  # `Kernel panic - not syncing: System is deadlocked on memory`
    UB_KILLED = "ub-killed"  # OpenVZ `Out of memory in UB 101: OOM killed process N (x) ...`
    # printed only inside an OOM report: the task table header, v1 `Task in ... killed as a
    # result of limit of ...`
    BODY_STRONG = "body-strong"


# The task table header, the `Task in` line and the memcg stats line open a report whose
# header and end are both missing (a paste or `grep -A` output that starts there); the lines
# before them are recovered by looking back. Each kind has a literal every line of it
# contains: a cheap exact test before its regex.
_ORDERED = (
    (Marker.START, " invoked oom-killer", kernel_lines.INVOKED),
    (Marker.START, "oom-killer: gfp_mask=", kernel_lines.INVOKED_NAMELESS),
    (Marker.UB_KILLED, "OOM killed process ", kernel_lines.UB_KILLED),
    (Marker.KILLED, "Killed process ", kernel_lines.KILLED),
    (Marker.SELECTED, "ill process ", kernel_lines.SELECTED),
    (Marker.SUMMARY, "oom-kill:constraint=", kernel_lines.SUMMARY),
    (Marker.GROUP, " are going to be killed due to ", kernel_lines.GROUP),
    (Marker.EXITING, "OOM victim ", kernel_lines.EXITING),
    (Marker.REAPED, "oom_reaper: reaped process ", kernel_lines.REAPED),
    (Marker.SUPPRESSED, " callbacks suppressed", kernel_lines.SUPPRESSED),
    (Marker.NO_KILLABLE, "Out of memory and no killable processes", kernel_lines.NO_KILLABLE),
    (Marker.PANIC, "Kernel panic - not syncing: ", kernel_lines.PANIC),
    (Marker.BODY_STRONG, "total_vm", kernel_lines.TASK_HEADER),
    (Marker.BODY_STRONG, "as a result of limit", kernel_lines.MEMCG_TASK_IN),
    (Marker.BODY_STRONG, "Memory cgroup stats for /", kernel_lines.MEMCG_STATS_HEADER),
)

# Every marker line and unit notice contains one of these byte strings: a reader may skip
# any line that has none of them while no report of its host is in progress.
# Few and distinctive: each extra short literal slows the one-pass search.
SKIM_NEEDLES = (
    b"oom",
    b"OOM",
    b"Kill",
    b"of memory",
    b"total_vm",
    b"as a result of limit",
    b"cgroup stats for /",
)
_TEXT_NEEDLES = tuple(needle.decode() for needle in SKIM_NEEDLES)


def classify(message: str) -> tuple[Marker, re.Match[str]] | None:
    """The marker kind of a kernel message, or None for any other line."""
    if not has_skim_needle(message):
        # `System is deadlocked on memory` holds no needle: it only joins a report in progress
        panic = kernel_lines.PANIC.match(message) if "Kernel panic" in message else None
        return (Marker.PANIC, panic) if panic else None
    if message[:1] in _INDENT:
        # The kernel indents no marker line: an author indented the paste (a commit message,
        # a markdown code block), as the line parser allows.
        message = message.lstrip(" \t")
    for marker, literal, pattern in _ORDERED:
        if literal in message:
            m = pattern.match(message)
            if m:
                return marker, m
    return None


_INDENT = (" ", "\t")
_NO_MARKER = ()  # cached on a line: classified, and no marker


def classify_line(line: LogLine) -> tuple[Marker, re.Match[str]] | None:
    """`classify(line.message)`, computed once per line (reassembly, then event ids)."""
    found = line.marker
    if found is None:
        found = line.marker = classify(line.message) or _NO_MARKER
    return found or None


def has_skim_needle(message: str) -> bool:
    """Whether a reader that skims idle hosts by SKIM_NEEDLES sees this line at all."""
    # a few substring searches: several times faster than one alternation regex
    for needle in _TEXT_NEEDLES:  # noqa: SIM110 - any() with a generator costs more
        if needle in message:
            return True
    return False


def unit_notice(message: str) -> str | None:
    m = kernel_lines.UNIT_NOTICE.match(message)
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
    r"|(?:SysRq :|sysrq:) Manual OOM execution"
    r")"
)


# What an author writes in place of lines left out of a paste: `...`, `…`, `[...]`,
# `(...snipped...)`, `<snip>`, `-- snip --`, or a lone `:` (a vertical ellipsis).
ELISION = re.compile(
    r"\s*(?:\.{3,}|…+|:"
    r"|\[\s*(?:\.{3,}|…)\s*\]"
    r"|[(\[<]\s*(?:\.{2,}|…)?\s*snip(?:ped)?\s*(?:\.{2,}|…)?\s*[)\]>]"
    r"|-+\s*snip(?:ped)?\s*-+)\s*",
    re.IGNORECASE,
)


# The first character an elision can have after its leading white space.
_ELISION_FIRST = frozenset(".…:[(<-")


def is_elision(message: str) -> bool:
    first = message[:1]
    if first not in _ELISION_FIRST and not first.isspace():
        return False  # almost every line: one set lookup instead of the regex
    return ELISION.fullmatch(message) is not None


# MIPS and LoongArch `show_stacktrace` (all kernels) end a stack dump cut at 40 words with
# ` ...` on its next line of words: the kernel's mark (its words indented, or not once a
# continuation line was stripped).
STACK_WORDS = re.compile(r"\s*[0-9a-f]{8,16}(?: [0-9a-f]{8,16})+\s*")
STACK_WORDS_CUT = re.compile(r"\s+\.\.\.\s*")


def is_authors_elision(message: str, previous: str | None) -> bool:
    """An elision the author wrote, not the kernel's mark after a line of stack words."""
    if not is_elision(message):
        return False
    return not (
        previous is not None
        and STACK_WORDS_CUT.fullmatch(message) is not None
        and STACK_WORDS.fullmatch(previous) is not None
    )


def is_report_shaped(message: str) -> bool:
    return REPORT_SHAPED_LINE.match(message) is not None or is_elision(message)


# A line cut at a fixed width by a pager or terminal ends in `>` (`...sec_paget>`), while
# kernel lines ending in `>` close a `<...>` token (`</TASK>`, `<48>`).
_PAGER_CUT = re.compile(r"[^\s<>]>$")
_ANGLE_TOKEN_END = re.compile(r"<[^<>\s]*>$")


# Lines whose last field the kernel always prints: cut anywhere else, they were cut short.
_COMPLETE_ENDING = {
    Marker.SUMMARY: re.compile(r",uid=\d+$"),  # 4.19+: `...,task=x,pid=1,uid=0`
    # `...file-rss:0kB`, `...oom_score_adj:0`, bare `Killed process 5 (x)`, 2.6.18 `(x).`
    Marker.KILLED: re.compile(r"(?:\d+kB|oom_score_adj:-?\d+|\)\.?)$"),
}


def looks_cut(message: str, marker: Marker | None = None) -> bool:
    """A line cut at a fixed width (pager, terminal, copy-paste) rather than as printed."""
    # `>$` needs the `>` last: the regex scans the line otherwise. A paste may keep white
    # space after it (an editor's padding), so it is looked for before that.
    text = message.rstrip()
    if (
        text.endswith(">")
        and _PAGER_CUT.search(text) is not None
        and _ANGLE_TOKEN_END.search(text) is None
    ):
        return True
    ending = _COMPLETE_ENDING.get(marker)
    return ending is not None and ending.search(text) is None


# What a shipped record's raw bytes hold when one of its lines may amend an emitted report
# (a marker line, `is_report_shaped`, a unit notice), as byte regexes searched unanchored
# in a msgpack entry: together a superset, so a record none of them finds holds no such line.
# A line's message is a piece of the record's message string, which in a msgpack entry is
# its literal UTF-8 bytes (ASCII stays ASCII even where bytes were replaced); a pattern that
# ends with `$` in REPORT_SHAPED_LINE or ELISION ends here at a byte that can follow a
# line's end (`_LINE_END`). Python's `\s` and `\d` take Unicode characters: a non-ASCII byte
# stands in for them. Records whose message is not such a string, or is escaped, are found
# by AMEND_MAYBE. Keep in step with REPORT_SHAPED_LINE, ELISION and `classify`
# (tests/core/test_amend_patterns.py checks lines of every kind and record shapes).
# Unicode white space and digits (U+0660 and up) by the lead bytes of their UTF-8
_WS = rb"(?:[\t-\r\x1c-\x20]|[\xc2\xe1-\xe3][\x80-\xbf]{1,3})"
_DIGIT = rb"(?:[0-9]|[\xd9-\xf4][\x80-\xbf]{1,3})"
# After a line's last character: white space the normalizer strips, then the end of its
# string (the next msgpack header, or the end of the payload), a line break, rsyslog's
# `#012`, a glued printk stamp `[`, or the syslog prefix glued before such a stamp.
_LINE_END = (
    rb"[\t\x0b\x0c\x1c-\x20]*(?:[\x00-\x1f\x7f-\xff#\[]|<" + _DIGIT + rb"|[A-Z][a-z][a-z] |$)"
)
# Found: the entry is read.
AMEND_PATTERNS: tuple[bytes, ...] = (
    rb"Kernel panic",  # the one marker line without a SKIM_NEEDLES needle
    rb"CPU: ",
    rb"Pid: ",
    rb"Hardware name: ",
    rb"Tainted: ",
    rb"race:",
    rb"TASK>",
    rb"IRQ>",
    rb"<EOI>",
    rb"<NMI>",
    rb"\.\.\.",
    b"\xe2\x80\xa6",  # `…`
    rb"\+0x",
    rb"[0-9a-f]{8}" + _LINE_END,  # `[0-9a-f]{8,16}(?: [0-9a-f]{8,16})*$`
    rb"(?:RIP|RSP|RAX|RDX|RBP|R10|R13|Code|pc|lr|sp|x" + _DIGIT + rb"+)" + _WS + rb"*: ",
    rb": usage ",
    rb"Memory cgroup stats for ",
    rb"[a-z_] [0-9]+" + _LINE_END,  # `[a-z_]+ \d+$`
    rb"[a-z_] [\xd9-\xf4]",  # the same with a Unicode digit
    rb"Tasks state ",
    rb"Mem-Info:",
    rb"Node " + _DIGIT,
    rb"lowmem_reserve",
    rb" pages ",
    rb" total pagecache",
    rb"Free swap",
    rb"Total swap",
    rb"Swap cache stats",
    rb"[a-z_]:(?:[0-9]+ |[0-9]*[\xd9-\xf4])",
    rb" per-cpu:",
    rb": hi:",
    rb" mems_allowed=",
    rb"Task in ",
    rb"killed as a result of limit of",
    rb"Manual OOM execution",
    rb"(?:[sS]|\xc5\xbf)[nN]",  # `snip`, as IGNORECASE matches it (`\u017f` is an `s`)
)
# Found: the entry is decoded and its lines looked at, as these also turn up in the binary
# fields of a record (a number's bytes) or say that the bytes do not show the lines as they
# are: escapes (kmsg `\x0a`, JSON), a message key whose value is no fixstr/str8 string (a
# number, byte numbers, a long string that may be cut). The last is matched without case
# (journald `MESSAGE`, any `message` spelling).
AMEND_MAYBE: tuple[bytes, ...] = (
    rb"/[\x21-\x7e]*" + _LINE_END,  # `/\S*$`
    rb":" + _LINE_END,  # an elision `:` (the others hold `...`, `…` or `snip`)
    rb"\]" + _WS + rb"+" + _DIGIT,  # `\[\s*\d+\]\s+\d+`
    rb"pid" + _WS + rb"*\]",  # `\[\s*pid\s*\]`
    rb"\\",
)
AMEND_MAYBE_CASELESS: tuple[bytes, ...] = (rb"(?:message|msg|log|unmatched_line)[^\xa0-\xbf\xd9]",)
