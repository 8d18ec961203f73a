"""Excerpts of reports as people publish them: cut at either end, a prefix cut inside, the
first line stamped and the rest bare, lines that start inside a cgroup's subtree."""

from __future__ import annotations

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
