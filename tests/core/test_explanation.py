"""`oom.explanation` says what happened and why, in two to five sentences."""

from __future__ import annotations

import re

import pytest

from oom_enricher.skimming.skim_files import skim_documents
from tests.corpus_cases import REPO, corpus_cases

CORPUS = REPO / "tests" / "corpus"


def explanation(name: str, index: int = 0) -> str:
    docs = list(skim_documents([str(next(CORPUS.glob(name + "*.log")))]))
    return docs[index]["oom"]["explanation"]


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda case: case.name)
def test_two_to_five_sentences(case):
    for doc in skim_documents([str(case.log)]):
        sentences = re.findall(r"[^.!?]+(?:[.!?](?=\s|$))", doc["oom"]["explanation"])
        assert 1 <= len(sentences) <= 5, doc["oom"]["explanation"]


def test_seed_sacrificed_child_of_a_thread():
    text = explanation("seed-docker-beam")
    assert "memory+swap limit of cgroup /docker/a4d47fb7bbc8… (512 MiB) was reached" in text
    assert "chose beam.smp (pid 20911, a thread of process 20879" in text
    assert "badness score 1001" in text
    assert "killed that process's child sh (pid 20977) instead" in text
    assert "vm.oom_kill_allocating_task=1 changes this" in text


def test_global_oom_names_the_starved_zone_and_swap():
    text = explanation("018-")
    assert "(4 GiB of RAM, 0 B of 4 GiB swap left)" in text
    assert "zone Normal had 15.2 MiB free, below its 15.5 MiB minimum watermark" in text


def test_lowered_memory_max():
    assert "tee (pid 492129) wrote memory.max" in explanation("010-")


def test_group_kill_and_pod():
    text = explanation("016-")
    assert text.startswith("The kernel OOM killer killed 10 processes in Kubernetes pod f9411888")
    assert "memory.oom.group" in text


def test_incomplete_report_says_so():
    assert "Part of the report is missing (kill line ratelimited)" in explanation("025-")


# Words of the explanation's own making: kernel versions and settings it names as advice.
_TEMPLATE_CONSTANTS = ("vm.oom_kill_allocating_task=1", "kernels before 5.1", "memory.oom.group")
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) (B|KiB|MiB|GiB|TiB|kB)\b")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")
_NAMED_PROCESS = re.compile(
    r"(?:killed|chose|by|child|with|here|:) ((?:(?!\. )[^,;:()])+?) \(pid (\d+)"
)
_PATH = re.compile(r"cgroup (/\S*?)(?:…(\S*))? ")


def _sizes_of(original: str, page_size: int) -> set[str]:
    """Every size the report's numbers give in kB, bytes or pages, as the explanation writes it."""
    from oom_enricher.enrich.sizes import human_bytes

    sizes = set()
    for digits in set(re.findall(r"\d+", original)):
        value = int(digits)
        sizes.add(f"{value} kB")
        for scale in (1, 1024, page_size):
            sizes.add(human_bytes(value * scale))
    return sizes


def _unsupported(doc: dict) -> list[str]:
    """Numbers and names in the explanation that the report's lines neither show nor give."""
    original = doc["event"]["original"]
    oom = doc["oom"]
    text = oom["explanation"]
    for constant in _TEMPLATE_CONSTANTS:
        text = text.replace(constant, "")
    problems = []
    sizes = _sizes_of(original, oom["page_size"])
    for size in _SIZE.finditer(text):
        if size.group(0) not in sizes:
            problems.append(size.group(0))
    text = _SIZE.sub("", text)
    for name, pid in _NAMED_PROCESS.findall(text):
        name = name.rsplit("process's child ", 1)[-1]
        if name not in original or pid not in original:
            problems.append(f"{name} (pid {pid})")
    for head, tail in _PATH.findall(text):
        if head not in original or tail not in original:
            problems.append(head)
    digits = set(re.findall(r"\d+", original)) | {str(oom["victims_count"])}
    for number in _NUMBER.findall(text):
        if number not in digits:
            problems.append(number)
    host = doc.get("host", {}).get("name")
    if " on " in text and host:
        assert host in original
    return problems


@pytest.mark.parametrize("case", corpus_cases(), ids=lambda case: case.name)
def test_every_number_and_name_of_the_explanation_is_in_the_report(case):
    for doc in skim_documents([str(case.log)]):
        assert _unsupported(doc) == [], doc["oom"]["explanation"]


def test_the_check_of_numbers_and_names_catches_an_invented_one():
    (doc,) = [d for d in skim_documents([str(next(CORPUS.glob("seed-docker-beam*.log")))])]
    doc["oom"]["explanation"] = doc["oom"]["explanation"].replace("512 MiB", "640 MiB", 1)
    doc["oom"]["explanation"] += " The kernel chose beam.smp (pid 31337)."
    assert _unsupported(doc) == ["640 MiB", "beam.smp (pid 31337)", "31337"]


SYSRQ_F = """\
Jan 17 13:30:31 nas kernel: sysrq: Manual OOM execution
Jan 17 13:30:31 nas kernel: kworker/2:2 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=-1, oom_score_adj=0
Jan 17 13:30:31 nas kernel: CPU: 2 PID: 8961 Comm: kworker/2:2 Not tainted 6.1.64-Unraid #1
Jan 17 13:30:31 nas kernel: Workqueue: events moom_callback
Jan 17 13:30:31 nas kernel: Call Trace:
Jan 17 13:30:31 nas kernel:  dump_stack_lvl+0x44/0x5c
Jan 17 13:30:31 nas kernel: Mem-Info:
Jan 17 13:30:31 nas kernel: Tasks state (memory values in pages):
Jan 17 13:30:31 nas kernel: [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name
Jan 17 13:30:31 nas kernel: [   6009]     0  6009   312345    45678   987136        0             0 node
Jan 17 13:30:31 nas kernel: oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=node,pid=6009,uid=0
Jan 17 13:30:31 nas kernel: Out of memory: Killed process 6009 (node) total-vm:1249380kB, anon-rss:182712kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:964kB oom_score_adj:0
"""


def test_a_manual_oom_says_it_was_forced_and_no_allocation_failed(tmp_path):
    """SysRq-f (`order=-1`): the explanation said the whole machine ran out of memory and
    that the allocation which failed was made by the worker that ran the request."""
    path = tmp_path / "sysrq.log"
    path.write_text(SYSRQ_F)
    (doc,) = skim_documents([str(path)])
    text = doc["oom"]["explanation"]
    assert "started by hand" in text and "no allocation failed" in text
    assert "ran out of memory" not in text and "allocation that failed" not in text
    assert "kworker/2:2 (pid 8961) only ran the request." in text
    assert doc["oom"]["manual"] is True
    assert _unsupported(doc) == []


def test_a_kill_of_another_pid_without_a_task_table_does_not_say_it_was_a_child(tmp_path):
    """`dmesg -T | grep Kill`: a thread was chosen and the kill line names its server process.
    With no task table the text cannot tell a sacrificed child from the chosen thread's own
    process; the explanation said "killed that process's child … instead"."""
    path = tmp_path / "kill-lines.log"
    path.write_text(
        "[Tue Sep 15 00:01:24 2020] Memory cgroup out of memory: Kill process 20423 "
        "(QueryPipelineEx) score 1008 or sacrifice child\n"
        "[Tue Sep 15 00:01:24 2020] Killed process 1295 (clickhouse-serv) "
        "total-vm:32828748kB, anon-rss:10494108kB, file-rss:51264kB, shmem-rss:0kB\n"
    )
    (doc,) = skim_documents([str(path)])
    text = doc["oom"]["explanation"]
    assert "child clickhouse-serv" not in text and "itself was not killed" not in text
    # 1295 is older than 20423: no child of it, the chosen thread's process
    assert doc["oom"]["sacrificed_child"] is False
    assert (
        "and the kill line names clickhouse-serv (pid 1295): most likely the process of a "
        "chosen thread, as the kernel names a thread group by its first task, older than its "
        "other threads; the report holds no task table to confirm it."
    ) in text
    assert _unsupported(doc) == []


def test_a_victim_only_the_summary_names_was_chosen_not_seen_killed():
    """The oom-kill summary is printed when the task is chosen, before its kill line: a
    report that ends between them (a splat inside oom_kill_process, a cut paste) does not
    show the kill."""
    from oom_enricher.pipeline import documents_from_lines

    text = (
        "syz-executor1 invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), nodemask=(null), "
        "order=0, oom_score_adj=0\n"
        "CPU: 1 PID: 15817 Comm: syz-executor1 Not tainted 5.0.0-rc2+ #1\n"
        "memory: usage 307200kB, limit 307200kB, failcnt 30\n"
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/syz1,task_memcg=/syz1,task=syz-executor1,pid=15858,uid=0\n"
        "Memory cgroup out of memory: Kill process 15858 (syz-executor1) score 1148 or "
        "sacrifice child\n"
        "BUG: KASAN: use-after-free in oom_kill_process+0xa9a/0x1080\n"
    )
    (doc,) = documents_from_lines(text.splitlines())
    said = doc["oom"]["explanation"]
    assert said.startswith("The kernel OOM killer chose syz-executor1 (pid 15858)")
    assert "does not show the kill itself" in said
    assert "killed syz-executor1" not in said


@pytest.mark.parametrize(
    ("cpuset_line", "zones", "restricted"),
    [
        ("tor cpuset=/ mems_allowed=0", "Node 0 Normal", False),  # the root cpuset's nodes
        ("tor cpuset=/ mems_allowed=0-1", "Node 0 Normal", True),  # node 1 left out
        ("", "Node 0 Normal", False),  # the zones show node 0 alone
        ("", "Node 1 Normal", True),
    ],
)
def test_a_nodemask_is_called_narrower_than_the_machine_only_when_the_report_shows_it(
    cpuset_line, zones, restricted
):
    """4.9 prints the cpuset's nodes as `nodemask=0`: with the root cpuset allowing node 0
    alone, or only node 0's zones shown, that is the whole machine."""
    from oom_enricher.pipeline import documents_from_lines

    lines = [
        "tor invoked oom-killer: gfp_mask=0x24201ca(GFP_HIGHUSER_MOVABLE|__GFP_COLD), "
        "nodemask=0, order=0, oom_score_adj=0",
        cpuset_line,
        "CPU: 0 PID: 4242 Comm: tor Not tainted 4.9.0-4-amd64 #1 Debian 4.9.65-3",
        "Mem-Info:",
        f"{zones} free:44204kB min:44200kB low:55248kB high:66296kB active_anon:1kB "
        "present:2080640kB managed:2010712kB all_unreclaimable? yes",
        "Out of memory: Kill process 4242 (tor) score 900 or sacrifice child",
        "Killed process 4242 (tor) total-vm:9000kB, anon-rss:8000kB, file-rss:0kB, shmem-rss:0kB",
    ]
    (doc,) = documents_from_lines([line for line in lines if line])
    said = doc["oom"]["explanation"]
    assert ("need not be the whole machine" in said) is restricted, said


def _explained(text: str) -> str:
    from oom_enricher.pipeline import documents_from_lines

    (doc,) = documents_from_lines(text.splitlines())
    return doc["oom"]["explanation"]


def test_oom_kill_allocating_task_is_no_choice_by_score():
    """`Out of memory (oom_kill_allocating_task): Kill process ...`: the kernel took the
    allocating task, so its printed score ranks nothing and setting the sysctl is no advice."""
    said = _explained(
        "sh invoked oom-killer: gfp_mask=0x200da, order=0, oom_score_adj=0\n"
        "Pid: 6344, comm: sh Not tainted 3.2.32 #1\n"
        "Out of memory (oom_kill_allocating_task): Kill process 6344 (sh) score 0 or "
        "sacrifice child\n"
        "Killed process 6345 (sleep) total-vm:4184kB, anon-rss:88kB, file-rss:416kB\n"
    )
    assert "vm.oom_kill_allocating_task is set" in said
    assert "badness score 0" not in said
    assert "Setting vm.oom_kill_allocating_task=1" not in said


def test_a_page_fault_with_no_allocation_flags_is_not_told_as_memory_running_out():
    """4.x-5.15 pagefault_out_of_memory prints `gfp_mask=0x0()`: no allocation failed."""
    said = _explained(
        "Xorg invoked oom-killer: gfp_mask=0x0(), nodemask=(null), order=0, oom_score_adj=0\n"
        "CPU: 0 PID: 2978 Comm: Xorg Not tainted 5.7.0 #1\n"
        "Call Trace:\n"
        " out_of_memory+0x1bd/0x4e0\n"
        " pagefault_out_of_memory+0x6e/0x80\n"
        "Out of memory: Killed process 5889 (chromium) total-vm:900kB, anon-rss:800kB, "
        "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:40kB oom_score_adj:300\n"
    )
    assert "The whole machine ran out of memory" not in said
    assert "no page allocation failed" in said
    assert "The allocation that failed" not in said


def test_a_trigger_killed_after_the_first_victim_is_said_to_be_killed():
    said = _explained(
        "a.out invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), nodemask=(null), order=0, "
        "oom_score_adj=0\n"
        "CPU: 0 PID: 9185 Comm: a.out Not tainted 5.0.0 #1\n"
        "memory: usage 51200kB, limit 51200kB, failcnt 10\n"
        "Tasks in /test1 are going to be killed due to memory.oom.group set\n"
        "Memory cgroup out of memory: Killed process 9188 (a.out) total-vm:4000kB, "
        "anon-rss:100kB, file-rss:0kB, shmem-rss:0kB\n"
        "Memory cgroup out of memory: Killed process 9185 (a.out) total-vm:4000kB, "
        "anon-rss:100kB, file-rss:0kB, shmem-rss:0kB\n"
    )
    assert "a.out (pid 9185), whose allocation failed, was killed too." in said
    assert "does not show whether it is a thread" not in said
