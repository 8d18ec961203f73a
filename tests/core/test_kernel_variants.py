"""Report layouts of kernel generations and shippers the corpus does not hold."""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime

import orjson
import pytest

from oom_enricher.pipeline import documents_from_lines
from oom_enricher.skimming.skim_files import skim_documents
from oom_enricher.skimming.split_file import split_documents

RHEL5_2_6_18 = """\
java invoked oom-killer: gfp_mask=0x201d2, order=0, oomkilladj=0
Call Trace:
 [<ffffffff800c3a6a>] out_of_memory+0x8e/0x2f5
 [<ffffffff8000f2eb>] __alloc_pages+0x245/0x2ce
Mem-info:
Free swap  = 0kB
Total swap = 2097144kB
Out of memory: Killed process 2592, UID 0, (oracle).
"""

RHEL6_2_6_32 = """\
httpd invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=0, oom_score_adj=0
httpd cpuset=/ mems_allowed=0
Pid: 2069, comm: httpd Not tainted 2.6.32-431.el6.x86_64 #1
Call Trace:
 [<ffffffff810d0b71>] ? cpuset_print_task_mems_allowed+0x91/0xb0
 [<ffffffff81122f40>] ? dump_header+0x90/0x1b0
Mem-Info:
Node 0 DMA free:15732kB min:60kB low:72kB high:88kB present:15332kB pages_scanned:0 all_unreclaimable? yes
Free swap  = 0kB
Total swap = 4128764kB
1048429 pages RAM
[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name
[  456]     0   456     2771      123   0     -17         -1000 udevd
[ 2069]    48  2069   612345   456789   1       0             0 httpd
Out of memory: Kill process 2069 (httpd) score 952 or sacrifice child
Killed process 2069, UID 48, (httpd) total-vm:2449380kB, anon-rss:1826944kB, file-rss:212kB
"""

CPUSET_5_10 = """\
worker invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0
CPU: 3 PID: 4242 Comm: worker Not tainted 5.10.0-26-amd64 #1 Debian 5.10.197-1
oom-kill:constraint=CONSTRAINT_CPUSET,nodemask=(null),cpuset=batch,mems_allowed=1,task_memcg=/batch.slice/job.service,task=worker,pid=4242,uid=1000
Out of memory: Killed process 4242 (worker) total-vm:9000kB, anon-rss:8000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:40kB oom_score_adj:0
"""

MEMCG_5_0_CONSTRAINT_NONE = """\
app invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), nodemask=(null), order=0, oom_score_adj=0
CPU: 0 PID: 77 Comm: app Not tainted 5.0.21 #1
memory: usage 65536kB, limit 65536kB, failcnt 4
memory+swap: usage 65536kB, limit 9007199254740988kB, failcnt 0
kmem: usage 1024kB, limit 9007199254740988kB, failcnt 0
oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,task_memcg=/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,task=app,pid=77,uid=0
Memory cgroup out of memory: Killed process 77 (app) total-vm:80000kB, anon-rss:60000kB, file-rss:100kB, shmem-rss:0kB
"""

NO_KILLABLE = """\
init invoked oom-killer: gfp_mask=0x6200ca(GFP_HIGHUSER_MOVABLE), nodemask=(null), order=0, oom_score_adj=0
CPU: 0 PID: 1 Comm: init Not tainted 4.19.0 #1
Mem-Info:
Out of memory and no killable processes...
Kernel panic - not syncing: System is deadlocked on memory
"""

JOURNAL_SHORT_MONOTONIC = """\
[  617.319540] vm1 kernel: Web Content invoked oom-killer: gfp_mask=0x14280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), nodemask=(null), order=0, oom_score_adj=0
[  617.324305] vm1 kernel: CPU: 6 PID: 2279 Comm: Web Content Not tainted 4.15.8 #1
[  617.330000] vm1 earlyoom[88]: Out of memory: Killed process 1 (init)
[  617.820631] vm1 kernel: Out of memory: Kill process 2279 (Web Content) score 426 or sacrifice child
[  617.823206] vm1 kernel: Killed process 2279 (Web Content) total-vm:5606512kB, anon-rss:1694156kB, file-rss:0kB, shmem-rss:0kB
"""

DMESG_ISO = """\
2026-11-25T10:00:00,123456+00:00 Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)
2026-11-25T10:00:00,123457+00:00 sh invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
2026-11-25T10:00:00,223457+00:00 Out of memory: Killed process 9 (sh) total-vm:100kB, anon-rss:50kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0
"""


def only(text: str, **expect) -> dict:
    docs = list(documents_from_lines(text.splitlines()))
    assert len(docs) == 1
    return docs[0]


def test_rhel5_killed_line_with_uid_and_lowercase_mem_info():
    doc = only(RHEL5_2_6_18)
    oom = doc["oom"]
    assert (oom["victims"][0]["pid"], oom["victims"][0]["name"], oom["victims"][0]["uid"]) == (
        2592,
        "oracle",
        0,
    )
    assert (oom["scope"], oom["limit_hit"], oom["trigger"]["oom_adj"]) == ("global", "global", 0)
    assert oom["system"]["total_swap_bytes"] == 2097144 * 1024


def test_rhel6_task_table_with_cpu_and_oom_adj_columns():
    oom = only(RHEL6_2_6_32)["oom"]
    assert oom["tasks"][1] == {
        "pid": 2069,
        "uid": 48,
        "tgid": 2069,
        "total_vm_pages": 612345,
        "rss_pages": 456789,
        "cpu": 1,
        "oom_adj": 0,
        "oom_score_adj": 0,
        "name": "httpd",
    }
    victim = oom["victims"][0]
    assert (victim["uid"], victim["total_vm_bytes"], victim["file_rss_bytes"]) == (
        48,
        2449380 * 1024,
        212 * 1024,
    )
    assert oom["trigger"]["pid"] == 2069 and oom["selected"]["score"] == 952
    assert oom["sacrificed_child"] is False and oom["page_size"] == 4096


def test_cpuset_constraint_is_its_own_scope():
    oom = only(CPUSET_5_10)["oom"]
    assert (oom["scope"], oom["limit_hit"], oom["cgroup"]["version"]) == (
        "cpuset",
        "global",
        "none",
    )
    assert "cpuset" in oom["explanation"]


def test_constraint_none_with_oom_memcg_is_a_cgroup_oom():
    doc = only(MEMCG_5_0_CONSTRAINT_NONE)
    oom = doc["oom"]
    assert (oom["scope"], oom["limit_hit"], oom["cgroup"]["version"]) == ("memcg", "memory", "v1")
    assert doc["container"] == {"id": "0123456789abcdef" * 4, "runtime": "docker"}
    assert oom["memsw"]["unlimited"] is True and oom["memsw"]["limit_bytes"] is None


def test_no_killable_processes_ends_a_report():
    oom = only(NO_KILLABLE)["oom"]
    assert oom["complete"] is True and oom["victims"] == [] and oom["no_killable"] is True
    assert "no process it could kill" in oom["explanation"]


def test_journal_short_monotonic_with_a_userspace_look_alike():
    doc = only(JOURNAL_SHORT_MONOTONIC)
    assert doc["host"]["name"] == "vm1"
    assert [v["pid"] for v in doc["oom"]["victims"]] == [2279]
    assert "earlyoom" not in doc["event"]["original"]


def test_dmesg_iso_time_format(tmp_path):
    path = tmp_path / "dmesg-iso.log"
    path.write_text(DMESG_ISO)
    (doc,) = list(skim_documents([str(path)]))
    assert doc["@timestamp"] == "2026-11-25T10:00:00.123457Z"
    assert doc["oom"]["victims"][0]["name"] == "sh"


ARM64_64K_PAGES = """\
[ 100.000001] worker invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0
[ 100.000002] CPU: 1 PID: 501 Comm: worker Not tainted 5.14.0-362.el9.aarch64+64k #1
[ 100.000003] Tasks state (memory values in pages):
[ 100.000004] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[ 100.000005] [    501]     0   501     1000      500    65536        0             0 worker
[ 100.000006] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=worker,pid=501,uid=0
[ 100.000007] Out of memory: Killed process 501 (worker) total-vm:64000kB, anon-rss:32000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:64kB oom_score_adj:0
"""

ODD_NAMES = """\
[ 5.000001] kworker/u8:2 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[ 5.000002] CPU: 0 PID: 42 Comm: kworker/u8:2 Not tainted 6.1.0 #1
[ 5.000003] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[ 5.000004] [    700]  1000   700     2000     1500    65536        0             0 Ünïcödé (x)
[ 5.000005] [    701]  1000   701     1000      100    65536        0             0 (sd-pam)
[ 5.000006] Out of memory: Killed process 700 (Ünïcödé (x)) total-vm:8000kB, anon-rss:6000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:64kB oom_score_adj:0
"""


def test_page_size_is_inferred_from_the_victims_pages():
    oom = only(ARM64_64K_PAGES)["oom"]
    assert oom["page_size"] == 65536
    assert oom["top_consumers"][0]["rss_bytes"] == 500 * 65536


def test_names_with_slashes_parentheses_and_non_ascii():
    doc = only(ODD_NAMES)
    assert doc["oom"]["trigger"]["name"] == "kworker/u8:2"
    assert doc["process"] == {"pid": 700, "name": "Ünïcödé (x)"}
    assert [task["name"] for task in doc["oom"]["tasks"]] == ["Ünïcödé (x)", "(sd-pam)"]


RHEL7_TAINT_DASHES_DMESG_R = """\
<4>[ 3000.000001] java invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=-998
<4>[ 3000.000002] java cpuset=1e479e759020fa0b6c72def90973540a2d33982fea2ad67a96373b4da751a820 mems_allowed=0
<4>[ 3000.000003] CPU: 9 PID: 14881 Comm: java Tainted: G    B          ------------ T 3.10.0-327.4.5.el7.x86_64 #1
<6>[ 3000.000004] Task in /kubepods/pod95387fa4-da9c-11e7-9d36-5254b24cbf5e/6895a3e13439535852d3184ac2aadd26d7363cc035f171545ec7d4ce74073b0b killed as a result of limit of /kubepods/pod95387fa4-da9c-11e7-9d36-5254b24cbf5e
<6>[ 3000.000005] memory: usage 524288kB, limit 524288kB, failcnt 10
<6>[ 3000.000006] memory+swap: usage 1048576kB, limit 9007199254740988kB, failcnt 0
<6>[ 3000.000007] [ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name
<6>[ 3000.000008] [28438]     0 28438  5063909   119961    1661   136409          -998 java
<3>[ 3000.000009] Memory cgroup out of memory: Kill process 24572 (java) score 0 or sacrifice child
<3>[ 3000.000010] Killed process 28438 (java) total-vm:20255636kB, anon-rss:466160kB, file-rss:13684kB
"""


def test_rhel7_taint_dashes_and_dmesg_raw_levels():
    doc = only(RHEL7_TAINT_DASHES_DMESG_R)
    oom = doc["oom"]
    assert doc["host"]["os"]["kernel"] == "3.10.0-327.4.5.el7.x86_64"
    assert (oom["trigger"]["pid"], oom["trigger"]["name"]) == (14881, "java")
    assert doc["kubernetes"]["pod"]["uid"] == "95387fa4-da9c-11e7-9d36-5254b24cbf5e"
    # the selected 24572 is a thread of the java process 28438, which was killed
    assert (oom["selected_is_thread"], oom["selected"]["tgid"], oom["sacrificed_child"]) == (
        True,
        28438,
        False,
    )
    assert (oom["limit_hit"], oom["cgroup"]["version"]) == ("memory", "v1")


MEMCG_KILL_WITHOUT_UID = """\
CPU 11/KVM invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=830
[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[  70675]     0 70675      243        1    28672        0          -998 pause
[  70870]   107 70870 18302464 16718510 135278592        0           830 qemu-system-x86
oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0-3,oom_memcg=/kubepods.slice,task_memcg=/kubepods.slice,task=qemu-system-x86,pid=70870,uid=107
Memory cgroup out of memory: Killed process 70870 (qemu-system-x86) total-vm:73209856kB, anon-rss:66852088kB, file-rss:21948kB, shmem-rss:4kB
"""


def test_victim_uid_from_the_summary_or_task_row_when_the_kill_line_has_none():
    """A kill line without `UID:` (as some kernels print it): the victim's uid is the one the
    summary line and the task row give its pid (it was null)."""
    (doc,) = documents_from_lines(MEMCG_KILL_WITHOUT_UID.splitlines())
    assert doc["oom"]["victims"][0]["uid"] == 107
    assert doc["user"] == {"id": "107"}
    no_summary = [line for line in MEMCG_KILL_WITHOUT_UID.splitlines() if "oom-kill:" not in line]
    (doc,) = documents_from_lines(no_summary)
    assert doc["oom"]["victims"][0]["uid"] == 107


def test_stats_header_followed_by_an_elision_gives_no_stats():
    """`Memory cgroup stats for …:` then `...`: the stats are unknown (null), not an empty map."""
    lines = MEMCG_KILL_WITHOUT_UID.splitlines()
    lines[1:1] = ["memory: usage 17024340kB, limit 17024340kB, failcnt 1243",
                  "Memory cgroup stats for /kubepods.slice:", "..."]  # fmt: skip
    (doc,) = documents_from_lines(lines)
    assert doc["oom"]["memcg_stats"] is None
    assert doc["oom"]["limit_hit"] == "memory"


def test_no_killable_report_message_says_nothing_was_killed():
    """The summary message of a report whose kernel found nothing to kill does not speak of
    a kill (it read "OOM kill of unknown process")."""
    doc = only(NO_KILLABLE)
    assert doc["message"].startswith("OOM with no killable process on ")
    assert "kill of" not in doc["message"]


JOURNAL_EXPORT = """\
{bounds}
Jun 11 20:17:20 hyperv kernel: llvm-tblgen invoked oom-killer: gfp_mask=0x1100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0
Jun 11 20:17:20 hyperv kernel: CPU: 2 PID: 4749 Comm: llvm-tblgen Not tainted 5.13.0-rc5 #1
Jun 11 20:17:20 hyperv kernel: Out of memory: Killed process 662 (baloo_file) total-vm:1000kB, anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:40kB oom_score_adj:0
"""
JOURNAL_BOUNDS_LINES = [
    "-- Journal begins at Thu 2021-06-10 06:17:06 MST, ends at Fri 2021-06-11 20:34:01 MST. --",
    "-- Logs begin at Thu 2021-06-10 06:17:06 MST, end at Fri 2021-06-11 20:34:01 MST. --",
]


@pytest.mark.parametrize("bounds", JOURNAL_BOUNDS_LINES, ids=["systemd-246+", "older"])
def test_journalctl_export_dates_its_stamps_by_its_bounds_line(bounds, tmp_path):
    """`journalctl` begins with the span it exports: its `Jun 11` stamps are of 2021, not of
    the year the file was copied in (they took the file's modification year)."""
    path = tmp_path / "journal.txt"
    path.write_text(JOURNAL_EXPORT.format(bounds=bounds))
    os.utime(path, (datetime(2026, 3, 1, tzinfo=UTC).timestamp(),) * 2)
    (doc,) = skim_documents([str(path)])
    assert doc["@timestamp"].startswith("2021-06-11T20:17:20")
    out = io.BytesIO()
    split_documents(str(path), out, 2, cuts=[len(bounds) + 1])
    assert orjson.loads(out.getvalue().splitlines()[0])["@timestamp"] == doc["@timestamp"]


S390_2_6_36 = """\
blast invoked oom-killer: gfp_mask=0x201da, order=0, oom_adj=0, oom_score_adj=0
blast cpuset=/ mems_allowed=0
CPU: 7 Not tainted 2.6.36-45.x.20101028-s390xdefault #1
Process blast (pid: 8067, task: 000000007a244640, ksp: 000000003dc8f678)
000000003dc8f7c8 000000003dc8f748 0000000000000002 0000000000000000
Call Trace:
([<0000000000115c12>] show_trace+0xee/0x144)
 [<00000000001d2ba6>] oom_kill_process+0xaa/0x254
Mem-Info:
DMA free:15732kB min:60kB low:72kB high:88kB present:15332kB pages_scanned:0 all_unreclaimable? yes
Free swap  = 0kB
Total swap = 0kB
2097152 pages RAM
[ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name
[ 8067]     0  8067   612345   456789   7       0             0 blast
Out of memory: Kill process 8067 (blast) score 952 or sacrifice child
Killed process 8067 (blast) total-vm:2449380kB, anon-rss:1827156kB, file-rss:0kB
"""


def test_s390_cpu_line_without_pid_and_its_process_line_give_the_trigger():
    """s390 prints the release on `CPU: 7 Not tainted ...` and the task on `Process blast
    (pid: 8067, ...)`: the kernel, the trigger's pid and its CPU were lost."""
    (doc,) = documents_from_lines(S390_2_6_36.splitlines())
    trigger = doc["oom"]["trigger"]
    assert (trigger["name"], trigger["pid"], trigger["cpu"]) == ("blast", 8067, 7)
    assert doc["host"]["os"]["kernel"] == "2.6.36-45.x.20101028-s390xdefault"
    assert doc["oom"]["complete"] is True


@pytest.mark.parametrize(
    ("tail", "release"),
    [("Not tainted 5.15.0-1013-oracle...", "5.15.0-1013-oracle"), ("Not tainted...", None)],
)
def test_a_cpu_line_elided_by_the_author_keeps_its_pid_and_says_elided(tail, release):
    text = RHEL6_2_6_32.replace(
        "Pid: 2069, comm: httpd Not tainted 2.6.32-431.el6.x86_64 #1",
        f"CPU: 1 PID: 2069 Comm: httpd {tail}",
    )
    (doc,) = documents_from_lines(text.splitlines())
    oom = doc["oom"]
    assert (oom["trigger"]["pid"], oom["trigger"]["cpu"]) == (2069, 1)
    assert doc["host"].get("os", {}).get("kernel") == release
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "elided")


def test_a_hardware_name_elided_by_the_author_keeps_no_dots():
    text = RHEL6_2_6_32.replace(
        "Call Trace:\n",
        "Hardware name: VMware, Inc. VMware20,1/440BX Desktop Reference Platform...\nCall Trace:\n",
    )
    (doc,) = documents_from_lines(text.splitlines())
    assert doc["host"]["hardware"] == "VMware, Inc. VMware20,1/440BX Desktop Reference Platform"
    assert doc["oom"]["incomplete_reason"] == "elided"


def test_grep_kill_output_that_kept_one_frame_is_not_complete():
    """`dmesg | grep -i kill` keeps the header, an `oom_kill_process` frame and the kill
    lines; a frame without the `Pid:` line was taken for a whole 2.6.18 report, which prints
    no such line. A RHEL 6 header spells it `oom_scoe_adj`."""
    text = """\
java invoked oom-killer: gfp_mask=0xd0, order=0, oom_adj=0, oom_scoe_adj=0
[<ffffffff81118898>] ? oom_kill_process+0x68/0x140
Task in /LXC011175068174 killed as a result of limit of /LXC011175068174
Memory cgroup out of memory: kill process 28466 (java) score 1000 or a child
Killed process 28466 (java) total-vm:6340212kB, anon-rss:4190148kB, file-rss:10028kB
"""
    (doc,) = documents_from_lines(text.splitlines())
    oom = doc["oom"]
    assert oom["trigger"]["oom_score_adj"] == 0
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "cpu_line_missing")


def test_a_free_swap_count_below_zero_is_kept_as_printed_and_told_as_none_left():
    """`Free swap  = -1636kB` (the kernel's count dips below zero): the value was dropped."""
    text = RHEL6_2_6_32.replace("Free swap  = 0kB", "Free swap  = -1636kB")
    (doc,) = documents_from_lines(text.splitlines())
    assert doc["oom"]["system"]["free_swap_bytes"] == -1636 * 1024
    assert "none of 3.9 GiB swap left" in doc["oom"]["explanation"]


def test_rhel7_kill_line_with_uid_after_the_name_gives_the_victim():
    """RHEL 7.7+ (3.10.0-1062 and later) prints `Killed process N (name), UID U, total-vm:…`:
    the victim and its sizes were lost (`killed: []`)."""
    text = RHEL6_2_6_32.replace(
        "Killed process 2069, UID 48, (httpd) total-vm:2449380kB, anon-rss:1826944kB, "
        "file-rss:212kB",
        "Killed process 2069 (httpd), UID 48, total-vm:2449380kB, anon-rss:1826944kB, "
        "file-rss:212kB, shmem-rss:0kB",
    )
    (victim,) = only(text)["oom"]["victims"]
    assert victim == {
        "pid": 2069,
        "name": "httpd",
        "uid": 48,
        "total_vm_bytes": 2449380 * 1024,
        "anon_rss_bytes": 1826944 * 1024,
        "file_rss_bytes": 212 * 1024,
        "shmem_rss_bytes": 0,
        "pgtables_bytes": None,
        "oom_score_adj": None,
        "named_by": "killed",
    }


@pytest.mark.parametrize("indent", ["", "    "])
def test_kill_lines_quoted_again_without_stamps_after_their_report_are_one_event(indent):
    """A paste that shows a report, then its selection and kill lines again without their
    stamps: the same kill, so one document, the whole report's. The repeat came out as a
    second document (under the same `event.id` when the paste is indented, which gives the
    repeated lines the stamp of the line before them: it replaced the whole one in a sink)."""
    lines = RHEL6_2_6_32.splitlines()
    stamped = [f"{indent}[510563.{index:06d}] {line}" for index, line in enumerate(lines)]
    repeat = [indent + line for line in lines[-2:]]
    (doc,) = documents_from_lines([*stamped, indent, *repeat])
    assert (doc["oom"]["complete"], doc["oom"]["tasks_count"]) == (True, 2)
    assert doc["oom"]["lines_count"] == len(lines)


def test_a_kill_line_with_a_padded_pid_is_a_kill():
    """`Killed process  532 (kodi.bin)` (two spaces, as a shipped copy printed it) was ignored:
    three kills of one host gave two documents and the first victim was lost."""
    lines = [
        f"Jul 22 {time} kodi kernel: Out of memory: Killed process{pad}{pid} (kodi.bin) "
        "total-vm:1561568kB, anon-rss:397140kB, file-rss:112348kB, shmem-rss:0kB, UID:972 "
        "pgtables:1296kB oom_score_adj:0"
        for time, pad, pid in (("19:16:26", "  ", 532), ("20:00:53", " ", 1543))
    ]
    docs = list(documents_from_lines(lines))
    assert [doc["oom"]["victims"][0]["pid"] for doc in docs] == [532, 1543]


ARM_4_3 = """\
[  829.160000] kworker/0:3 invoked oom-killer: gfp_mask=0x142d0, order=3, oom_score_adj=0
[  829.170000] CPU: 0 PID: 1285 Comm: kworker/0:3 Tainted: G         C      4.3.0-1-ARCH #1
[  829.180000] Hardware name: Freescale MXS (Device Tree)
[  829.200000] [<c000d20c>] (show_stack) from [<c00de220>] (dump_header+0x5c/0x1dc)
[  829.210000] [<c009a02c>] (oom_kill_process) from [<c009a57c>] (out_of_memory+0x2f8/0x32c)
[  829.220000] [<c009a57c>] (out_of_memory) from [<c009e808>] (__alloc_pages_nodemask+0x7ec/0x860)
"""


@pytest.mark.parametrize("first", ["(show_stack)", "(show_stack+0x10/0x14)"])
def test_32_bit_arm_stack_frames_are_read(first):
    """ARM prints `[<addr>] (fn) from [<addr>] (caller+off/size)`: no frame was read, so a
    paste that ends in the trace had no sign of its scope (`out_of_memory` is one)."""
    (doc,) = documents_from_lines(ARM_4_3.replace("(show_stack)", first).splitlines())
    assert (doc["oom"]["scope"], doc["oom"]["incomplete_reason"]) == ("global", "end_of_input")


DECODED_TRACE = """\
[   66.203100][  T248] stress invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0
[   66.203110][  T248] CPU: 1 UID: 0 PID: 248 Comm: stress Not tainted 6.17.0-rc1 #1 PREEMPT(voluntary)
[   66.203122][  T248] Call Trace:
[   66.203125][  T248]  ? show_stack (arch/x86/kernel/dumpstack.c:319)
[   66.203148][  T248]  dump_stack (lib/dump_stack.c:130)
[   66.203153][  T248]  dump_header (mm/oom_kill.c:468 (discriminator 1))
[   66.203165][  T248]  oom_kill_process.cold (mm/oom_kill.c:450 (discriminator 1) mm/oom_kill.c:1041)
[   66.203174][  T248]  out_of_memory (mm/oom_kill.c:1180)
[   66.203184][  T248]  __alloc_pages_may_oom (mm/page_alloc.c:4026)
[   66.203199][  T248]  __alloc_pages_slowpath+0x39d/0x6e0
"""


def test_stack_frames_decoded_to_source_lines_are_read():
    """Robots and `decode_stacktrace.sh` print `fn (mm/oom_kill.c:1180)` instead of the
    offset: no such frame was read, so a report cut after its trace had no sign of its scope
    (`out_of_memory` called from the page allocator is global)."""
    (doc,) = documents_from_lines(DECODED_TRACE.splitlines())
    assert (doc["oom"]["scope"], doc["oom"]["incomplete_reason"]) == ("global", "end_of_input")


def test_32_bit_arm_frames_without_their_addresses_are_read():
    """A paste that dropped the `[<c01c...>]` addresses: `(out_of_memory) from
    (__alloc_pages_nodemask+0xe9c/0xeb8)`, no frame was read."""
    text = re.sub(r"\[<[0-9a-f]+>\] ", "", ARM_4_3)
    assert "] (out_of_memory) from (__alloc_pages_nodemask" in text
    (doc,) = documents_from_lines(text.splitlines())
    assert (doc["oom"]["scope"], doc["oom"]["incomplete_reason"]) == ("global", "end_of_input")


def test_the_pre_4_19_no_killable_panic_says_no_cgroup_oom():
    """Before 4.19 the kernel panics `Out of memory and no killable processes...` only for an
    OOM outside a cgroup (a cgroup's just returns): the scope was unknown."""
    lines = [
        "[  656.210000] InputReader invoked oom-killer: gfp_mask=0x240c2c0, order=3,"
        " oom_score_adj=-900",
        "[  656.240000] Kernel panic - not syncing: Out of memory and no killable processes...",
    ]
    (doc,) = documents_from_lines(lines)
    assert doc["oom"]["scope"] == "global"


def test_a_header_wrapped_before_its_gfp_flags_is_rejoined(tmp_path):
    """A mail wrap right after the mask (`gfp_mask=0x240c2c0` / `(GFP_KERNEL|...),
    nodemask=0, order=3,`): a header ending at its mask is whole (2.6), so the flags, the
    order and the node list were lost."""
    text = (
        "InputReader invoked oom-killer: gfp_mask=0x240c2c0\n"
        "(GFP_KERNEL|__GFP_NOWARN|__GFP_COMP|__GFP_ZERO), nodemask=0, order=3,\n"
        "oom_score_adj=-900\n"
        "(dump_header) from (out_of_memory+0x334/0x348)\n"
        "Kernel panic - not syncing: Out of memory and no killable processes...\n"
    )
    path = tmp_path / "mail.txt"
    path.write_text(text)
    (doc,) = skim_documents([str(path)])
    trigger = doc["oom"]["trigger"]
    assert (trigger["order"], trigger["nodemask"], trigger["oom_score_adj"]) == (3, "0", -900)
    assert doc["oom"]["scope"] == "global"


@pytest.mark.parametrize(
    "choice", ["kill process 6016 (java) score 0 or a child", "Kill process 6016 (java) score 0"]
)
def test_a_cgroup_oom_whose_choice_has_2_6_wording_is_v1(choice):
    """`Memory cgroup out of memory: kill process N (x) score S or a child` is 2.6's wording,
    older than cgroup v2."""
    lines = [f"[ 1578.117055] Memory cgroup out of memory: {choice}"]
    (doc,) = documents_from_lines(lines)
    expected = "v1" if "or a child" in choice else "unknown"
    assert (doc["oom"]["scope"], doc["oom"]["cgroup"]["version"]) == ("memcg", expected)


@pytest.mark.parametrize(
    ("header", "mask", "order"),
    [
        ("oom-killer: gfp_mask=0xd0", "0xd0", None),
        ("oom-killer: gfp_mask=0x201d2, order=0", "0x201d2", 0),
    ],
)
def test_a_2_6_8_header_without_a_task_name_opens_the_report(header, mask, order):
    """2.6.8-2.6.18 print `oom-killer: gfp_mask=0xd0` (2.6.16+ with `, order=N`), naming no
    task: the header was not read, so its gfp_mask was lost and the report had no start."""
    lines = [
        f"Aug 26 14:13:42 wirth kernel: {line}"
        for line in (
            header,
            "DMA per-cpu:",
            "Free pages:      107700kB (105792kB HighMem)",
            "Swap cache: add 0, delete 0, find 0/0, race 0+0",
            "Out of Memory: Killed process 6906 (kdm_greet).",
        )
    ]
    (doc,) = documents_from_lines(lines)
    trigger = doc["oom"]["trigger"]
    assert (trigger["name"], trigger["gfp_mask"], trigger["order"]) == (None, mask, order)
    assert doc["oom"]["victims"][0]["pid"] == 6906
    assert doc["oom"]["incomplete_reason"] != "missing_start"


def test_a_2_6_34_mm_selection_line_with_with_score_is_read():
    """2.6.34-rc1-mm1 printed `Kill process 2525 (malloc) with score 967 or sacrifice child`:
    the chosen task was lost, and with it the only sign of the scope."""
    text = RHEL6_2_6_32.replace(
        "Out of memory: Kill process 2069 (httpd) score 952 or sacrifice child",
        "Out of memory: Kill process 2069 (httpd) with score 952 or sacrifice child",
    )
    assert only(text)["oom"]["selected"] == {
        "pid": 2069,
        "name": "httpd",
        "score": 952,
        "tgid": 2069,
    }


SUMMARY_K8S = (
    "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
    "oom_memcg=/kubepods.slice/kubepods-burstable.slice/"
    "kubepods-burstable-poda8b8a570_9d92_4702_aac3_9264b667146c.slice,"
    "task_memcg=/kubepods.slice/kubepods-burstable.slice/"
    "kubepods-burstable-poda8b8a570_9d92_4702_aac3_9264b667146c.slice/"
    "cri-containerd-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope,"
    "task=node,pid=4242,uid=0"
)


@pytest.mark.parametrize(
    ("cut_after", "task_path_kept"),
    [("_aac", False), ("abcdef.scope", False), ("abcdef.scope,ta", True)],
)
def test_a_summary_line_cut_short_keeps_no_value_it_cut(cut_after, task_path_kept):
    """`dmesg | cut -c1-400`: the summary stopped inside `task_memcg=`, and the cut path was
    given as the task's cgroup. A value is whole only when a comma ends it."""
    at = SUMMARY_K8S.rindex(cut_after) + len(cut_after)
    (doc,) = documents_from_lines([SUMMARY_K8S[:at]])
    cgroup = doc["oom"]["cgroup"]
    assert cgroup["oom_path"].endswith("aac3_9264b667146c.slice")
    whole = SUMMARY_K8S.split("task_memcg=")[1].split(",")[0]
    assert cgroup["task_path"] == (whole if task_path_kept else None)
    assert doc["kubernetes"]["pod"]["uid"] == "a8b8a570-9d92-4702-aac3-9264b667146c"
    assert doc["oom"]["incomplete_reason"] == "truncated_line"


@pytest.mark.parametrize(
    "caller",
    [
        "1 OOMKilling: ",  # a node event's count and reason
        "  Warning  OOMKilling  12m  kernel-monitor, node-7  ",  # kubectl describe node
    ],
)
def test_kill_lines_behind_a_node_events_reason_keep_their_scope(caller):
    lines = [
        f"{caller}Memory cgroup out of memory: Kill process 4242 (nginx) score 998 or "
        "sacrifice child",
        "Killed process 4242 (nginx) total-vm:20480kB, anon-rss:8192kB, file-rss:0kB, "
        "shmem-rss:0kB",
    ]
    oom = only("\n".join(lines) + "\n")["oom"]
    assert (oom["scope"], oom["selected"]["pid"], oom["selected"]["score"]) == ("memcg", 4242, 998)


SYSLOG_BACKLOG = """\
Jul  9 14:01:36 www9 kernel: [990735.330526] php invoked oom-killer: gfp_mask=0x201d2, order=0, oomkilladj=0
Jul  9 14:01:42 www9 kernel: [990735.330544] Pid: 7749, comm: php Not tainted 2.6.26-2-686 #1
Jul  9 14:04:20 www9 kernel: [990735.330555]  [<c0150df2>] oom_kill_process+0x4f/0x1bb
Jul  9 14:04:58 www9 kernel: [990735.330582]  [<c0151293>] out_of_memory+0x14e/0x17f
Jul  9 14:04:58 www9 kernel: [990735.330591]  [<c01532e1>] __alloc_pages_internal+0x2b8/0x34e
Jul  9 14:06:10 www9 kernel: [990735.331000] Mem-info:
Jul  9 14:06:10 www9 kernel: [990735.331010] Free swap  = 0kB
Jul  9 14:06:10 www9 kernel: [990735.331020] Total swap = 1048568kB
Jul  9 14:06:11 www9 kernel: [990735.332000] Out of memory: kill process 7749 (php) score 912 or a child
Jul  9 14:06:11 www9 kernel: [990735.332010] Killed process 7749 (php)
"""


def test_a_syslog_backlog_minutes_long_keeps_one_report_by_its_kernel_stamps():
    """syslogd wrote a burst of kernel lines minutes apart (a backlog) while their printk
    stamps stay within a millisecond: the report's clock is the kernel's, not the daemon's,
    so it is neither closed by age nor split."""
    doc = only(SYSLOG_BACKLOG)
    assert doc["oom"]["lines_count"] == 10
    assert doc["oom"]["scope"] == "global"
    assert [victim["pid"] for victim in doc["oom"]["victims"]] == [7749]
    assert doc["oom"]["incomplete_reason"] == "mem_info_cut"  # the sample's, not its age


VENDOR_LIMIT_OF_HOST = """\
[Sat Sep 11 12:24:42 2021] app invoked oom-killer: gfp_mask=0x6280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), nodemask=(null), order=0, oom_score_adj=0
[Sat Sep 11 12:24:42 2021] CPU: 1 PID: 4242 Comm: app Not tainted 4.19.91-24.al7.x86_64 #1
[Sat Sep 11 12:24:42 2021] Task in /user.slice killed as a result of limit of host
[Sat Sep 11 12:24:42 2021] Node 0 DMA32 free:155160kB min:152412kB low:190512kB high:228612kB active_anon:1kB present:3129216kB managed:3063680kB
[Sat Sep 11 12:24:42 2021] Out of memory: Kill process 4242 (app) score 900 or sacrifice child
[Sat Sep 11 12:24:42 2021] Killed process 4242 (app) total-vm:900kB, anon-rss:800kB, file-rss:0kB, shmem-rss:0kB
"""


def test_a_limit_of_a_word_not_a_path_names_no_cgroup_and_zones_say_global():
    """A vendor kernel prints `Task in /user.slice killed as a result of limit of host` on a
    global OOM: `host` is no cgroup (the kernel prints paths there), and zone lines come from
    show_mem, which a cgroup OOM never calls."""
    oom = only(VENDOR_LIMIT_OF_HOST)["oom"]
    assert oom["cgroup"]["oom_path"] is None
    assert oom["cgroup"]["task_path"] == "/user.slice"
    assert (oom["scope"], oom["limit_hit"]) == ("global", "global")
    assert "host" not in oom["explanation"].replace("on host", "")


DEADLOCKED_PANIC_ALONE = """\
[ 3893.943876] Out of memory and no killable processes...
[ 3893.943877] Kernel panic - not syncing: System is deadlocked on memory
[ 3893.943879] CPU: 3 PID: 724 Comm: userdbd Not tainted 5.10.35 #1
[ 3893.943881] Call Trace:
[ 3893.943883]  dump_stack+0x6b/0x83
[ 3893.943887]  panic+0xf1/0x2d3
"""


def test_a_deadlocked_panic_says_the_oom_was_the_whole_machines():
    """4.x+ panic with `System is deadlocked on memory` only outside a cgroup OOM and SysRq-f:
    a paste holding only that end of the report is a global OOM."""
    oom = only(DEADLOCKED_PANIC_ALONE)["oom"]
    assert (oom["scope"], oom["limit_hit"]) == ("global", "global")
    assert oom["trigger"]["pid"] == 724


SYSRQ_COMPULSORY_PANIC = """\
admin@sw-1:~$ echo f | sudo tee /proc/sysrq-trigger
[  910.064760] SysRq : Manual OOM execution
[  910.113950] Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled
[  910.229545] CPU: 1 PID: 243 Comm: kworker/1:2 Tainted: G         C O  3.16.0-6-amd64 #1 Debian 3.16.57-2
"""


@pytest.mark.parametrize("sysrq", ["SysRq : Manual OOM execution", "sysrq: Manual OOM execution"])
def test_a_sysrq_line_before_the_report_says_it_was_started_by_hand(sysrq):
    """SysRq-f prints `Manual OOM execution` (`sysrq:` from 5.4) before the report: the
    OOM was the whole machine's and started by hand, not memory running out."""
    text = SYSRQ_COMPULSORY_PANIC.replace("SysRq : Manual OOM execution", sysrq)
    oom = only(text)["oom"]
    assert oom["manual"] is True
    assert (oom["scope"], oom["limit_hit"]) == ("global", "global")
    assert "started by hand" in oom["explanation"]
    assert "ran out of memory" not in oom["explanation"]


PANIC_NO_KILLABLE_4_18 = """\
[   10.840000] Free swap  = 0kB
[   10.840000] Total swap = 0kB
[   10.840000] 7680 pages RAM
[   10.840000] [ pid ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[   10.840000] Kernel panic - not syncing: Out of memory and no killable processes...
[   10.840000]{blank}
[   10.840000] CPU: 0 PID: 1 Comm: swapper Not tainted 4.18.0 #1
[   10.840000] Call Trace:
""".format(blank=" ")  # the empty line a panic message's newline leaves


def test_the_dump_after_a_no_killable_panic_before_4_19_gives_the_trigger():
    """Before 4.19 `Out of memory and no killable processes...` is the panic's own text; the
    `CPU:` line panic() prints after it is the task that ran out of memory."""
    doc = only(PANIC_NO_KILLABLE_4_18)
    assert doc["oom"]["trigger"]["pid"] == 1
    assert doc["oom"]["trigger"]["cpu"] == 0
    assert doc["host"]["os"]["kernel"] == "4.18.0"


MEMCG_TABLE_WITH_A_CUT_ROW = """\
stress invoked oom-killer: gfp_mask=0x24000c0(GFP_KERNEL), order=0, oom_score_adj=0
CPU: 1 PID: 21284 Comm: stress Not tainted 4.8.11 #1
Task in /docker/app killed as a result of limit of /docker/app
memory: usage 980kB, limit 1024kB, failcnt 70
[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name
[21280]  1337 21280     9000      343      20       3        0             0 moved-in
[21283]  1337 21283     1866      100       9       3       23             0 sh
[21284]  1337 21284  12
Memory cgroup out of memory: Kill process 21280 (moved-in) score 999 or sacrifice child
Killed process 21280 (moved-in) total-vm:36000kB, anon-rss:1372kB, file-rss:0kB, shmem-rss:0kB
"""


def test_top_consumers_take_no_figure_the_table_does_not_show():
    """A row cut after its third value shows no rss (it is no consumer of 0 B); a task whose
    rss is above the cgroup's whole usage (moved in after it allocated) has no share of it."""
    oom = only(MEMCG_TABLE_WITH_A_CUT_ROW)["oom"]
    consumers = {item["pid"]: item for item in oom["top_consumers"]}
    assert set(consumers) == {21280, 21283}
    assert consumers[21280]["share_of_usage"] is None  # 1372 kB of 980 kB
    assert consumers[21283]["share_of_usage"] == round(100 * 4096 / (980 * 1024), 4)


def test_a_table_without_swap_gives_its_consumers_no_swap_figure():
    """2.6.32's table has no `swapents` column: no swap is shown, not 0 B."""
    oom = only(RHEL6_2_6_32)["oom"]
    assert {item["swap_bytes"] for item in oom["top_consumers"]} == {None}


def test_a_header_an_author_cut_before_its_colon_still_names_the_trigger():
    """`mem_on_node0 invoked oom-killer` and nothing after: the report opens there, the
    trigger is named and its fields are missing."""
    text = (
        "[ 2786.519080] mem_on_node0 invoked oom-killer\n"
        "[ 2786.519090] CPU: 2 PID: 3377 Comm: mem_on_node0 Not tainted 6.5.0 #1\n"
        "[ 2786.519200] Out of memory: Killed process 3377 (mem_on_node0) total-vm:1000kB, "
        "anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0\n"
    )
    oom = only(text)["oom"]
    assert (oom["trigger"]["name"], oom["trigger"]["pid"]) == ("mem_on_node0", 3377)
    assert oom["incomplete_reason"] == "truncated_line"


@pytest.mark.parametrize(
    "header", ["oom-killer: gfp_mask=0xd1", "oom-killer: gfp_mask=0xd0, order=1"]
)
def test_a_2_6_9_to_2_6_17_header_ends_with_its_mask_or_order(header):
    """Kernels before 2.6.18 print no adj field: their header is whole without one."""
    text = (
        f"Jan 20 13:22:15 wiggum kernel: {header}\n"
        "Jan 20 13:22:15 wiggum kernel: Free swap:            0kB\n"
        "Jan 20 13:22:15 wiggum kernel: Out of Memory: Killed process 1932 (cc1).\n"
    )
    oom = only(text)["oom"]
    assert oom["trigger"]["gfp_mask"] == header.split("=")[1].split(",")[0]
    assert oom["incomplete_reason"] != "truncated_line"


RHEL8_4_18_BACKPORTED_KILL_LINE = """\
oom invoked oom-killer: gfp_mask=0x6280ca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), nodemask=(null), order=0, oom_score_adj=0
CPU: 1 PID: 2074 Comm: oom Kdump: loaded Not tainted 4.18.0-477.13.1.el8_8.x86_64 #1
Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.14.0-2 04/01/2014
Call Trace:
 dump_stack+0x41/0x60
 dump_header+0x4a/0x1df
 oom_kill_process.cold.33+0xb/0x10
 out_of_memory+0x1bd/0x4e0
 __alloc_pages_slowpath+0xbe7/0xcd0
 page_fault+0x1e/0x30
Mem-Info:
active_anon:4558 inactive_anon:469552 isolated_anon:0
 active_file:6371 inactive_file:4910 isolated_file:0
Node 0 Normal free:36376kB min:34644kB low:43304kB high:51964kB active_anon:14424kB present:2097152kB managed:1982936kB mlocked:0kB kernel_stack:1800kB pagetables:9000kB bounce:0kB free_pcp:0kB local_pcp:0kB free_cma:0kB
lowmem_reserve[]: 0 0 0 0 0
13503 total pagecache pages
Free swap  = 12kB
Total swap = 4149244kB
2047866 pages RAM
126938 pages reserved
Tasks state (memory values in pages):
[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[    774]     0   774    22394     1057   225280      197             0 systemd-journal
[   2074]     0  2074  1573962   900000  11972608   260000             0 oom
oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice/user-0.slice/session-1.scope,task=oom,pid=2074,uid=0
Out of memory: Killed process 2074 (oom) total-vm:6295848kB, anon-rss:3600000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:11692kB oom_score_adj:0
"""


def test_a_vendor_4_18_with_5_1s_kill_line_prints_no_choice_line():
    """RHEL 8's 4.18 took 5.1's kill line (`Out of memory: Killed process`, no `Kill
    process ... sacrifice child` before it): no choice line is missing."""
    oom = only(RHEL8_4_18_BACKPORTED_KILL_LINE)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (True, None)
    assert oom["selected"]["pid"] is None


def test_a_gcc_clone_suffix_keeps_the_frame_its_function():
    """`out_of_memory.cold+0xa/0x7e` called from the page allocator is a global OOM's frame."""
    text = (
        "[   16.873800] mysqld invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0\n"
        "[   16.873850] Call Trace:\n"
        "[   16.873906]  out_of_memory.cold+0xa/0x7e\n"
        "[   16.873910]  __alloc_pages_slowpath+0xd0c/0xde0\n"
    )
    assert only(text)["oom"]["scope"] == "global"


def test_a_trace_cut_right_after_out_of_memory_shows_no_scope():
    """A cgroup OOM calls out_of_memory too (4.6+): with its caller cut off, the frame
    tells nothing of the scope."""
    text = (
        "[ 6128.057424] mimir invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), order=0, oom_score_adj=999\n"
        "[ 6128.057440] Call Trace:\n"
        "[ 6128.057445]  oom_kill_process.cold+0xb/0x10\n"
        "[ 6128.057453]  out_of_memory+0x1bd/0x4e0\n"
    )
    assert only(text)["oom"]["scope"] == "unknown"


def test_a_nodemask_of_nodes_is_the_page_allocators_not_a_cgroups():
    """4.8+ print `nodemask=(null)` for a cgroup OOM: a node list there is a global (or
    node-bound) allocation's, whatever the trace lost."""
    text = (
        "Jan 4 10:04:40 vm kernel: [53542.948247] tor invoked oom-killer: gfp_mask=0x24201ca(GFP_HIGHUSER_MOVABLE|__GFP_COLD), nodemask=0, order=0, oom_score_adj=0\n"
        "Jan 4 10:04:40 vm kernel: [53542.948251] CPU: 0 PID: 1439 Comm: tor Not tainted 4.9.0-4-amd64 #1\n"
        "Jan 4 10:04:40 vm kernel: [53542.948272] [<ffffffffb1f80941>] ? out_of_memory+0x111/0x470\n"
    )
    assert only(text)["oom"]["scope"] == "global"


def test_docker_in_docker_attributes_the_inner_container():
    outer, inner = "8dde" + "0" * 60, "c159" + "1" * 60
    text = MEMCG_5_0_CONSTRAINT_NONE.replace(
        "oom_memcg=/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        f"oom_memcg=/docker/{outer}",
    ).replace(
        "task_memcg=/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        f"task_memcg=/docker/{outer}/{inner}",
    )
    assert only(text)["container"]["id"] == inner


@pytest.mark.parametrize(
    "caller",
    [
        "[<ffffffff81187bbd>] ? __alloc_pages_nodemask",
        "[<ffffffff81187bbd>] ? __alloc_pages_nodemask+0x8",
    ],
)
def test_a_frame_cut_after_its_name_still_names_its_function(caller):
    """A fixed-width cut ends a frame after its name or inside its offset: the caller of
    out_of_memory is still shown, and the line was cut."""
    text = (
        "[  401.10] php invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0\n"
        "[  401.11] Call Trace:\n"
        "[  401.12] [<ffffffff811839b2>] ? out_of_memory+0x3bf/0x406\n"
        f"[  401.13] {caller}\n"
    )
    oom = only(text)["oom"]
    assert (oom["scope"], oom["complete"]) == ("global", False)


def test_a_3_x_charge_path_says_a_cgroup_oom_and_its_cpuset_names_the_container():
    """3.x cgroup OOMs come by `__mem_cgroup_try_charge`; before 4.5 there was no v2."""
    cid = "55f00ad3" + "0" * 56
    text = (
        "[Wed Sep  2 10:00:00 2015] php.bin invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0\n"
        f"[Wed Sep  2 10:00:00 2015] php.bin cpuset=docker-{cid}.scope mems_allowed=0\n"
        "[Wed Sep  2 10:00:00 2015] CPU: 0 PID: 4242 Comm: php.bin Not tainted 3.10.0-229.11.1.el7.x86_64 #1\n"
        "[Wed Sep  2 10:00:00 2015] Call Trace:\n"
        "[Wed Sep  2 10:00:00 2015]  [<ffffffff8115a7be>] oom_kill_process+0x24e/0x3b0\n"
        "[Wed Sep  2 10:00:00 2015]  [<ffffffff811bd1ce>] __mem_cgroup_try_charge+0xb\n"
    )
    doc = only(text)
    assert (doc["oom"]["scope"], doc["oom"]["cgroup"]["version"]) == ("memcg", "v1")
    assert doc["container"]["id"] == cid


@pytest.mark.parametrize(
    "lines",
    [
        [
            "[6710782.021013] java invoked oom-killer: gfp_mask=0xd0, order=0, oom_adj=0,"
            " oom_scoe_adj=0",
            "[6710782.257588] Task in /LXC0111 killed as a result of limit of /LXC0111",
            "[6710784.698347] Memory cgroup out of memory: Kill process 215701 (java) score 854 or"
            " sacrifice child",
            "[6710784.707978] Killed process 215701 (java) total-vm:11017300kB,"
            " anon-rss:7152432kB, file-rss:1232kB",
        ],
        [
            "[34341062.257468] Memory cgroup out of memory: Kill process 50398 (java) score 936"
            " or sacrifice child",
            "[34341062.268023] Killed process 50398, UID 697, (java) total-vm:16345624kB,"
            " anon-rss:7822592kB, file-rss:1852kB",
        ],
    ],
    ids=["header-with-oom_adj", "kill-line-with-uid-before-the-name"],
)
def test_a_cgroup_oom_in_line_forms_of_kernels_before_4_5_is_v1(lines):
    """No CPU line gives the release, but a header with `oom_adj=` (2.6-3.x) or a kill line
    with the UID before the name (2.6.18, RHEL 6) was printed by a kernel that had no v2."""
    (doc,) = documents_from_lines(lines)
    assert (doc["oom"]["scope"], doc["oom"]["cgroup"]["version"]) == ("memcg", "v1")


def test_an_empty_task_dump_before_no_killable_processes_is_whole():
    """A boot-time OOM before any user task: the dump's header, no row (unkillable tasks
    are not listed), then the panic. The report said its rows were missing."""
    lines = [
        "[   20.270000] swapper/0 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0,"
        " oom_score_adj=0",
        "[   20.270100] CPU: 0 PID: 1 Comm: swapper/0 Not tainted 5.6.0-rc1 #1",
        "[   20.270200] Call Trace:",
        "[   20.270300] [<ffffffe00005a1c2>] out_of_memory+0x1d2/0x3ac",
        "[   20.270400] [<ffffffe00009a0c0>] __alloc_pages_nodemask+0x6e4/0x7f4",
        "[   20.270500] Mem-Info:",
        "[   20.270600] active_anon:0 inactive_anon:0 isolated_anon:0",
        "[   20.270700] Node 0 DMA32 free:488kB min:488kB low:608kB high:728kB"
        " reserved_highatomic:0KB active_anon:0kB inactive_anon:0kB present:8192kB"
        " managed:6988kB mlocked:0kB free_pcp:0kB local_pcp:0kB free_cma:0kB",
        "[   20.270800] 2048 pages RAM",
        "[   20.276264] Tasks state (memory values in pages):",
        "[   20.277590] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents"
        " oom_score_adj name",
        "[   20.280179] Out of memory and no killable processes...",
    ]
    (doc,) = documents_from_lines(lines)
    assert (doc["oom"]["incomplete_reason"], doc["oom"]["complete"]) == (None, True)


def test_i386_frames_with_the_symbol_in_brackets_are_read():
    """2.6.1x-2.6.2x i386 print `[sym+dec/dec] sym+0xhex/0xhex`: no frame was read, so the
    trace was empty and a report of a kernel that prints no `Pid:` line said it lost it."""
    text = RHEL5_2_6_18.replace(
        " [<ffffffff800c3a6a>] out_of_memory+0x8e/0x2f5",
        " [out_of_memory+389/448] out_of_memory+0x185/0x1c0",
    ).replace(
        " [<ffffffff8000f2eb>] __alloc_pages+0x245/0x2ce",
        " [__alloc_pages+740/832] __alloc_pages+0x2e4/0x340",
    )
    oom, whole = only(text)["oom"], only(RHEL5_2_6_18)["oom"]
    assert oom["incomplete_reason"] == whole["incomplete_reason"] != "cpu_line_missing"


@pytest.mark.parametrize(("cpu_line", "comm"), [(False, None), (True, "stress")])
def test_a_trigger_name_an_author_replaced_by_an_elision_is_no_name(cpu_line, comm):
    """`... invoked oom-killer: gfp_mask=…`: the author left the name out, and `...` was
    taken for it."""
    lines = ["... invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0"]
    if cpu_line:
        lines.append("CPU: 1 PID: 100 Comm: stress Not tainted 6.1.0-13-amd64 #1")
    (doc,) = documents_from_lines(lines)
    oom = doc["oom"]
    assert (oom["trigger"]["name"], oom["trigger"]["gfp_mask"]) == (comm, "0x100cca")
    assert (oom["complete"], "..." in oom["explanation"]) == (False, False)


def test_header_fields_glued_together_are_still_read():
    """A copy that lost the separators: `gfp_mask=0x800d0order=0oom_score_adj=0`."""
    text = (
        "<4>[12345.342532] systemd-journal invoked oom-killer: gfp_mask=0x800d0order=0oom_score_adj=0\n"
        "<4>[12345.342600] Killed process 77 (x) total-vm:100kB, anon-rss:50kB, file-rss:0kB\n"
    )
    trigger = only(text)["oom"]["trigger"]
    assert (trigger["gfp_mask"], trigger["order"], trigger["oom_score_adj"]) == ("0x800d0", 0, 0)


@pytest.mark.parametrize(
    ("fields", "total_vm", "anon_rss", "pgtables"),
    [
        # digits grouped by the page that showed them: read whole
        ("total-vm:26,184,840kB, anon-rss:15,370,088kB, file-rss:0kB", 26184840, 15370088, None),
        # grouped unevenly (`153,700,88kB`): the kernel's digits all the same
        ("total-vm:26,184,840kB, anon-rss:153,700,88kB, file-rss:0kB", 26184840, 15370088, None),
        # a wrap before the unit: the number is whole
        ("total-vm:53312244      kB, anon-rss:800kB, file-rss:0kB", 53312244, 800, None),
        # a quote and prose after the line
        ('total-vm:9100804kB, anon-rss:9066596kB, file-rss:64kB" , why?', 9100804, 9066596, None),
        # a wrap inside a value: its first digits are no number
        (
            "total-vm:900kB, anon-rss:800kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:690      68kB oom_score_adj:0",
            900,
            800,
            None,
        ),
    ],
)
def test_a_kill_lines_sizes_are_read_whole_or_not_at_all(fields, total_vm, anon_rss, pgtables):
    (victim,) = only(f"Out of memory: Killed process 7899 (python) {fields}\n")["oom"]["victims"]
    assert (victim["total_vm_bytes"], victim["anon_rss_bytes"]) == (
        total_vm * 1024,
        None if anon_rss is None else anon_rss * 1024,
    )
    assert victim["pgtables_bytes"] == pgtables


@pytest.mark.parametrize(("killed", "sacrificed"), [(918, False), (1043, True)])
def test_without_a_table_an_older_pid_killed_is_the_chosen_threads_process(killed, sacrificed):
    """The kill of a chosen thread names its thread group's first task (older than the
    thread); a sacrificed child is newer than the process that forked it."""
    text = (
        "Apr 20 09:12:58 vps1 kernel: Out of memory: Kill process 996 (mysqld) score 900 or sacrifice child\n"
        f"Apr 20 09:12:58 vps1 kernel: Killed process {killed} (mysqld), UID 27, total-vm:2184052kB, anon-rss:18492kB, file-rss:0kB\n"
    )
    assert only(text)["oom"]["sacrificed_child"] is sacrificed


def test_a_row_whose_tgid_is_another_pid_is_a_thread():
    """The dump prints the thread that holds the memory map: with the leader gone, a row's
    pid may be a thread of its tgid."""
    text = (
        "[34341065.188900] java invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0\n"
        "[34341065.188950] [ pid ]   uid  tgid total_vm      rss cpu oom_adj oom_score_adj name\n"
        "[34341065.188952] [50416]   697 50398  4086406  1956099  63       0             0 java\n"
        "[34341065.188960] Memory cgroup out of memory: Kill process 50416 (java) score 936 or sacrifice child\n"
        "[34341065.188970] Killed process 50416, UID 697, (java) total-vm:16345624kB, anon-rss:7823540kB, file-rss:856kB\n"
    )
    oom = only(text)["oom"]
    assert (oom["selected_is_thread"], oom["selected"]["tgid"]) == (True, 50398)
