"""Every kind of marker line is recognised, so the skimming reader's needles cover them all."""

from __future__ import annotations

import pytest

from oom_enricher.reassembly.markers import Marker, classify, looks_cut, unit_notice

EXAMPLES = [
    (Marker.START, "Web Content invoked oom-killer: gfp_mask=0x14280ca(GFP_HIGHUSER_MOVABLE)"),
    (Marker.START, "oom-killer: gfp_mask=0xd0"),
    (Marker.KILLED, "Killed process  532 (kodi.bin) total-vm:1561568kB, anon-rss:397140kB"),
    (Marker.KILLED, "Killed process 28822 (mysqld), UID 999, total-vm:1276580kB, anon-rss:0kB"),
    (
        Marker.SELECTED,
        "Memory cgroup out of memory: Kill process 20911 (beam.smp) score 1001 or sacrifice child",
    ),
    (Marker.SELECTED, "Out of memory: kill process 4242 (x) score 5 or a child"),
    (Marker.KILLED, "Killed process 20977 (sh) total-vm:4404kB, anon-rss:0kB, file-rss:508kB"),
    (Marker.KILLED, "Out of memory: Killed process 2592, UID 0, (oracle)."),
    (Marker.SUMMARY, "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),task=bun,pid=1,uid=0"),
    (Marker.GROUP, "Tasks in /k/c.scope are going to be killed due to memory.oom.group set"),
    (
        Marker.EXITING,
        "Memory cgroup out of memory: OOM victim 7 (s) is already exiting. Skip killing the task",
    ),
    (
        Marker.REAPED,
        "oom_reaper: reaped process 2279 (Web Content), now anon-rss:0kB, file-rss:0kB",
    ),
    (Marker.SUPPRESSED, "oom_kill_process: 1520 callbacks suppressed"),
    (Marker.NO_KILLABLE, "Out of memory and no killable processes..."),
    (
        Marker.BODY_STRONG,
        "[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
    ),
    # memcg context lines: `grep -A` output or a paste that starts there is a report too
    (Marker.BODY_STRONG, "Task in /docker/a4d4 killed as a result of limit of /docker/a4d4"),
    (Marker.BODY_STRONG, "killed as a result of limit of /docker/a4d4"),  # pr_cont split
]


@pytest.mark.parametrize(("kind", "message"), EXAMPLES)
def test_marker_kinds(kind, message):
    found = classify(message)
    assert found is not None and found[0] is kind


@pytest.mark.parametrize(
    "message",
    [
        "eth0: link up",
        "Mem-Info:",
        "memory: usage 1kB, limit 2kB, failcnt 0",
        "Task in /docker/a4d4",
        "CPU: 0 PID: 1 Comm: x",
    ],
)
def test_other_lines_are_not_markers(message):
    assert classify(message) is None


def test_unit_notice_and_pager_cut_lines():
    assert unit_notice(
        "web.service: A process of this unit has been killed by the OOM killer."
    ) == ("web.service")
    assert looks_cut("Node 0 active_anon:108496kB sec_paget>")
    assert not looks_cut(" </TASK>")
    assert not looks_cut("Code: 15 69 06 <48> 3d 00 f0 ff ff 77 54 c3")


def test_killed_line_with_an_unknown_tail_still_ends_a_report():
    found = classify("Out of memory: Killed process 5 (x) newfield:7 of a future kernel")
    assert found is not None and found[0] is Marker.KILLED and found[1]["comm"] == "x"


@pytest.mark.parametrize(
    ("message", "cut"),
    [
        (
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),task=bun,pid=109324,uid=1000",
            False,
        ),
        (
            "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-25a38b5b8d556d7983",
            True,
        ),
        (
            "Memory cgroup out of memory: Killed process 7 (x) total-vm:1kB, anon-rss:2kB, file-rss:3k",
            True,
        ),
        ("Killed process 7 (x) total-vm:1kB, anon-rss:2kB, file-rss:3kB ", False),
        (
            "Out of memory: Killed process 7 (x) total-vm:1kB, UID:0 pgtables:4kB oom_score_adj:-998",
            False,
        ),
        ("Out of memory: Killed process 2592, UID 0, (oracle).", False),
        ("Killed process 7 (x)", False),
    ],
)
def test_anchor_lines_cut_at_a_fixed_width(message, cut):
    marker = classify(message)[0]
    assert looks_cut(message, marker) is cut


def test_a_pager_cut_is_seen_behind_trailing_white_space():
    assert looks_cut("Node 0 active_anon:108496kB sec_paget>   ")
    assert looks_cut("Node 0 active_anon:108496kB sec_paget>\t\n")
    assert not looks_cut(" </TASK>   ")
