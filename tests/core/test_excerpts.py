"""Excerpts of reports as people publish them: cut at either end, a prefix cut inside, the
first line stamped and the rest bare, lines that start inside a cgroup's subtree."""

from __future__ import annotations

import pytest

from oom_enricher.pipeline import documents_from_lines
from oom_enricher.skimming.skim_files import skim_documents

POD = "951f6bc5-c5a5-11ea-8707-80e455f266a2"
CONTAINER = "024952d653ef1cd852f875a61bd27cf45cb1fd6cab3659ca7e5f12f037d99aa9"


def documents(tmp_path, text: str) -> list[dict]:
    path = tmp_path / "excerpt.log"
    path.write_text(text, encoding="utf-8")
    return list(skim_documents([str(path)]))


def only(tmp_path, text: str) -> dict:
    (doc,) = documents(tmp_path, text)
    return doc


CUT_AT_BOTH_ENDS = f"""\
5193605.506728] Task in /kubepods/pod{POD}/{CONTAINER} killed as a result of limit of /kubepods/pod{POD}/{CONTAINER}
[5193605.506735] memory: usage 524288kB, limit 524288kB, failcnt 0
[5193605.506737] memory+swap: usage 524288kB, limit 524288kB, failcnt 38
[5193605.506751] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[5193605.506952] [  62685]     0 62685     2925      679    65536        0          -998 bash
[5193605.506955] [  62769]     0 62769     4382      411    77824        0          -998 cp
[5193605.506956] Memory cgroup out of memory: Kill process 62685 (bash) score 0 or sacrifice child
[5193605.508964] Killed process 62769 ("""


def test_an_excerpt_that_starts_inside_a_printk_stamp_keeps_its_first_line(tmp_path):
    """`5193605.506728] Task in ...`: the `[` was cut off; the stamp and the line stand."""
    oom = only(tmp_path, CUT_AT_BOTH_ENDS + "\n")["oom"]
    path = f"/kubepods/pod{POD}/{CONTAINER}"
    assert (oom["cgroup"]["task_path"], oom["cgroup"]["oom_path"]) == (path, path)


def test_a_kill_line_cut_inside_the_name_keeps_its_victim(tmp_path):
    """`Killed process 62769 (` at the end of an excerpt: the pid was printed, the name is
    the task table's, the sizes are unknown and the line says it was cut."""
    oom = only(tmp_path, CUT_AT_BOTH_ENDS)["oom"]
    (victim,) = oom["victims"]
    assert (victim["pid"], victim["name"], victim["anon_rss_bytes"]) == (62769, "cp", None)
    assert oom["sacrificed_child"] is True
    assert oom["incomplete_reason"] == "truncated_line"


CHILD_STATS_FIRST = """\
[39291577.009360] Memory cgroup stats for /kubepods/burstable/podfe3f7a38-b3f7-48aa-8997-a697ae3d0741/c7ebf4d756b284f6226cce820771afcf706a4e37afb77f052c61ece86d3b61f0: cache:0KB rss:4096KB
[39291577.009370] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[39291577.009380] [  22921]     0 22921      242        1    28672        0          -998 pause
[39291577.009390] [  23001]  1000 23001   900000   500000  4300000        0           999 java
[39291577.009400] Memory cgroup out of memory: Kill process 23001 (java) score 1999 or sacrifice child
[39291577.009410] Killed process 23001 (java) total-vm:3600000kB, anon-rss:2000000kB, file-rss:0kB, shmem-rss:0kB
"""


def test_a_stats_line_without_its_usage_lines_names_no_oom_cgroup_but_its_pod(tmp_path):
    """A paste that starts at a stats line may start at a child's (v1 prints one per cgroup
    of the subtree, the OOM'd one first, right after its usage lines): the line says a
    cgroup OOM in that pod, not which cgroup's limit, nor which of its containers."""
    doc = only(tmp_path, CHILD_STATS_FIRST)
    oom = doc["oom"]
    assert (oom["cgroup"]["oom_path"], oom["cgroup"]["task_path"]) == (None, None)
    assert oom["scope"] == "memcg"
    assert doc["kubernetes"]["pod"]["uid"] == "fe3f7a38-b3f7-48aa-8997-a697ae3d0741"
    assert "container" not in doc


STAMPED_HEADER_THEN_BARE = """\
[  617.319540] Web Content invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
CPU: 6 PID: 2279 Comm: Web Content Not tainted 4.15.8 #1
Call Trace:
 dump_stack+0x5c/0x79
Out of memory: Kill process 2279 (Web Content) score 426 or sacrifice child
Killed process 2279 (Web Content) total-vm:5606512kB, anon-rss:1694156kB, file-rss:0kB, shmem-rss:0kB
"""


def test_a_report_line_behind_no_prefix_after_a_stamped_one_is_no_rest_of_it(tmp_path):
    """Only the first line kept its stamp: the bare `CPU:` line after it is a line of its
    own, not the wrapped rest of the header."""
    for text in (STAMPED_HEADER_THEN_BARE, STAMPED_HEADER_THEN_BARE.replace("[  617", "  617")):
        oom = only(tmp_path, text)["oom"]
        assert (oom["trigger"]["name"], oom["trigger"]["pid"]) == ("Web Content", 2279)
        assert oom["complete"] is True


@pytest.mark.parametrize(
    "summary",
    [
        # wrapped at its commas, the rest indented (an author fitting it on screen)
        "Jul 30 10:38:10 kernel: oom-kill:constraint=CONSTRAINT_NONE,global_oom,\n"
        "  task_memcg=/user.slice/user@1000.service/app.slice/tmux-spawn-7.scope,\n"
        "  task=kvrocks,pid=405448,uid=1000",
        # wrapped before a field and joined again with a blank
        "Jul 30 10:38:10 kernel: oom-kill:constraint=CONSTRAINT_NONE,global_oom\n"
        "task_memcg=/user.slice/user@1000.service/app.slice/tmux-spawn-7.scope,task=kvrocks,"
        "pid=405448,uid=1000",
    ],
)
def test_a_summary_wrapped_between_its_fields_keeps_each_field(tmp_path, summary):
    text = (
        "Jul 30 10:38:10 kernel: kvrocks invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=200\n"
        + summary
        + "\nJul 30 10:38:10 kernel: Out of memory: Killed process 405448 (kvrocks) total-vm:23754724kB, anon-rss:7978652kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:16000kB oom_score_adj:200\n"
    )
    doc = documents(tmp_path, text)[0]
    oom = doc["oom"]
    assert oom["constraint"] == "CONSTRAINT_NONE"
    assert (
        oom["cgroup"]["task_path"] == "/user.slice/user@1000.service/app.slice/tmux-spawn-7.scope"
    )
    assert oom["scope"] == "global"
    assert [victim["pid"] for victim in oom["victims"]] == [405448]


def test_one_quoted_log_line_is_unquoted(tmp_path):
    """A reply quoting a single summary line: one `>` before a log line is a quote marker
    (one before anything else may be a shell's redirect)."""
    line = (
        "> Aug 30 06:58:55 node-7 kernel: oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
        "cpuset=x,mems_allowed=0-1,oom_memcg=/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-podeded8c65_6e8e_4c6e_a889_3e427565c740.slice,task_memcg=/kubepods.slice/"
        "kubepods-burstable.slice/kubepods-burstable-podeded8c65_6e8e_4c6e_a889_3e427565c740.slice/"
        "cri-containerd-ec9ee26695deb4cc72bc665efff1cf3a03fdfb12f1303e02fe9252985e084a95.scope,"
        "task=pt_main_thread,pid=461754,uid=0\n"
    )
    doc = only(tmp_path, line)
    assert doc["host"]["name"] == "node-7"
    assert [victim["pid"] for victim in doc["oom"]["victims"]] == [461754]
    assert doc["kubernetes"]["pod"]["uid"] == "eded8c65-6e8e-4c6e-a889-3e427565c740"


@pytest.mark.parametrize("rest", [" all_unreclaimable? yes", "imable? yes"])
def test_a_zone_line_whose_end_went_to_the_next_line_is_whole(tmp_path, rest):
    """A 2.6 zone line broken before its last field (or inside it): its end is on the next
    line, so nothing was cut."""
    zone = "Normal free:2792kB min:2804kB low:3504kB high:4204kB active:6484kB inactive:384516kB present:507824kB pages_scanned:670357"
    if not rest.startswith(" "):
        zone += " all_unrecla"
    text = f"""\
java invoked oom-killer: gfp_mask=0x201d2, order=0, oomkilladj=0
Call Trace:
 [<c0143c7f>] out_of_memory+0x25/0x13a
Mem-info:
{zone}
{rest}
Free swap  = 0kB
Total swap = 1048568kB
Out of memory: Killed process 2592 (java).
"""
    oom = only(tmp_path, text)["oom"]
    assert oom["system"]["zones"][0]["present_bytes"] == 507824 * 1024
    assert oom["incomplete_reason"] != "truncated_line"


@pytest.mark.parametrize("value", ["278804kB ", "0kB"])
def test_a_zone_line_broken_between_a_key_and_its_value_is_whole(tmp_path, value):
    """A syslog line broken after `active_anon:` (a mail or a file viewer's wrap): the next
    line begins with the value, then the zone's other fields; nothing was cut."""
    head = (
        "Dec 20 03:17:52 localhost kernel: [75669.621683] Node 0 DMA32 free:44672kB"
        " boost:0kB min:44696kB low:55868kB high:67040kB reserved_highatomic:0KB"
    )
    if value == "0kB":
        zone = f"{head} active_anon:278804kB present:3129152kB free_cma:\n{value}"
    else:
        zone = f"{head} active_anon:\n{value}inactive_anon:1620588kB present:3129152kB free_cma:0kB"
    prefix = "Dec 20 03:17:52 localhost kernel: [75669.6216{}] "
    lines = [
        "java invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0,"
        " oom_score_adj=0",
        "CPU: 1 PID: 2592 Comm: java Not tainted 5.10.0-20-amd64 #1 Debian 5.10.158-2",
        "Mem-Info:",
    ]
    text = "".join(prefix.format(10 + n) + line + "\n" for n, line in enumerate(lines))
    text += zone + "\n"
    text += prefix.format(90) + "Free swap  = 0kB\n"
    text += prefix.format(91) + "Total swap = 0kB\n"
    text += (
        prefix.format(92) + "Out of memory: Killed process 2592 (java) total-vm:4000000kB,"
        " anon-rss:1800000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4000kB"
        " oom_score_adj:0\n"
    )
    oom = only(tmp_path, text)["oom"]
    assert oom["system"]["zones"][0]["min_bytes"] == 44696 * 1024
    assert oom["incomplete_reason"] != "truncated_line"


def test_a_zone_lines_rest_in_a_record_of_its_own_after_its_last_key_is_no_cut():
    """A zone line is printed in pieces (`pr_cont`): under other CPUs' printk its rest can
    become a record of its own, even between a key and its value."""
    lines = [
        "[  5.000001] java invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0,"
        " oom_score_adj=0",
        "[  5.000002] CPU: 1 PID: 2592 Comm: java Not tainted 5.10.0-20-amd64 #1",
        "[  5.000003] Mem-Info:",
        "[  5.000003] Node 0 DMA32 free:44672kB boost:0kB min:44696kB low:55868kB high:67040kB"
        " reserved_highatomic:0KB active_anon:",
        "[  5.000004] 278804kB inactive_anon:1620588kB present:3129152kB free_cma:0kB",
        "[  5.000004] Free swap  = 0kB",
        "[  5.000004] Total swap = 0kB",
        "[  5.000004] 782238 pages RAM",
        "[  5.000004] Tasks state (memory values in pages):",
        "[  5.000004] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents"
        " oom_score_adj name",
        "[  5.000004] [   2592]     0  2592  1000000   450000  4096000        0             0 java",
        "[  5.000005] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,"
        "mems_allowed=0,global_oom,task_memcg=/,task=java,pid=2592,uid=0",
        "[  5.000005] Out of memory: Killed process 2592 (java) total-vm:4000000kB,"
        " anon-rss:1800000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4000kB"
        " oom_score_adj:0",
    ]
    (doc,) = documents_from_lines(lines)
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (True, None)


def test_a_zone_line_cut_at_the_end_of_its_report_is_still_cut(tmp_path):
    text = """\
java invoked oom-killer: gfp_mask=0x201d2, order=0, oomkilladj=0
Mem-info:
Normal free:2792kB min:2804kB low:3504kB high:4204kB active:6484kB inactive:384516kB present:5
Out of memory: Killed process 2592 (java).
"""
    assert only(tmp_path, text)["oom"]["incomplete_reason"] == "truncated_line"


USAGE_THEN_A_CUT_STATS_LINE = """\
Jun 29 07:24:44 compute-11 kernel:  </TASK>
Jun 29 07:24:44 compute-11 kernel: memory: usage 1048576kB, limit 1048576kB, failcnt 141
Jun 29 07:24:44 compute-11 kernel: swap: usage 0kB, limit 9007199254740988kB, failcnt 0
Jun 29 07:24:44 compute-11 kernel: Memory cgroup stats for /kubepods.slice/kubepods-burstable.slice/kubepods"""


def test_an_excerpt_ending_inside_a_stats_lines_path_is_a_report(tmp_path):
    """Only the usage lines and a stats line cut inside its path: a cgroup OOM whose memory
    limit was hit; the cut path names no cgroup."""
    doc = only(tmp_path, USAGE_THEN_A_CUT_STATS_LINE)
    oom = doc["oom"]
    assert (oom["scope"], oom["cgroup"]["version"], oom["limit_hit"]) == ("memcg", "v2", "memory")
    assert oom["memory"]["usage_bytes"] == 1048576 * 1024
    assert (oom["cgroup"]["oom_path"], oom["complete"]) == (None, False)
    assert doc["host"]["name"] == "compute-11"


def test_stats_in_the_key_value_layout_alone_name_the_oom_cgroup(tmp_path):
    """5.3+ print the `key value` stats of the OOM'd cgroup alone: such a block names it."""
    path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod06d44939_d15e_491f_84a3_2dbba9fc0440.slice"
    text = f"""\
[17780.401644] Memory cgroup stats for {path}:
[17780.401658] anon 257044480
[17780.401658] file 925696
[17780.401663] Tasks state (memory values in pages):
[17780.401663] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[17780.401665] [ 137981]     0 137981   188328     9437   200000        0           999 java
[17780.401670] Memory cgroup out of memory: Killed process 137981 (java) total-vm:753312kB, anon-rss:37748kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:195kB oom_score_adj:999
"""
    oom = only(tmp_path, text)["oom"]
    assert oom["cgroup"]["oom_path"] == path


def test_memory_stat_lines_whose_header_was_cut_off_say_a_cgroup_oom(tmp_path):
    """A paste that starts inside the `key value` stats block: only a cgroup OOM prints
    memory.stat, so the report's scope is memcg though no line names the cgroup."""
    stats = ["file 58085376", "kernel_stack 16384", "pagetables 61440", "shmem 0", "pgfault 32960"]
    text = "".join(f"[   42.348954] {line}\n" for line in stats) + (
        "[   42.353046] Tasks state (memory values in pages):\n"
        "[   42.353261] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n"
        "[   42.353644] [    144]     0   144      573      258    40960        5             0 init\n"
        "[   42.354439] oom-kill:constraint=CON"
    )
    oom = only(tmp_path, text)["oom"]
    assert (oom["scope"], oom["cgroup"]["oom_path"]) == ("memcg", None)


@pytest.mark.parametrize("after", ["--", "如需输出确认了被kill的进程为17982"])
def test_a_separator_or_prose_after_the_widest_line_is_no_rest_of_it(tmp_path, after):
    """grep's `--` and an author's prose after the widest line (a kill line) stood for the
    rest of a line a terminal cut there: the kill line looked cut."""
    text = (
        "Apr 20 09:12:58 vps001 kernel: mysqld invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0\n"
        "Apr 20 09:12:58 vps001 kernel: Out of memory: Kill process 918 (mysqld) score 900 or sacrifice child\n"
        "Apr 20 09:12:58 vps001 kernel: Killed process 918 (mysqld), UID 27, total-vm:2184052kB, anon-rss:18492kB, file-rss:0kB, shmem-rss:0kB\n"
        f"{after}\n"
        "Apr 20 09:13:02 vps001 kernel: eth0: link up\n"
    )
    doc = documents(tmp_path, text)[0]
    assert after not in doc["event"]["original"]
    assert doc["oom"]["incomplete_reason"] != "truncated_line"


def test_an_authors_bare_elision_among_one_hosts_syslog_lines_is_the_reports(tmp_path):
    """`...` alone among lines of one syslog host: it stands for that host's lines left out,
    so the report is incomplete (it went to a hostless stream instead)."""
    prefix = "Dec 31 13:46:46 mmp.com kernel: "
    lines = [
        "java invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0",
        "CPU: 1 PID: 28780 Comm: java Not tainted 3.10.0-1160.45.1.el7.x86_64 #1",
        "[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name",
    ]
    text = (
        "".join(prefix + line + "\n" for line in lines)
        + "...\n"
        + (
            prefix
            + "[28780]     0 28780  1000000   900000    1900        0             0 java\n"
            + prefix
            + "Out of memory: Kill process 28780 (java) score 900 or sacrifice child\n"
            + prefix
            + "Killed process 28780 (java), UID 0, total-vm:4000000kB, anon-rss:3600000kB, "
            "file-rss:0kB, shmem-rss:0kB\n"
        )
    )
    doc = only(tmp_path, text)
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (False, "elided")


def test_two_syslog_records_a_terminal_copy_joined_are_two_lines(tmp_path):
    """`journalctl -f` copied from a terminal: a record's padding, then the next record's
    whole prefix with no printk stamp on the same line. The second task row went into the
    first one's name, and the summary into the last row's."""
    prefix = "Dec 21 13:28:12 linbox kernel: "
    pad = " " * 60
    rows = [
        "[ 100844]  1000 100844      593        0    45056       25             0 xxd",
        "[ 100845]  1000 100845     1685        0    53248       68             0 less",
    ]
    text = (
        f"{prefix}less invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0\n"
        f"{prefix}[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n"
        f"{prefix}{rows[0]}{pad}{prefix}{rows[1]}\n"
        f"{prefix}oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice/user-1000.slice/session-1.scope,task=less,pid=100845,uid=1000\n"
        f"{prefix}Out of memory: Killed process 100845 (less) total-vm:6740kB, anon-rss:0kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:52kB oom_score_adj:0\n"
    )
    oom = only(tmp_path, text)["oom"]
    assert [(task["pid"], task["name"]) for task in oom["tasks"]] == [
        (100844, "xxd"),
        (100845, "less"),
    ]
    assert oom["cgroup"]["task_path"] == "/user.slice/user-1000.slice/session-1.scope"


def _cut(line: str, width: int) -> str:
    """A terminal's copy of a line: cut every `width` characters."""
    return "\n".join(line[i : i + width] for i in range(0, len(line), width))


def test_a_first_line_that_lost_its_bracket_was_as_wide_as_the_terminal(tmp_path):
    """A copy that starts inside the printk stamp lost its `[`: the first line, one character
    short of the width the terminal cut the other lines at, was cut there too."""
    width = 178
    path = f"/kubepods/pod{POD}/{CONTAINER}"
    stats = "cache:507172KB rss:44 rss_huge:0KB shmem:28KB mapped_file:0KB dirty:503316KB"
    lines = [
        f"[5193605.506728] Task in {path} killed as a result of limit of {path}",
        "[5193605.506735] memory: usage 524288kB, limit 524288kB, failcnt 0",
        "[5193605.506737] memory+swap: usage 524288kB, limit 524288kB, failcnt 38",
        f"[5193605.506739] Memory cgroup stats for {path}: {stats}",
        "[5193605.506751] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents"
        " oom_score_adj name",
        "[5193605.506952] [  62685]     0 62685     2925      679    65536        0"
        "          -998 bash",
        "[5193605.506956] Memory cgroup out of memory: Kill process 62685 (bash) score 0"
        " or sacrifice child",
    ]
    text = "\n".join(_cut(line, width) for line in lines)[1:] + "\n"
    assert text.splitlines()[0].startswith("5193605.506728] Task in")
    assert len(text.splitlines()[0]) == width - 1
    oom = only(tmp_path, text)["oom"]
    assert (oom["cgroup"]["task_path"], oom["cgroup"]["oom_path"]) == (path, path)
