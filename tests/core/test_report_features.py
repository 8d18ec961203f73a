"""Report shapes real pastes and exports take: each test is one format feature, exact fields."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from oom_enricher.model import ShippedRecord
from oom_enricher.pipeline import documents_from_lines
from oom_enricher.skimming.skim_files import skim_documents
from tests.core.report_lines import memcg_report
from tests.corpus_cases import REPO

DOCKER_ID = "3f2a9c4e5b6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8"


def only(text: str) -> dict:
    docs = list(documents_from_lines(text.splitlines()))
    assert len(docs) == 1, [doc["oom"]["victims"] for doc in docs]
    return docs[0]


HEADER_5_15 = """\
stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=1000
CPU: 1 PID: 1021 Comm: stress Not tainted 5.15.0-91-generic #101-Ubuntu
Call Trace:
 <TASK>
 dump_stack_lvl+0x4a/0x63
 </TASK>
memory: usage 102400kB, limit 102400kB, failcnt 12
swap: usage 0kB, limit 9007199254740988kB, failcnt 0
"""
KILL_5_15 = """\
oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/app.slice,task_memcg=/app.slice,task=stress,pid=1021,uid=0
Memory cgroup out of memory: Killed process 1021 (stress) total-vm:299192kB, anon-rss:93176kB, file-rss:316kB, shmem-rss:12kB, UID:0 pgtables:476kB oom_score_adj:1000
"""
ROWS_5_15 = """\
[    612]     0   612     2771      123    61440        0         -1000 systemd-udevd
[   1021]     0  1021    74798    23376   487424        0          1000 stress
"""
TASKS_5_15 = [
    {
        "pid": 612,
        "uid": 0,
        "tgid": 612,
        "total_vm_pages": 2771,
        "rss_pages": 123,
        "pgtables_bytes": 61440,
        "swapents": 0,
        "oom_score_adj": -1000,
        "name": "systemd-udevd",
    },
    {
        "pid": 1021,
        "uid": 0,
        "tgid": 1021,
        "total_vm_pages": 74798,
        "rss_pages": 23376,
        "pgtables_bytes": 487424,
        "swapents": 0,
        "oom_score_adj": 1000,
        "name": "stress",
    },
]
TABLE_HEADER = (
    "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name\n"
)


# -- 7: task-table rows with no header ---------------------------------------------------


def test_headerless_rows_of_a_grep_filtered_paste_are_read_by_their_own_layout():
    doc = only(ROWS_5_15 + KILL_5_15)
    oom = doc["oom"]
    assert oom["tasks"] == TASKS_5_15
    assert oom["complete"] is False


def test_a_paste_that_lost_the_table_header_is_not_complete():
    oom = only(HEADER_5_15 + "Tasks state (memory values in pages):\n" + ROWS_5_15 + KILL_5_15)[
        "oom"
    ]
    assert oom["tasks"] == TASKS_5_15
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "task_header_missing")


@pytest.mark.parametrize(
    ("kernel", "row", "expect"),
    [
        (
            "6.8.0-31-generic",
            "[   1021]     0  1021    74798    23376    23000      300       76   487424        0"
            "          1000 stress",
            {
                "rss_anon_pages": 23000,
                "rss_file_pages": 300,
                "rss_shmem_pages": 76,
                "pgtables_bytes": 487424,
                "swapents": 0,
                "oom_score_adj": 1000,
            },
        ),
        (
            "4.9.0-4-amd64",
            "[ 1021]     0  1021    74798    23376     150       4        0          1000 stress",
            {"nr_ptes": 150, "nr_pmds": 4, "swapents": 0, "oom_score_adj": 1000},
        ),
        (
            "3.10.0-1160.el7.x86_64",
            "[ 1021]     0  1021    74798    23376     150        7          1000 stress",
            {"nr_ptes": 150, "swapents": 7, "oom_score_adj": 1000},
        ),
        (
            "2.6.32-431.el6.x86_64",
            "[ 1021]    48  1021    74798    23376   1       0             0 stress",
            {"cpu": 1, "oom_adj": 0, "oom_score_adj": 0},
        ),
        (
            None,  # no CPU line: a negative seventh value can only be oom_adj
            "[ 1021]     0  1021    74798    23376   3     -17         -1000 stress",
            {"cpu": 3, "oom_adj": -17, "oom_score_adj": -1000},
        ),
        (
            None,  # no CPU line: resident pages need page tables, so a 0 there is the CPU
            "[ 1021]     0  1021    74798    23376   0       0             0 stress",
            {"cpu": 0, "oom_adj": 0, "oom_score_adj": 0},
        ),
        (
            None,  # no CPU line: whole pages of page tables are pgtables_bytes
            "[   1021]     0  1021    74798    23376   487424        0          1000 stress",
            {"pgtables_bytes": 487424, "swapents": 0, "oom_score_adj": 1000},
        ),
    ],
)
def test_headerless_row_layout_by_kernel_generation(kernel, row, expect):
    cpu = f"CPU: 1 PID: 1021 Comm: stress Not tainted {kernel} #1\n" if kernel else ""
    killed = "Killed process 1021 (stress) total-vm:299192kB, anon-rss:93176kB, file-rss:316kB\n"
    (task,) = only(cpu + row + "\n" + killed)["oom"]["tasks"]
    base = {"pid": 1021, "tgid": 1021, "total_vm_pages": 74798, "rss_pages": 23376}
    assert task == base | {"uid": task["uid"], "name": "stress"} | expect


# -- 9: elision lines inside a report -------------------------------------------------------


def test_the_look_back_passes_over_an_indented_elision_where_the_stamps_jump():
    """A mail paste from the usage line on, soft-wrapped (trailing spaces), an indented `:`
    where the author cut 6 s of lines, then the table: the cut was taken for a line of the
    shipper's (it carries the stamp before it), and the 6 s across it stopped the look-back,
    so the usage figures and the scope were lost."""
    rows = ROWS_5_15.splitlines()
    text = (
        "[ 8221.433608] memory: usage 102400kB, limit 102400kB, failcnt 12\n"
        "   :\n"
        "[ 8227.239769] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes \n"
        "swapents oom_score_adj name\n"
        f"[ 8227.242495] {rows[0]}\n[ 8227.242518] {rows[1]}\n"
        "[ 8227.242706] Memory cgroup out of memory: Killed process 1021 (stress) "
        "total-vm:299192kB, anon-rss:93176kB, file-rss:316kB, shmem-rss:12kB\n"
    )
    oom = only(text)["oom"]
    assert (oom["scope"], oom["memory"]["usage_bytes"]) == ("memcg", 102400 * 1024)
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "elided")
    assert oom["tasks"] == TASKS_5_15


@pytest.mark.parametrize("elision", ["...", "…", "[...]", "(...snipped...)", ":"])
def test_an_elision_inside_the_task_table_keeps_the_table_and_marks_the_report(elision):
    rows = ROWS_5_15.splitlines()
    text = HEADER_5_15 + TABLE_HEADER + rows[0] + f"\n{elision}\n" + rows[1] + "\n" + KILL_5_15
    oom = only(text)["oom"]
    assert oom["tasks"] == TASKS_5_15
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "elided")


def test_the_look_back_passes_over_an_elision():
    # no header: the report is found at its summary line and recovered by looking back
    body = HEADER_5_15.splitlines()[1:]
    text = "\n".join(body[:1] + ["(...snipped...)"] + body[1:]) + "\n" + TABLE_HEADER + ROWS_5_15
    oom = only(text + KILL_5_15)["oom"]
    assert oom["incomplete_reason"] == "elided"
    assert oom["trigger"]["pid"] == 1021
    assert oom["memory"]["limit_bytes"] == 102400 * 1024
    assert oom["tasks"] == TASKS_5_15


# -- 10: a task row cut before the name -----------------------------------------------------


@pytest.mark.parametrize(
    "cut",
    [
        "[   1021]     0  1021    74798    23376   487424        0          1000",  # width
        "[   1021]     0  1021    74798    23376   487424        0          1000 …",  # pager
        "[   1021]     0  1021    74798    23376   487424        0          10…",
    ],
)
def test_a_row_cut_before_the_name_keeps_its_numbers(cut):
    rows = ROWS_5_15.splitlines()
    oom = only(HEADER_5_15 + TABLE_HEADER + rows[0] + "\n" + cut + "\n" + KILL_5_15)["oom"]
    kept = {key: value for key, value in TASKS_5_15[1].items() if key != "name"}
    if cut.endswith("10…"):
        del kept["oom_score_adj"]  # a number cut in the middle is no number
    assert oom["tasks"] == [TASKS_5_15[0], kept]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "truncated_line")


@pytest.mark.parametrize(
    "value",
    ["--5", "2771²", "２７７１", "-"],  # damaged bytes, a superscript, full-width digits, a sign
)
def test_a_task_row_with_a_value_that_is_no_number_is_dropped_and_the_report_is_not_complete(
    value,
):
    damaged = ROWS_5_15.splitlines()[0].replace("2771", value, 1)
    rows = damaged + "\n" + ROWS_5_15.splitlines()[1] + "\n"
    oom = only(HEADER_5_15 + TABLE_HEADER + rows + KILL_5_15)["oom"]
    assert oom["tasks"] == [TASKS_5_15[1]]
    assert oom["victims"][0]["pid"] == 1021
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "unreadable_line")


@pytest.mark.parametrize("cut", ["[    612] …", "[    612]     0 ..."])
def test_a_row_cut_right_after_its_pid_is_a_truncated_line(cut):
    rows = cut + "\n" + ROWS_5_15.splitlines()[1] + "\n"
    oom = only(HEADER_5_15 + TABLE_HEADER + rows + KILL_5_15)["oom"]
    assert [task["pid"] for task in oom["tasks"]][-1] == 1021
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "truncated_line")


def test_parse_of_a_file_with_a_damaged_task_row_writes_the_other_reports(tmp_path):
    seed = (REPO / "tests" / "corpus" / "seed-docker-beam.log").read_text()
    damaged = seed.replace("     48        3", "    --5        3", 1)
    assert damaged != seed
    path = tmp_path / "two.log"
    path.write_text(damaged + HEADER_5_15 + TABLE_HEADER + ROWS_5_15 + KILL_5_15)
    docs = [orjson.loads(line) for line in _parse_cli(path).splitlines()]
    assert [doc["oom"]["victims"][0]["pid"] for doc in docs] == [20977, 1021]
    assert docs[0]["oom"]["incomplete_reason"] == "unreadable_line"
    assert docs[1]["oom"]["complete"] is True


def _parse_cli(path) -> bytes:
    done = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "parse", str(path)],
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


# -- honesty: complete only when nothing is missing -----------------------------------------


def test_a_table_header_with_no_rows_is_not_complete():
    oom = only(HEADER_5_15 + TABLE_HEADER + KILL_5_15)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "task_rows_missing")


def test_a_header_without_its_cpu_line_is_not_complete():
    text = HEADER_5_15.splitlines()[0] + "\n" + KILL_5_15
    oom = only(text)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "cpu_line_missing")
    assert oom["trigger"]["name"] == "stress"


def test_the_whole_report_is_complete():
    oom = only(HEADER_5_15 + TABLE_HEADER + ROWS_5_15 + KILL_5_15)["oom"]
    assert (oom["complete"], oom["incomplete_reason"], oom["tasks"]) == (True, None, TASKS_5_15)


def test_a_foreign_line_inside_the_memcg_stats_does_not_end_them():
    path = REPO / "oom_enricher" / "samples" / "fleet-interleaved.log"
    docs = {doc["host"]["name"]: doc["oom"] for doc in skim_documents([str(path)])}
    node6 = docs["node-0006.fleet.example"]
    assert len(node6["memcg_stats"]) == len(docs["node-0005.fleet.example"]["memcg_stats"]) == 51
    assert (node6["memcg_stats"]["percpu"], node6["memcg_stats"]["zswap"]) == (0, 0)
    assert node6["memcg_stats"]["sock"] == 183623680
    assert node6["complete"] is True


def test_a_foreign_line_inside_the_task_table_does_not_end_it():
    rows = ROWS_5_15.splitlines()
    foreign = "eth0: renamed from veth18470"
    text = HEADER_5_15 + TABLE_HEADER + rows[0] + f"\n{foreign}\n" + rows[1] + "\n" + KILL_5_15
    oom = only(text)["oom"]
    assert (oom["tasks"], oom["complete"]) == (TASKS_5_15, True)


# -- 11: a damaged first prefix --------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "  617.319540] Web Content invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        "_Web Content invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
    ],
)
def test_a_lost_bracket_leaves_debris_the_cpu_line_does_not_have(header):
    text = f"""\
{header}
CPU: 6 PID: 2279 Comm: Web Content Not tainted 4.15.8 #1
Call Trace:
 dump_stack+0x5c/0x79
Out of memory: Kill process 2279 (Web Content) score 426 or sacrifice child
Killed process 2279 (Web Content) total-vm:5606512kB, anon-rss:1694156kB, file-rss:0kB, shmem-rss:0kB
"""
    oom = only(text)["oom"]
    assert (oom["trigger"]["name"], oom["trigger"]["pid"]) == ("Web Content", 2279)
    assert "617" not in oom["explanation"] and "_Web" not in oom["explanation"]


def test_a_prefix_left_in_front_of_a_header_without_cpu_line_is_not_the_name():
    text = (
        "> jun 20 10:00:00 web-3 kernel: php-fpm invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL),"
        " order=0, oom_score_adj=0\n"
        "Out of memory: Killed process 4411 (php-fpm) total-vm:812000kB, anon-rss:700000kB,"
        " file-rss:0kB, shmem-rss:0kB\n"
    )
    oom = only(text)["oom"]
    assert oom["trigger"]["name"] == "php-fpm"
    assert "jun 20" not in oom["explanation"]


# -- 8: the container where no summary line names it ----------------------------------------

GLOBAL_4_14_DOCKER_CGROUPFS = f"""\
java invoked oom-killer: gfp_mask=0x14200ca(GFP_HIGHUSER_MOVABLE), nodemask=(null), order=0, oom_score_adj=0
java cpuset={DOCKER_ID} mems_allowed=0
CPU: 1 PID: 4321 Comm: java Not tainted 4.14.0-115.el7a.x86_64 #1
Call Trace:
 dump_stack+0x5c/0x79
Mem-Info:
Out of memory: Kill process 4321 (java) score 900 or sacrifice child
Killed process 4321 (java) total-vm:8388608kB, anon-rss:3145728kB, file-rss:0kB, shmem-rss:0kB
"""


def test_before_4_19_the_cpuset_leaf_names_the_container_of_a_trigger_that_was_killed():
    doc = only(GLOBAL_4_14_DOCKER_CGROUPFS)
    assert doc["container"] == {"id": DOCKER_ID}
    assert doc["oom"]["trigger"]["cpuset"] == DOCKER_ID
    assert f"container {DOCKER_ID[:12]}" in doc["oom"]["explanation"]


def test_the_cpuset_of_a_trigger_that_was_not_killed_names_no_container_of_the_victim():
    text = GLOBAL_4_14_DOCKER_CGROUPFS.replace(
        "Killed process 4321 (java)", "Killed process 77 (redis)"
    )
    assert "container" not in only(
        text.replace("Kill process 4321 (java)", "Kill process 77 (redis)")
    )


MEMCG_NO_KILLABLE_5_10 = f"""\
stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-1000
CPU: 0 PID: 812 Comm: stress Not tainted 5.10.0-26-amd64 #1 Debian 5.10.197-1
Call Trace:
 dump_stack+0x6b/0x83
 dump_header+0x4a/0x1f4
 mem_cgroup_out_of_memory+0x13c/0x150
memory: usage 102400kB, limit 102400kB, failcnt 37
swap: usage 0kB, limit 9007199254740988kB, failcnt 0
Memory cgroup stats for /system.slice/docker-{DOCKER_ID}.scope:
anon 103809024
file 0
kernel_stack 16384
Tasks state (memory values in pages):
[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[    812]     0   812    27000    25400   249856        0         -1000 stress
Out of memory and no killable processes...
"""


def test_a_memcg_report_with_no_killable_process_is_attributed_by_its_stats_path():
    doc = only(MEMCG_NO_KILLABLE_5_10)
    oom = doc["oom"]
    assert oom["cgroup"]["oom_path"] == f"/system.slice/docker-{DOCKER_ID}.scope"
    assert doc["container"] == {"id": DOCKER_ID, "runtime": "docker"}
    assert (oom["scope"], oom["limit_hit"], oom["no_killable"]) == ("memcg", "memory", True)
    text = oom["explanation"]
    assert "?" not in text
    assert f"in docker container {DOCKER_ID[:12]}" in text
    assert f"cgroup /system.slice/docker-{DOCKER_ID[:12]}….scope (100 MiB)" in text


# -- 16: only the summary line survives ------------------------------------------------------

POD = "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
POD_PATH = (
    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
    + POD.replace("-", "_")
    + ".slice"
)
CONTAINER_PATH = f"{POD_PATH}/cri-containerd-{DOCKER_ID}.scope"


def summary(pid: int, task_memcg: str = CONTAINER_PATH, oom_memcg: str = CONTAINER_PATH) -> str:
    return (
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
        f"cpuset=cri-containerd-{DOCKER_ID}.scope,mems_allowed=0,oom_memcg={oom_memcg},"
        f"task_memcg={task_memcg},task=java,pid={pid},uid=1000"
    )


def test_grep_oom_kill_output_gives_one_incomplete_document_per_summary_line():
    text = (
        f"Jun 20 10:00:01 node-1 kernel: [ 1000.000001] {summary(4242)}\n"
        f"Jun 20 10:05:01 node-1 kernel: [ 1300.000001] {summary(4377)}\n"
    )
    docs = list(documents_from_lines(text.splitlines()))
    assert [doc["oom"]["victims"][0]["pid"] for doc in docs] == [4242, 4377]
    for doc in docs:
        oom = doc["oom"]
        assert oom["complete"] is False
        victim = oom["victims"][0]
        assert (victim["name"], victim["uid"], victim["named_by"]) == ("java", 1000, "summary")
        assert doc["process"]["name"] == "java" and doc["user"] == {"id": "1000"}
        assert oom["cgroup"]["task_path"] == oom["cgroup"]["oom_path"] == CONTAINER_PATH
        assert doc["container"] == {"id": DOCKER_ID, "runtime": "containerd"}
        assert doc["kubernetes"]["pod"] == {"uid": POD, "qos_class": "burstable"}


# -- 18: attribution from whichever cgroup path survives -------------------------------------


def test_a_task_memcg_cut_short_leaves_the_attribution_to_the_whole_oom_memcg():
    line = summary(4242)
    cut = line[: line.index("task_memcg=") + len("task_memcg=") + len(POD_PATH) + 30]
    doc = only(cut)
    assert doc["oom"]["cgroup"]["oom_path"] == CONTAINER_PATH
    assert doc["container"] == {"id": DOCKER_ID, "runtime": "containerd"}
    assert doc["kubernetes"]["pod"] == {"uid": POD, "qos_class": "burstable"}
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (False, "truncated_line")


def test_a_pod_limit_with_the_task_path_cut_still_names_the_pod():
    line = summary(4242, oom_memcg=POD_PATH)
    cut = line[: line.index("task_memcg=") + len("task_memcg=") + len(POD_PATH) - 20]
    doc = only(cut)
    assert "container" not in doc
    assert doc["kubernetes"]["pod"] == {"uid": POD, "qos_class": "burstable"}


# -- 12: the panic variant -------------------------------------------------------------------

GLOBAL_HEADER_3_2 = """\
init invoked oom-killer: gfp_mask=0x201da, order=0, oom_score_adj=0
CPU: 0 PID: 1 Comm: init Not tainted 3.2.0-4-amd64 #1 Debian 3.2.51-1
Call Trace:
 [<ffffffff81067c1d>] ? dump_header+0x78/0x1bd
Mem-Info:
active_anon:1890541 inactive_anon:6 isolated_anon:0
Node 0 DMA free:15900kB min:20kB low:24kB high:28kB active_anon:0kB inactive_anon:0kB present:15652kB pages_scanned:0 all_unreclaimable? yes
Free swap  = 0kB
Total swap = 0kB
"""


@pytest.mark.parametrize(
    "panic",
    [
        "Kernel panic - not syncing: Out of memory and no killable processes...",
        "1234.567890] Kernel panic - not syncing: Out of memory and no killable processes...",
    ],
)
def test_the_panic_variant_of_no_killable_processes(panic):
    oom = only(GLOBAL_HEADER_3_2 + panic + "\n")["oom"]
    assert (oom["victims"], oom["no_killable"], oom["complete"]) == ([], True, True)
    assert oom["panic"] == "Out of memory and no killable processes..."
    assert oom["explanation"].startswith(
        "The kernel ran out of memory and found no process it could kill, so the machine panicked."
    )


def test_the_panic_after_no_killable_processes_joins_the_report():
    text = GLOBAL_HEADER_3_2.replace("3.2.0-4-amd64", "4.19.0-18-amd64") + (
        "Out of memory and no killable processes...\n"
        "Kernel panic - not syncing: System is deadlocked on memory\n"
    )
    oom = only(text)["oom"]
    assert (oom["panic"], oom["no_killable"], oom["lines_count"]) == (
        "System is deadlocked on memory",
        True,
        11,
    )
    assert "so the machine panicked (System is deadlocked on memory)." in oom["explanation"]


def test_panic_on_oom_ends_the_report_with_a_panic_and_no_victim():
    text = GLOBAL_HEADER_3_2 + (
        "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled\n"
    )
    oom = only(text)["oom"]
    assert (oom["victims"], oom["panic"], oom["complete"]) == (
        [],
        "Out of memory: system-wide panic_on_oom is enabled",
        True,
    )
    assert (
        "the machine panicked instead of killing a process, because vm.panic_on_oom is set"
        in oom["explanation"]
    )
    assert "does not show who was killed" not in oom["explanation"]


def test_the_dump_panic_prints_after_its_line_joins_the_report():
    """`crash> log` of a panic_on_oom box: the last task rows, the panic, then panic()'s own
    CPU line and stack. The dump was left out, with the trigger's pid and the kernel it
    names; `system-wide` says the OOM was (vm.panic_on_oom=1 panics for no other)."""
    lines = [
        '[43145.386847] [  12609]     0 12609     7001      222    94208        0             0 crond',
        '[43145.399689] Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled',
        '               ',
        '[43145.405103] CPU: 1 PID: 2444 Comm: smpolicysrv Kdump: loaded Not tainted 4.18.0-553.47.1.el8_10.x86_64 #1',
        '[43145.411186] Hardware name: Microsoft Corporation Virtual Machine/Virtual Machine, BIOS 090008  12/07/2018',
        '[43145.416808] Call Trace:',
        '[43145.418144]  dump_stack+0x41/0x60',
        '[43145.419867]  panic+0xe7/0x2ac',
        '[43145.421410]  out_of_memory.cold.36+0x2f/0x7e',
        '[43145.480000] ---[ end Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled ]---',
        '[43150.000000] hv_balloon: Balloon request will be partially fulfilled. Balloon floor reached.',
    ]  # fmt: skip
    text = "\n".join(lines) + "\n"  # the console's blank continuation line kept
    doc = only(text)
    oom = doc["oom"]
    assert (oom["trigger"]["pid"], oom["trigger"]["cpu"]) == (2444, 1)
    assert doc["host"]["os"]["kernel"] == "4.18.0-553.47.1.el8_10.x86_64"
    assert (oom["scope"], oom["panic"]) == (
        "global",
        "Out of memory: system-wide panic_on_oom is enabled",
    )
    assert "hv_balloon" not in doc["event"]["original"]
    assert "panic+0xe7/0x2ac" in doc["event"]["original"]


def test_a_panic_with_no_report_before_it_is_no_report():
    assert (
        list(documents_from_lines(["Kernel panic - not syncing: System is deadlocked on memory"]))
        == []
    )


# -- 14: OpenVZ / Virtuozzo beancounter OOMs ------------------------------------------------

UB_OOMS = """\
Nov 24 12:17:04 hwnode kernel: [758955.653217] OOM killer in rage, 16 tasks killed in ub 1234
Nov 24 12:17:04 hwnode kernel: [758955.653313] Out of memory in UB 1234: OOM killed process 21738 (php-cgi) score 0 vm:281988kB, rss:17004kB, swap:0kB
Nov 24 12:17:07 hwnode kernel: [758957.803617] Out of memory in UB 1234: OOM killed process 21747 (php-cgi) score 0 vm:281988kB, rss:17008kB, swap:0kB
"""


def test_each_beancounter_kill_is_a_document_of_its_own_kind():
    docs = list(documents_from_lines(UB_OOMS.splitlines()))
    assert [doc["process"] for doc in docs] == [
        {"pid": 21738, "name": "php-cgi"},
        {"pid": 21747, "name": "php-cgi"},
    ]
    for doc in docs:
        oom = doc["oom"]
        assert doc["container"] == {"id": "1234", "runtime": "openvz"}
        assert (oom["scope"], oom["complete"], oom["victims_count"]) == ("beancounter", True, 1)
        assert oom["victims"][0]["total_vm_bytes"] == 281988 * 1024
        assert oom["selected"]["score"] == 0
        assert oom["explanation"].startswith(
            f"The kernel OOM killer killed php-cgi (pid {oom['victims'][0]['pid']}) "
            "in OpenVZ container 1234 on hwnode. The memory its OpenVZ beancounter allows"
        )


def test_a_redacted_beancounter_id_names_no_container():
    """`Out of memory in UB XXXX:` (the author masked the container id): the mask was
    taken for the container's id."""
    line = UB_OOMS.splitlines()[1].replace("UB 1234", "UB XXXX")
    (doc,) = documents_from_lines([line])
    assert (doc["oom"]["scope"], doc["process"]["pid"]) == ("beancounter", 21738)
    assert "container" not in doc
    assert "XXXX" not in doc["oom"]["explanation"]


def test_the_2_6_18_openvz_kill_line_names_its_container():
    text = "Apr 20 20:03:27 EL135 kernel: OOM killed process watchdog (pid=14490, ve=13516) exited, free=43104 gen=24501."
    (doc,) = documents_from_lines([text])
    assert doc["process"] == {"pid": 14490, "name": "watchdog"}
    assert (doc["container"], doc["oom"]["scope"]) == (
        {"id": "13516", "runtime": "openvz"},
        "beancounter",
    )


# -- honesty: the explanation states only what the report shows ------------------------------


def test_a_trigger_of_the_victims_name_is_not_said_to_be_spared():
    text = HEADER_5_15.replace("PID: 1021", "PID: 1044") + TABLE_HEADER + ROWS_5_15 + KILL_5_15
    text = text.replace("stress invoked", "stress invoked", 1)
    oom = only(text)["oom"]
    assert (oom["trigger"]["pid"], oom["victims"][0]["pid"]) == (1044, 1021)
    assert "instead" not in oom["explanation"]
    assert "a task of the same name as the one killed" in oom["explanation"]


SACRIFICE_INIT_4_4 = """\
sshd invoked oom-killer: gfp_mask=0x24201ca, order=0, oom_score_adj=0
CPU: 0 PID: 733 Comm: sshd Not tainted 4.4.0-21-generic #37-Ubuntu
Call Trace:
 [<ffffffff813eab23>] dump_stack+0x63/0x90
Mem-Info:
Node 0 DMA free:15732kB min:60kB low:72kB high:88kB present:15332kB managed:15248kB pages_scanned:0 all_unreclaimable? yes
Free swap  = 0kB
Total swap = 0kB
262014 pages RAM
[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name
[    1]     0     1     9340      600      22       3        0             0 systemd
[  733]     0   733    16380      200      34       3        0             0 sshd
Out of memory: Kill process 1 (systemd) score 1 or sacrifice child
Killed process 733 (sshd) total-vm:65520kB, anon-rss:800kB, file-rss:0kB
"""


def test_a_sacrificed_child_of_init_does_not_make_init_big():
    oom = only(SACRIFICE_INIT_4_4)["oom"]
    assert (oom["sacrificed_child"], oom["selected"]["score"]) == (True, 1)
    text = oom["explanation"]
    assert "big process" not in text
    assert "so systemd itself was not killed" in text
    assert "kills the task whose allocation failed" not in text  # sshd was killed already


def test_a_nodemask_restricted_oom_is_not_the_whole_machine():
    text = (
        "tor invoked oom-killer: gfp_mask=0x24201ca(GFP_HIGHUSER_MOVABLE|__GFP_COLD), nodemask=1,"
        " order=0, oom_score_adj=0\n"
        + GLOBAL_4_14_DOCKER_CGROUPFS.split("\n", 1)[1].replace("4.14.0-115.el7a", "4.9.0-4")
    )
    oom = only(text)["oom"]
    assert "whole machine ran out" not in oom["explanation"]
    assert (
        "The NUMA nodes this allocation may use (nodemask=1) ran out of memory"
        in oom["explanation"]
    )


@pytest.mark.parametrize(
    "text",
    [
        HEADER_5_15 + TABLE_HEADER + ROWS_5_15 + KILL_5_15,
        GLOBAL_4_14_DOCKER_CGROUPFS,
        MEMCG_NO_KILLABLE_5_10,
        UB_OOMS,
        SACRIFICE_INIT_4_4,
        GLOBAL_HEADER_3_2
        + "Kernel panic - not syncing: Out of memory and no killable processes...\n",
    ],
    ids=[
        "memcg-5.15",
        "global-4.14-docker",
        "memcg-no-killable",
        "openvz",
        "sacrifice-init",
        "panic",
    ],
)
def test_these_explanations_name_only_what_their_reports_show(text):
    from tests.core.test_explanation import _unsupported

    for doc in documents_from_lines(text.splitlines()):
        assert _unsupported(doc) == [], doc["oom"]["explanation"]


def test_a_report_shaped_line_that_does_cut_the_task_table_leaves_the_report_incomplete():
    rows = ROWS_5_15.splitlines()
    other = " dump_stack_lvl+0x4a/0x63"  # a stack frame of another dump, same host
    text = HEADER_5_15 + TABLE_HEADER + rows[0] + f"\n{other}\n" + rows[1] + "\n" + KILL_5_15
    oom = only(text)["oom"]
    assert oom["tasks"] == TASKS_5_15
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "block_interrupted")


def test_a_report_shaped_line_that_does_cut_the_memcg_stats_leaves_the_report_incomplete():
    stats = "Memory cgroup stats for /app.slice:\nanon 1048576\nfile 4096\n"
    cut = (
        "Memory cgroup stats for /app.slice:\nanon 1048576\n dump_stack_lvl+0x4a/0x63\nfile 4096\n"
    )
    whole = only(HEADER_5_15 + stats + TABLE_HEADER + ROWS_5_15 + KILL_5_15)["oom"]
    assert (whole["complete"], whole["memcg_stats"]) == (True, {"anon": 1048576, "file": 4096})
    oom = only(HEADER_5_15 + cut + TABLE_HEADER + ROWS_5_15 + KILL_5_15)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "block_interrupted")


@pytest.mark.parametrize(
    "text",
    [
        UB_OOMS,
        f"Jun 20 10:00:01 node-1 kernel: [ 1000.000001] {summary(4242)}\n"
        f"Jun 20 10:05:01 node-1 kernel: [ 1300.000001] {summary(4377)}\n",
        GLOBAL_HEADER_3_2
        + "Out of memory and no killable processes...\n"
        + "Kernel panic - not syncing: System is deadlocked on memory\n",
        "Kernel panic - not syncing: System is deadlocked on memory\n" + MEMCG_NO_KILLABLE_5_10,
    ],
    ids=["openvz", "summaries", "panic-after-no-killable", "panic-before-a-report"],
)
def test_the_skimming_reader_gives_the_same_documents(tmp_path, text):
    from tests.core.test_skim_equivalence import both

    path = tmp_path / "kern.log"
    path.write_text(text)
    skimmed, by_line = both(path)
    assert skimmed == by_line and by_line


def test_a_memcg_report_that_lost_its_task_in_line_takes_the_container_from_the_cpuset():
    text = f"""\
worker invoked oom-killer: gfp_mask=0x14000c0(GFP_KERNEL), nodemask=(null), order=0, oom_score_adj=0
worker cpuset={DOCKER_ID} mems_allowed=0
CPU: 2 PID: 5150 Comm: worker Not tainted 4.14.35-1902.el7uek.x86_64 #2
Call Trace:
 dump_stack+0x63/0x85
 mem_cgroup_out_of_memory+0x4b/0x80
memory: usage 262144kB, limit 262144kB, failcnt 91
memory+swap: usage 262144kB, limit 9007199254740988kB, failcnt 0
Memory cgroup out of memory: Kill process 5151 (server) score 988 or sacrifice child
Killed process 5151 (server) total-vm:1048576kB, anon-rss:258000kB, file-rss:0kB, shmem-rss:0kB
"""
    doc = only(text)
    assert (doc["oom"]["scope"], doc["oom"]["cgroup"]["oom_path"]) == ("memcg", None)
    assert doc["container"] == {"id": DOCKER_ID}
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (
        False,
        "cgroup_line_missing",
    )
    assert (
        "The memory limit of its memory cgroup (256 MiB) was reached" in doc["oom"]["explanation"]
    )


def test_a_memcg_limit_of_zero_with_failed_charges_is_the_limit_hit():
    """A cgroup allowed no memory (`limit 0kB`, failcnt 20: syzbot sets such limits) hit its
    memory limit; the zero limit was left out of the comparison and gave `unknown`."""
    header = HEADER_5_15.replace(
        "memory: usage 102400kB, limit 102400kB, failcnt 12",
        "memory: usage 0kB, limit 0kB, failcnt 20",
    )
    oom = only(header + KILL_5_15)["oom"]
    assert (oom["limit_hit"], oom["memory"]["limit_bytes"], oom["usage_ratio"]) == (
        "memory",
        0,
        None,
    )


def test_a_zero_swap_limit_never_charged_is_not_the_limit_hit():
    """cgroup v2 `swap: usage 0kB, limit 0kB, failcnt 0` is a cgroup that never swaps."""
    header = HEADER_5_15.replace(
        "memory: usage 102400kB, limit 102400kB, failcnt 12",
        "memory: usage 102400kB, limit 9007199254740988kB, failcnt 0",
    ).replace("swap: usage 0kB, limit 9007199254740988kB", "swap: usage 0kB, limit 0kB")
    oom = only(header + KILL_5_15)["oom"]
    assert (oom["memory"]["unlimited"], oom["swap"]["limit_bytes"]) == (True, 0)
    assert oom["limit_hit"] == "unknown"


GREP_POD = "0f5eb28f-6722-4cf5-ab0f-b62748c018d4"
GREP_A_CONTEXT = f"""\
[198542.576728] Task in /kubepods/burstable/pod{GREP_POD}/0dc1822caf9e killed as a result of limit of /kubepods/burstable/pod{GREP_POD}
[198542.576733] memory: usage 122880kB, limit 122880kB, failcnt 83
[198542.576734] memory+swap: usage 122880kB, limit 9007199254740988kB, failcnt 0
[198542.576734] kmem: usage 0kB, limit 9007199254740988kB, failcnt 0
[198542.576735] Memory cgroup stats for /kubepods/burstable/pod{GREP_POD}: cache:0KB rss:0KB
"""


def test_memcg_context_lines_alone_are_an_incomplete_report(tmp_path, monkeypatch):
    """`grep -A4 'Task in'` output: no header, task table or kill line, only the memcg
    context; it gave no document, and the pod, paths and usage were lost."""
    from tests.core.pasted_reports import read_every_way

    (doc,) = read_every_way(tmp_path, GREP_A_CONTEXT, monkeypatch)
    oom = doc["oom"]
    assert (oom["complete"], oom["scope"], oom["cgroup"]["version"]) == (False, "memcg", "v1")
    assert oom["cgroup"]["oom_path"] == f"/kubepods/burstable/pod{GREP_POD}"
    assert doc["kubernetes"]["pod"]["uid"] == GREP_POD
    assert (oom["memory"]["usage_bytes"], oom["limit_hit"]) == (122880 * 1024, "memory")
    assert oom["victims"] == []
    assert "does not show who was killed" in oom["explanation"]


@pytest.mark.parametrize(
    ("release", "version"), [("5.15.0-91-generic", "unknown"), ("6.8.0-31-generic", "v2")]
)
def test_cgroup_v2_layout_of_the_stats_alone_means_v2_only_from_6_6(release, version):
    """5.3-6.5 print memory.stat in the v2 `key value` layout for v1 cgroups too: a report
    whose usage lines are missing was called v2 from its stats alone."""
    text = f"""\
CPU: 0 PID: 1021 Comm: stress Not tainted {release} #101-Ubuntu
Memory cgroup stats for /mem_test:
anon 9842688
file 0
{KILL_5_15.splitlines()[1]}
"""
    oom = only(text)["oom"]
    assert oom["memcg_stats"] == {"anon": 9842688, "file": 0}
    assert oom["cgroup"]["version"] == version


def test_a_report_repeated_verbatim_with_sub_second_wall_stamps_is_one_document(tmp_path):
    """The same ISO-stamped report twice in one file (saved twice, other lines between):
    the second copy amended the first with every line again (lines_count doubled), as a
    wall-clock stamp, unlike a kernel stamp, never told a line already held."""
    talos = next((REPO / "tests" / "corpus").glob("047-*.log")).read_text()
    between = "kern:    info: [2026-07-25T14:23:18.100000000Z]: eth0: link up\n"
    path = tmp_path / "twice.log"
    path.write_text(talos + between + talos)
    docs = list(skim_documents([str(path)]))
    assert [(doc["process"]["pid"], doc["oom"]["lines_count"]) for doc in docs] == [(109324, 2)]


def test_lines_sharing_one_wall_stamp_are_never_taken_for_repeats():
    """Frames folded into one rsyslog line (`#012`) share its stamp; a record's time and a
    second-resolution stamp are shared too: such lines keep no wall identity."""
    from oom_enricher.normalize.line_normalizer import LineNormalizer
    from oom_enricher.reassembly.open_report import line_identity

    stamp = "2026-07-25T14:23:17.527285+00:00 web1 kernel: "
    folded = LineNormalizer().normalize(stamp + " ? a+0x1/0x2#012 ? a+0x1/0x2#012 ? a+0x1/0x2")
    assert len(folded) == 3
    assert len({line_identity(line) for line in folded[:-1]}) == 1  # None: all kept
    assert line_identity(folded[0]) is None
    (alone,) = LineNormalizer().normalize(stamp + "Killed process 1 (a)")
    assert line_identity(alone) is not None
    (coarse,) = LineNormalizer().normalize("Nov 25 10:00:05 web1 kernel: Killed process 1 (a)")
    assert line_identity(coarse) is None


def test_a_selected_pid_missing_from_a_table_whose_largest_process_has_another_name_is_no_thread():
    """A paste cut the table: the selected php5-fpm 31826 is not in it, two smaller php5-fpm
    rows are. It was called a thread of the larger of them (tgid 4515), which a badness score
    of 895 against a 6 MB process rules out; the rows do not show whose it is."""
    text = """\
mysqld invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0
CPU: 1 PID: 4410 Comm: mysqld Not tainted 3.10.0-123.el7.x86_64 #1
Task in /lxc/VM_A killed as a result of limit of /lxc/VM_A
memory: usage 53080kB, limit 53248kB, failcnt 731
[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name
[ 4410]    27  4410   143320     9021      48        0             0 mysqld
[ 4515]  5000  4515    89140     1490     123        0             0 php5-fpm
[31892]  5000 31892    89140      990     100        0             0 php5-fpm
Memory cgroup out of memory: Kill process 31826 (php5-fpm) score 895 or sacrifice child
Killed process 31826 (php5-fpm) total-vm:356560kB, anon-rss:34000kB, file-rss:1200kB
"""
    oom = only(text)["oom"]
    assert (oom["selected"]["tgid"], oom["selected_is_thread"]) == (None, None)
    assert oom["sacrificed_child"] is False
    assert "thread" not in oom["explanation"]


def test_a_header_and_a_kill_with_nothing_between_is_not_complete():
    """A paste that keeps the header, cpuset and CPU lines and the kill lines but leaves out
    the stack trace, the memcg usage and the task table the kernel printed between them."""
    text = f"""\
[ 4827.986206] mysqladmin invoked oom-killer: gfp_mask=0x24000c0(GFP_KERNEL), order=0, oom_score_adj=0
[ 4827.986209] mysqladmin cpuset={DOCKER_ID} mems_allowed=0-1
[ 4827.986215] CPU: 26 PID: 130130 Comm: mysqladmin Not tainted 4.8.12-040812-generic #201612020431


[ 4827.986920] Memory cgroup out of memory: Kill process 123841 (mysqld) score 101 or sacrifice child
[ 4827.992207] Killed process 123841 (mysqld) total-vm:465616kB, anon-rss:423524kB, file-rss:0kB, shmem-rss:0kB
"""
    oom = only(text)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "body_missing")
    assert (oom["trigger"]["pid"], oom["victims"][0]["pid"]) == (130130, 123841)


def test_a_reaper_line_of_another_pid_after_a_kill_is_not_that_kills():
    """`oom_reaper: reaped process 14441 (python3)` right after the kill of pid 1021: the
    reaper of an earlier kill's victim, an event of its own; it was taken into the report
    of 1021 (in its `event.original`) and the earlier kill was lost."""
    other = (
        "oom_reaper: reaped process 14441 (python3), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB"
    )
    own = other.replace("14441 (python3)", "1021 (stress)")
    docs = list(
        documents_from_lines((HEADER_5_15 + ROWS_5_15 + KILL_5_15).splitlines() + [own, other])
    )
    assert [[victim["pid"] for victim in doc["oom"]["victims"]] for doc in docs] == [
        [1021],
        [14441],
    ]
    assert docs[0]["event"]["original"].count("oom_reaper") == 1
    assert (docs[1]["oom"]["complete"], docs[1]["oom"]["victims"][0]["named_by"]) == (
        False,
        "reaper",
    )


def test_a_fragment_that_starts_after_mem_info_is_a_system_wide_oom():
    """The end of show_mem (`Total swap`, `pages RAM`), which only a system-wide or cpuset
    OOM prints once memcg OOMs print their own counters (3.8+), then the task table, where
    the paste ends: the scope was unknown."""
    text = """\
Jan 07 21:48:11 raspi kernel: Free swap  = 0kB
Jan 07 21:48:11 raspi kernel: Total swap = 0kB
Jan 07 21:48:11 raspi kernel: 1012736 pages RAM
Jan 07 21:48:11 raspi kernel: Tasks state (memory values in pages):
Jan 07 21:48:11 raspi kernel: [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
Jan 07 21:48:11 raspi kernel: [    297]     0   297    12508     3971    98304        0          -250 systemd-journal
"""
    oom = only(text)["oom"]
    assert (oom["scope"], oom["limit_hit"], oom["complete"]) == ("global", "global", False)
    assert oom["tasks_count"] == 1


def test_a_line_long_past_a_reports_first_is_not_taken_into_it():
    """A header, the author's elision, then the CPU line of another event 40 minutes later:
    the line was taken into the report before it was closed for its age, which gave the
    header's trigger that event's pid and kernel."""
    text = """\
[364059.241920] netifd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
...
[366504.595297] CPU: 1 PID: 8032 Comm: ntpd-hotplug Not tainted 5.4.203 #0
"""
    doc = only(text)
    trigger = doc["oom"]["trigger"]
    assert (trigger["name"], trigger["pid"], trigger["cpu"]) == ("netifd", None, None)
    assert doc["host"].get("os") is None
    assert doc["oom"]["lines_count"] == 2


def test_a_killed_report_followed_by_a_line_long_after_it_ends_whole():
    """A whole report, its reaper line, then the next line 170 s later (a report with no task
    dump, as `vm.oom_dump_tasks=0` prints it): it closed as `max_stream_age`, incomplete."""
    lines = [
        f"[ 1630.{index:06d}] {line}"
        for index, line in enumerate(
            (HEADER_5_15 + TABLE_HEADER + ROWS_5_15 + KILL_5_15).splitlines()
        )
    ]
    lines += [
        "[ 1630.171681] oom_reaper: reaped process 1021 (stress), now anon-rss:0kB, "
        "file-rss:0kB, shmem-rss:0kB",
        "(...snipped...)",
        "[ 1800.548694] idle-priority   R  running task    12416 14021   1183 0x80004080",
    ]
    oom = only("\n".join(lines))["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (True, None)
    assert oom["lines_count"] == len(lines) - 2


def test_an_elision_indented_under_prefixed_lines_makes_the_report_incomplete():
    """`...` aligned with the messages above it (spaces, then the dots): it was read as an
    indented continuation of the line before, not as the author's cut, and the report whose
    Mem-Info body was cut out said `complete: true`."""
    prefix = "Sep 30 13:00:20 localhost kernel: [2343070.{:06d}] "
    lines = [prefix.format(i) + line for i, line in enumerate(HEADER_5_15.splitlines())]
    lines.insert(4, " " * len(prefix.format(0)) + "...")
    lines += [prefix.format(20 + i) + line for i, line in enumerate(
        (TABLE_HEADER + ROWS_5_15 + KILL_5_15).splitlines())]  # fmt: skip
    oom = only("\n".join(lines))["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "elided")


def test_a_kill_line_stamped_long_before_the_header_is_another_event():
    """A paste that puts an earlier event's selection line after a later header (stamps
    136,000 s apart, an author's `……` between): it was taken as the header's selection."""
    text = """\
[36812300.604948] dljgo invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=999
……
[36675871.040485] Memory cgroup out of memory: Kill process 16492 (openresty) score 1286 or sacrifice child
"""
    docs = list(documents_from_lines(text.splitlines()))
    assert [doc["oom"]["selected"]["pid"] for doc in docs] == [None, 16492]
    assert docs[0]["oom"]["trigger"]["name"] == "dljgo"


def test_a_stats_header_with_no_stats_under_it_is_not_complete_and_shows_no_layout():
    """`Memory cgroup stats for /x:` followed straight by the summary line (the keys the
    kernel prints under it were left out): the report said `complete: true`, and the empty
    header was taken for v2-layout stats (cgroup v2)."""
    text = (
        """\
stress invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=1000
CPU: 1 PID: 1021 Comm: stress Not tainted 6.12.40 #1-NixOS
Call Trace:
 dump_stack_lvl+0x4a/0x63
memory: usage 102400kB, limit 102400kB, failcnt 12
Memory cgroup stats for /app.slice:
"""
        + TABLE_HEADER
        + ROWS_5_15
        + KILL_5_15
    )
    oom = only(text)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "stats_missing")
    assert (oom["memcg_stats"], oom["cgroup"]["version"]) == (None, "unknown")


def test_a_fragment_from_the_cpu_line_to_the_memcg_stats_is_a_report():
    """A paste that starts at the `CPU:` line and holds the memcg usage and stats, with no
    header, table or kill: no document came out, so the cgroup and its usage were lost."""
    text = f"""\
[Tue Sep 22 12:43:36 2026] CPU: 1 UID: 1000 PID: 1031028 Comm: python Not tainted 6.12.48 #1
[Tue Sep 22 12:43:36 2026] memory: usage 2097152kB, limit 2097152kB, failcnt 370
[Tue Sep 22 12:43:36 2026] swap: usage 0kB, limit 0kB, failcnt 0
[Tue Sep 22 12:43:36 2026] Memory cgroup stats for /system.slice/docker-{DOCKER_ID}.scope:
[Tue Sep 22 12:43:36 2026] anon 2138112000
[Tue Sep 22 12:43:36 2026] file 4096
"""
    doc = only(text)
    oom = doc["oom"]
    assert (oom["scope"], oom["memory"]["limit_bytes"], oom["trigger"]["pid"]) == (
        "memcg",
        2097152 * 1024,
        1031028,
    )
    assert doc["container"]["id"] == DOCKER_ID
    assert oom["complete"] is False


def test_a_report_without_its_kill_ends_at_a_long_gap_in_the_kernels_stamps():
    """A header and body without their kill, then the body of another report 30 s later by
    the kernel's stamps: the kernel prints a report in one burst, and the later lines were
    glued to the earlier report (the version Elasticsearch would keep)."""
    first = [f"[  100.{n:06d}] {line}" for n, line in enumerate(HEADER_5_15.splitlines())]
    later = [
        f"[  130.{n:06d}] {line}"
        for n, line in enumerate(["memory: usage 1024kB, limit 1024kB, failcnt 3", *(
            "Memory cgroup stats for /batch.slice:", "anon 1048576")])
    ]  # fmt: skip
    docs = list(documents_from_lines(first + later))
    assert [doc["oom"]["lines_count"] for doc in docs] == [len(first), len(later)]
    assert docs[0]["oom"]["incomplete_reason"] == "stream_gap"


def test_a_task_dump_that_stalled_past_the_gap_between_two_rows_stays_one_report():
    """A task dump whose printing stalled (a console or a logger behind it) for more than the
    gap a report may have between its lines, between two rows: its rows after the stall and
    its kill are still its own (the kernel prints task rows only inside a report), where a
    headless second report came out and the first lost its victim."""
    lines = memcg_report()
    at = lines.index(next(line for line in lines if line.startswith("[    101]")))
    lines[at:at] = [f"[{pid:7d}]     0 {pid:5d}    74798      376   487424        0 0 sh"
                    for pid in (90, 91)]  # fmt: skip
    stamps = [100.0 + n / 1000 for n in range(len(lines))]
    stamps[at + 1 :] = [stamp + 13.3 for stamp in stamps[at + 1 :]]  # after the first new row
    docs = list(
        documents_from_lines([f"[{t:12.6f}] {x}" for t, x in zip(stamps, lines, strict=True)])
    )
    assert len(docs) == 1
    oom = docs[0]["oom"]
    assert [row["pid"] for row in oom["tasks"]] == [90, 91, 101]
    assert ([v["pid"] for v in oom["victims"]], oom["complete"]) == ([101], True)


def test_rows_of_a_headless_task_dump_far_apart_in_time_are_looked_back_at():
    """An excerpt that starts inside a task dump which took long to print (or rows an author
    picked from it), then the kill: the rows before the gap were left out of the report."""
    rows = [
        "[  999.629589] [  16497]     0 16497    17585     8739   126976        0             0 sx5",
        "[ 1026.435955] [  32764]     0 32764    17585     8739   126976        0             0 sx5",
        "[ 1047.914324] [  10315]     0 10315    17585     8271   126976        0             0 sx0",
        "[ 1047.923384] Out of memory: Kill process 10315 (sx0) score 53 or sacrifice child",
        "[ 1047.931934] Killed process 10315 (sx0) total-vm:70212kB, anon-rss:60kB, file-rss:0kB,"
        " shmem-rss:0kB",
    ]
    (doc,) = documents_from_lines(rows)
    assert [row["pid"] for row in doc["oom"]["tasks"]] == [16497, 32764, 10315]


def test_each_choice_line_of_grep_output_is_an_event_of_its_own():
    """`grep "Out of memory" /var/log/messages` keeps only the choice lines, one per event
    (before 5.1): they were all taken for one report's lines."""
    lines = [
        "Mar 15 12:11:27 vm4 kernel: Out of memory: Kill process 24311 (winbindd) score 7 or"
        " sacrifice child",
        "Mar 15 12:12:41 vm4 kernel: Out of memory: Kill process 16045 (httpd) score 5 or"
        " sacrifice child",
        "Mar 15 12:12:42 vm4 kernel: Out of memory: Kill process 1627 (winbindd) score 5 or"
        " sacrifice child",
    ]
    docs = list(documents_from_lines(lines))
    assert [doc["oom"]["selected"]["pid"] for doc in docs] == [24311, 16045, 1627]


def test_a_choice_line_quoted_before_the_body_it_ends_is_one_event():
    """A post quotes the choice line, then the report's tail with the same choice: one event,
    where the second choice began a second one and took the task rows with it."""
    lines = [
        "Jul 27 13:29:54 kernel: Out of memory: Kill process 17982 (java) score 77 or"
        " sacrifice child",
        "[511250.459168] Free swap  = 0kB",
        "[511250.459168] Total swap = 0kB",
        "[511250.459172] [ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name",
        "[511250.459178] [  444]     0   444    30482      118      63        0             0"
        " systemd-journal",
        "[511250.459581] Out of memory: Kill process 17982 (java) score 77 or sacrifice child",
        "[511250.459642] Killed process 17982 (java) total-vm:19803312kB, anon-rss:2540308kB,"
        " file-rss:0kB, shmem-rss:0kB",
    ]
    (doc,) = documents_from_lines(lines)
    assert [row["pid"] for row in doc["oom"]["tasks"]] == [444]


def test_an_indented_ellipsis_a_shipper_sent_as_its_own_kernel_record_is_no_elision():
    """LoongArch and MIPS print `        ...` after a stack dump's words: a shipper sends it as
    a kernel record with an indented message. Taken for a paste's indented `...`, it made
    the report `elided` where the same lines read from the file were not."""
    from datetime import UTC, datetime

    from oom_enricher.model import ShippedRecord
    from oom_enricher.pipeline import Pipeline

    messages = HEADER_5_15.splitlines()
    messages[3:3] = ["       0000000000000000 000010007e2e4000", "       ..."]
    messages += (TABLE_HEADER + ROWS_5_15 + KILL_5_15).splitlines()
    pipeline = Pipeline()
    stamp = datetime(2026, 4, 14, 5, 21, 34, tzinfo=UTC)
    docs = [
        doc
        for message in messages
        for doc in pipeline.feed(
            ShippedRecord(message, host="n1", time=stamp, fields={"is_kernel": True})
        )
    ]
    (doc,) = docs + pipeline.finish()
    assert (doc["oom"]["complete"], doc["oom"]["incomplete_reason"]) == (True, None)


@pytest.mark.parametrize("indent", ["  ", "    ", "\t"])
def test_marker_lines_of_an_indented_paste_are_read(indent):
    """A report edited into a commit message or a markdown code block: every line indented.
    Only the kill line was recognised (its regex allows text before it): the summary and
    the reaper line of another kill were taken for ordinary lines."""
    reaper = "oom_reaper: reaped process 777 (backup), now anon-rss:0kB, file-rss:0kB"
    lines = (HEADER_5_15 + ROWS_5_15 + KILL_5_15).splitlines() + [reaper]
    docs = list(documents_from_lines([indent + line for line in lines]))
    assert [[victim["pid"] for victim in doc["oom"]["victims"]] for doc in docs] == [[1021], [777]]
    assert docs[0]["oom"]["cgroup"]["task_path"] == "/app.slice"


GLOBAL_HEAD = """\
[ 100.000001] cc1plus invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0
[ 100.000002] CPU: 2 PID: 4242 Comm: cc1plus Not tainted 6.1.0-18-amd64 #1 Debian 6.1.76-1
[ 100.000003] Call Trace:
[ 100.000004]  out_of_memory+0x106/0x2e0
[ 100.000005] Mem-Info:
[ 100.000006] active_anon:3922 inactive_anon:1990041 isolated_anon:0
[ 100.000007] Node 0 DMA free:11264kB boost:0kB min:32kB low:44kB high:56kB free_cma:0kB
[ 100.000008] Node 0 DMA: 0*4kB 0*8kB 0*16kB 0*32kB 0*64kB 0*128kB 0*256kB 0*512kB 1*1024kB = 11264kB
"""
GLOBAL_TAIL = """\
[ 100.000009] 10411 total pagecache pages
[ 100.000010] Free swap  = 0kB
[ 100.000011] Total swap = 0kB
[ 100.000012] 2097022 pages RAM
"""
GLOBAL_KILL = """\
[ 100.000013] Tasks state (memory values in pages):
[ 100.000014] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
[ 100.000015] [   4242]  1000  4242  2100000  1990000 16000000        0             0 cc1plus
[ 100.000016] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice,task=cc1plus,pid=4242,uid=1000
[ 100.000017] Out of memory: Killed process 4242 (cc1plus) total-vm:8400000kB, anon-rss:7960000kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:15625kB oom_score_adj:0
"""


@pytest.mark.parametrize("pages", ["2097022 pages RAM", "2097022 pages of RAM"])
def test_a_system_wide_report_with_its_memory_summary_is_complete(pages):
    text = GLOBAL_HEAD + GLOBAL_TAIL.replace("2097022 pages RAM", pages) + GLOBAL_KILL
    assert only(text)["oom"]["complete"] is True


def test_a_memory_summary_cut_before_its_page_counts_is_incomplete():
    """Mem-Info, zones and buddy lines, then the author's cut to the kill: show_mem always
    ends with its page counts (`N pages RAM`) before the task table and the kill."""
    oom = only(GLOBAL_HEAD + GLOBAL_KILL)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "mem_info_cut")


def test_a_memory_summary_with_its_zones_left_out_is_incomplete():
    """The summary, then the author's cut to the page counts (`I've edited out some of the
    details`): show_mem prints every zone of the nodes it shows between the two."""
    head = "".join(line + "\n" for line in GLOBAL_HEAD.splitlines() if " DMA" not in line)
    oom = only(head + GLOBAL_TAIL + GLOBAL_KILL)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "mem_info_cut")
    assert oom["victims"][0]["pid"] == 4242


@pytest.mark.parametrize("names", ["(GFP_HIGHUSER_MOVABLE|__GFP_ZERO)", ""])
def test_a_masked_gfp_mask_is_kept_as_printed(names):
    """A help page masked the mask (`gfp_mask=0x62****`): its first digits were taken for
    the whole value (`0x62`), and decoded."""
    text = HEADER_5_15.replace("gfp_mask=0xcc0(GFP_KERNEL)", f"gfp_mask=0x62****{names}")
    trigger = only(text + TABLE_HEADER + ROWS_5_15 + KILL_5_15)["oom"]["trigger"]
    flags = ["GFP_HIGHUSER_MOVABLE", "__GFP_ZERO"] if names else None
    assert (trigger["gfp_mask"], trigger["gfp_flags"]) == ("0x62****", flags)


def test_a_one_line_v1_stats_line_cut_inside_an_item_is_a_cut_line():
    """A 4.x one-line stats line cut at the viewer's width (`... shmem:144KB mapped_fil`):
    every item of that line ends in its unit, and the report said `complete: true`."""
    stats = (
        "Memory cgroup stats for /docker/35f18c48: cache:176KB rss:3384KB rss_huge:0KB "
        "shmem:144KB mapped_fil"
    )
    lines = HEADER_5_15.splitlines()
    lines.insert(lines.index("swap: usage 0kB, limit 9007199254740988kB, failcnt 0") + 1, stats)
    oom = only("\n".join(lines) + "\n" + TABLE_HEADER + ROWS_5_15 + KILL_5_15)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "truncated_line")
    assert oom["memcg_stats"]["rss"] == 3384 * 1024


# -- lines cut at a viewer's width, their rest lost: never `complete` --------------------------

DOCKER_ID_V1 = "a4d47fb7bbc8a2bbc172bd26085c4509364b1b7eec61439669e08e281b181a0b"
V1_DOCKER_4_4 = f"""\
java invoked oom-killer: gfp_mask=0x24000c0(GFP_KERNEL), order=0, oom_score_adj=0
CPU: 1 PID: 20911 Comm: java Not tainted 4.4.0-21-generic #37-Ubuntu
Call Trace:
 [<ffffffff813eab23>] dump_stack+0x63/0x90
Task in /docker/{DOCKER_ID_V1} killed as a result of limit of /docker/{DOCKER_ID_V1}
memory: usage 262144kB, limit 262144kB, failcnt 5148
memory+swap: usage 524288kB, limit 524288kB, failcnt 77
kmem: usage 0kB, limit 9007199254740988kB, failcnt 0
Memory cgroup stats for /docker/{DOCKER_ID_V1}: cache:0KB rss:229600KB rss_huge:8192KB mapped_file:0KB dirty:0KB writeback:3336KB swap:294688KB inactive_anon:114804KB active_anon:114796KB inactive_file:0KB active_file:0KB unevictable:0KB
[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name
[20911]     0 20911  1153302    57400     466       7    73672             0 java
Memory cgroup out of memory: Kill process 20911 (java) score 1001 or sacrifice child
Killed process 20911 (java) total-vm:4613208kB, anon-rss:229600kB, file-rss:0kB, shmem-rss:0kB
"""  # noqa: E501


def cut_lines(text: str, width: int) -> list[str]:
    return [line[:width] for line in text.splitlines()]


def test_a_whole_v1_report_is_complete():
    oom = only(V1_DOCKER_4_4)["oom"]
    assert (oom["complete"], oom["memory"]["usage_bytes"]) == (True, 262144 * 1024)


def test_a_usage_line_after_a_path_cut_at_the_width_is_no_rest_of_the_path():
    """`less -S` at 120 columns cut `… limit of /docker/`: the next line, `memory: usage …`,
    was taken for the rest of the path (`/docker/memory:`), so the usage and limit were lost
    and the report said complete."""
    doc = only("\n".join(cut_lines(V1_DOCKER_4_4, 120)) + "\n")
    oom = doc["oom"]
    assert oom["memory"]["usage_bytes"] == 262144 * 1024
    assert oom["cgroup"]["oom_path"] == "/docker/"
    assert doc["container"]["id"] == DOCKER_ID_V1  # from the task path, which is whole
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "truncated_line")


def test_a_v1_stats_line_cut_after_a_whole_item_is_a_cut_line():
    """Cut right after `rss:229600KB`: every item it shows ends in its unit, but the line
    ends with the LRU lists (`… unevictable:0KB`) on every kernel that prints it."""
    lines = V1_DOCKER_4_4.splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("Memory cgroup stats"))
    lines[at] = lines[at][: lines[at].index(" rss_huge")]
    oom = only("\n".join(lines) + "\n")["oom"]
    assert oom["memcg_stats"] == {"cache": 0, "rss": 229600 * 1024}
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "truncated_line")


@pytest.mark.parametrize("end", [", order=0", ", order=0, oom_score_adj", ""])
def test_a_header_cut_before_its_score_adjustment_is_a_cut_line(end):
    """Every kernel ends the header's fields with the trigger's score adjustment; a width
    cut before it lost order= or oom_score_adj= and the report said complete."""
    head = "java invoked oom-killer: gfp_mask=0x24000c0(GFP_KERNEL)" + end
    text = V1_DOCKER_4_4.replace(V1_DOCKER_4_4.splitlines()[0], head)
    oom = only(text)["oom"]
    assert oom["trigger"]["gfp_mask"] == "0x24000c0"
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "truncated_line")


@pytest.mark.parametrize(
    "end",
    [" all_unreclaimable? no", " pages_scanned:0 all_unreclaimable? yes", " free_cma:0kB"],
)
def test_a_zone_line_with_its_end_is_whole(end):
    zone = "[ 100.000007] Node 0 DMA free:11264kB boost:0kB min:32kB low:44kB high:56kB"
    text = GLOBAL_HEAD.replace(zone + " free_cma:0kB", zone + end) + GLOBAL_TAIL + GLOBAL_KILL
    assert only(text)["oom"]["complete"] is True


def test_a_zone_line_cut_before_its_end_is_a_cut_line():
    """A zone line cut before `present:`/`managed:` lost the zone's size; it ends with
    `all_unreclaimable?` (2.6-4.7) or `free_cma:` (4.8+) on every kernel."""
    text = GLOBAL_HEAD.replace(" free_cma:0kB", " active_anon:0kB inac") + GLOBAL_TAIL + GLOBAL_KILL
    oom = only(text)["oom"]
    assert oom["system"]["zones"][0]["free_bytes"] == 11264 * 1024
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "truncated_line")


# -- a line the kernel always prints, left out (a rate-limited or filtered log, an edit) --------


def without(text: str, start: str) -> str:
    lines = text.splitlines()
    (gone,) = [line for line in lines if line.startswith(start)]
    return "".join(line + "\n" for line in lines if line is not gone)


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        ("memory: usage", "usage_line_missing"),
        ("memory+swap: usage", "usage_line_missing"),
        ("kmem: usage", "usage_line_missing"),
        ("Task in", "cgroup_line_missing"),
        ("Memory cgroup out of memory: Kill process", "choice_line_missing"),
    ],
)
def test_a_memcg_report_without_a_line_every_such_report_prints_is_incomplete(start, reason):
    """Each line left out changed the facts (the usage and limit, the cgroup, the selected
    task), but the report said complete: a 4.x v1 report prints the three usage lines,
    `Task in`, and its choice before the kill, always."""
    oom = only(without(V1_DOCKER_4_4, start))["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, reason)
    assert oom["victims"][0]["pid"] == 20911


def test_a_5_x_report_needs_no_choice_line():
    text = V1_DOCKER_4_4.replace("4.4.0-21-generic #37-Ubuntu", "5.4.0-42-generic #46-Ubuntu")
    assert only(without(text, "Memory cgroup out of memory: Kill process"))["oom"]["complete"]


@pytest.mark.parametrize("start", ["[ 100.000010] Free swap", "[ 100.000011] Total swap"])
def test_a_memory_summary_with_one_of_its_swap_lines_is_incomplete(start):
    text = without(GLOBAL_HEAD + GLOBAL_TAIL + GLOBAL_KILL, start)
    oom = only(text)["oom"]
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "mem_info_cut")


CORRUPT_WATERMARKS = [
    "[    5.000001] systemd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0,"
    " oom_score_adj=0",
    "[    5.000002] CPU: 0 PID: 1 Comm: systemd Not tainted 5.4.0-next-20191201 #1",
    "[    5.000003] Mem-Info:",
    "[    5.000004] Node 0 Normal free:193448kB min:99395541895224kB low:73886371836733356kB"
    " high:147673348131571488kB reserved_highatomic:0KB active_anon:0kB present:1048576kB"
    " managed:999000kB mlocked:0kB free_pcp:0kB local_pcp:0kB free_cma:0kB",
]


def test_a_number_no_64_bit_field_holds_is_null_and_the_report_still_comes_out():
    """Watermarks a corrupted zone printed (`low:73886371836733356kB`), made bytes, exceed
    64 bits: the document could not be serialised and `parse` ended in a traceback with no
    document at all."""
    (doc,) = documents_from_lines(CORRUPT_WATERMARKS)
    zone = doc["oom"]["system"]["zones"][0]
    assert (zone["free_bytes"], zone["low_bytes"], zone["high_bytes"]) == (
        193448 * 1024,
        None,
        None,
    )
    assert zone["min_bytes"] == 99395541895224 * 1024  # within 64 bits: kept as printed
    orjson.dumps(doc)


def test_a_kafka_worker_gives_the_same_document_for_a_number_out_of_range():
    """The Kafka worker built its documents without the cleaning every other path does."""
    from oom_enricher.pipeline import PipelineOptions
    from oom_enricher.serve.kafka_worker import OutageClock, PartitionState
    from oom_enricher.sources.record_shapes import ShapeOptions

    state = PartitionState(PipelineOptions(), ShapeOptions(), OutageClock(), None)
    docs = []
    for offset, line in enumerate(CORRUPT_WATERMARKS):
        docs += state.feed(ShippedRecord(message=line, host="node-1"), offset)
    (doc,) = docs + state.finish()
    assert doc["oom"]["system"]["zones"][0]["low_bytes"] is None
    orjson.dumps(doc)
