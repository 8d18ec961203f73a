"""Reports pasted into mail: hard-wrapped lines, quote markers, quoted-printable bodies."""

from __future__ import annotations

import html
import json
import quopri
import subprocess
import sys
import textwrap

import orjson
import pytest

from oom_enricher.normalize import pasted_text
from oom_enricher.normalize.pasted_text import PasteReader
from oom_enricher.pipeline import documents_from_lines
from tests.core.pasted_reports import (
    FACTS,
    PREFIX,
    REPORT,
    dmesg_lines,
    facts,
    read_every_way,
    stamped,
)
from tests.corpus_cases import REPO

MAIL_HEAD = [
    "From: dev@example.org",
    "Subject: Re: OOM on web1",
    "",
    "The kernel said:",
    "",
]


def webmail(lines: list[str], width: int, break_on_hyphens: bool = False) -> list[str]:
    """Wrapped as webmail does: at a space, the space dropped, no marker."""
    out: list[str] = []
    for line in lines:
        out.extend(
            textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=break_on_hyphens)
        )
    return out


def flowed(lines: list[str], width: int) -> list[str]:
    """format=flowed (RFC 3676): a soft break keeps its space at the end of the line."""
    out: list[str] = []
    for line in lines:
        pieces = textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False)
        out.extend(piece + " " for piece in pieces[:-1])
        out.append(pieces[-1])
    return out


def at_hyphens(lines: list[str], width: int) -> list[str]:
    """Wrapped at a space or after a word's hyphen (`anon-` / `rss:…`), as textwrap does."""
    return webmail(lines, width, break_on_hyphens=True)


def space_first(lines: list[str], width: int) -> list[str]:
    """Wrapped before the space at the break, which then begins the rest of the line."""
    out: list[str] = []
    for line in lines:
        pieces = textwrap.wrap(line, width - 1, break_long_words=False, break_on_hyphens=False)
        out.extend([pieces[0], *(" " + piece for piece in pieces[1:])])
    return out


def cut(lines: list[str], width: int) -> list[str]:
    """Cut at a fixed width, mid-word, as a terminal or pager wraps (nothing is dropped)."""
    return [line[start : start + width] for line in lines for start in range(0, len(line), width)]


def only_facts(docs: list[dict]) -> dict:
    assert len(docs) == 1
    return facts(docs[0])


# -- 4: hard-wrapped lines -----------------------------------------------------------------


@pytest.mark.parametrize("width", [72, 76, 78])
@pytest.mark.parametrize("wrap", [webmail, flowed, space_first, at_hyphens])
def test_wrapped_syslog_paste_is_rejoined(wrap, width, tmp_path, monkeypatch):
    lines = wrap(stamped(), width)
    assert len(lines) > len(stamped()) + 8  # most lines were wrapped
    text = "\n".join([*MAIL_HEAD, *lines, "", "Any idea?"]) + "\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == FACTS
    kill = docs[0]["oom"]["victims"][0]
    assert (kill["anon_rss_bytes"], kill["oom_score_adj"]) == (93176 * 1024, 1000)


@pytest.mark.parametrize("width", [107, 130, 150])
@pytest.mark.parametrize("quote", ["", "> "])
def test_a_paste_cut_at_a_terminals_width_is_rejoined(width, quote, tmp_path, monkeypatch):
    """A terminal's copy cuts every long line at its width, mid-word (`(GFP_KE` / `RNEL_…`),
    wider than mail wraps: the rest was a line of its own, and the header's fields, the
    kill line's sizes and the task rows' names were lost."""
    lines = [quote + line for line in cut(stamped(), width - len(quote))]
    assert len(lines) >= len(stamped()) + 2  # long lines were cut
    text = "\n".join([*lines, "", "Any idea?"]) + "\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == FACTS
    kill = docs[0]["oom"]["victims"][0]
    assert (kill["anon_rss_bytes"], kill["oom_score_adj"]) == (93176 * 1024, 1000)


def test_the_release_on_a_line_of_its_own_after_a_cpu_line_is_rejoined():
    """A word wrap before the release of a `CPU:` line, kept indented by a quoted paste."""
    lines = [
        "> [126764.421946] python3 invoked oom-killer: gfp_mask=0x15080c0(GFP_KERNEL_ACCOUNT), order=1, oom_score_adj=0",  # noqa: E501
        "> [126764.421975] CPU: 3 PID: 530 Comm: python3 Tainted: G         C O",
        ">    4.14.79-v7+ #1159",
        "> [126764.421977] Hardware name: BCM2835",
    ]  # fmt: skip
    (doc,) = documents_from_lines(lines)
    assert (doc["oom"]["trigger"]["pid"], doc["oom"]["trigger"]["cpu"]) == (530, 3)
    assert doc["host"]["os"]["kernel"] == "4.14.79-v7+"


def test_indented_rest_of_a_header_and_of_the_cpu_line_is_rejoined():
    """A list archive's wrap: the header's last fields and the CPU line's kernel version on
    lines of their own, each after one space (the trigger's order and pid, and the kernel,
    were lost: the rest was taken for a continuation record)."""
    lines = [
        "[  727.941258] kworker/u8:2 invoked oom-killer:",
        "gfp_mask=0x15080c0(GFP_KERNEL_ACCOUNT|__GFP_ZERO), nodemask=(null),",
        " order=1, oom_score_adj=0",
        "[  727.954355] CPU: 0 PID: 56 Comm: kworker/u8:2 Tainted: P           O",
        " 4.14.65 #606",
        "[  727.962450] Hardware name: Android (Flattened Device Tree)",
    ]
    (doc,) = documents_from_lines(lines)
    trigger = doc["oom"]["trigger"]
    assert (trigger["pid"], trigger["order"], trigger["oom_score_adj"]) == (56, 1, 0)
    assert trigger["gfp_mask"] == "0x15080c0"
    assert doc["host"]["os"]["kernel"] == "4.14.65"


def test_a_cpu_line_wrapped_inside_its_taint_flags_is_rejoined():
    """A bug tracker's wrap inside the taint flags of a `CPU:` line: the rest, indented,
    begins with the last flags before the release (the trigger's pid and the kernel were
    lost: an indented piece was taken for a record of its own)."""
    lines = [
        "Aug 15 10:59:41 nas kernel: CPU 0/KVM invoked oom-killer: gfp_mask=0x400dc0(GFP_KERNEL_ACCOUNT|__GFP_ZERO), order=0, oom_score_adj=0",  # noqa: E501
        "Aug 15 10:59:42 nas kernel: CPU: 9 PID: 7079 Comm: CPU 0/KVM Tainted: P    ",
        "      OE     5.15.107+truenas #1",
        "Aug 15 10:59:43 nas kernel: Hardware name: QEMU Standard PC (Q35 + ICH9, 2009)",
    ]  # fmt: skip
    (doc,) = documents_from_lines(lines)
    assert (doc["oom"]["trigger"]["pid"], doc["oom"]["trigger"]["cpu"]) == (7079, 9)
    assert doc["host"]["os"]["kernel"] == "5.15.107+truenas"


def test_tabs_among_the_taint_flags_of_a_cpu_line():
    """An editor or `unexpand` stored the flags' padding as tabs: the trigger's pid and CPU
    and the kernel were lost, and the report was taken for one without its CPU line."""
    lines = [
        "Dec 17 00:34:31 fanatica kernel: stress invoked oom-killer: gfp_mask=0x24000c0(GFP_KERNEL), order=0, oom_score_adj=0",  # noqa: E501
        "Dec 17 00:34:31 fanatica kernel: CPU: 1 PID: 12906 Comm: stress Tainted: P\t     OE\t  4.8.11-200.fc24.x86_64 #1",  # noqa: E501
        "Dec 17 00:34:31 fanatica kernel: [ 4567.123456] Pid: 23105, comm: apt-check Tainted: G    B\t W  2.6.30 #11",  # noqa: E501
    ]  # fmt: skip
    (doc,) = documents_from_lines(lines[:2])
    assert (doc["oom"]["trigger"]["pid"], doc["oom"]["trigger"]["cpu"]) == (12906, 1)
    assert doc["host"]["os"]["kernel"] == "4.8.11-200.fc24.x86_64"
    old = [lines[0].replace("oom_score_adj=0", "oom_adj=0"), lines[2]]
    (doc,) = documents_from_lines(old)
    assert doc["oom"]["trigger"]["pid"] == 23105
    assert doc["host"]["os"]["kernel"] == "2.6.30"


def test_kill_line_wrapped_before_its_score_with_a_tab_is_rejoined(tmp_path, monkeypatch):
    """`… Kill process N (name)` then a tab-indented `score S or sacrifice child`: one line
    (the selected process was lost), as is `anon-` / `rss:` broken after the hyphen."""
    lines = [
        "[  739.620583] cat invoked oom-killer: gfp_mask=0xd4, order=3, oom_adj=0",
        "[  739.739999] Out of memory: Kill process 2919 (malloc)",
        "\t       score 4323 or sacrifice child",
        "[  739.740012] Killed process 2919 (malloc) total-vm:1442976kB, anon-",
        "rss:312kB, file-rss:1439004kB",
    ]
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert doc["oom"]["selected"] == {"pid": 2919, "name": "malloc", "score": 4323, "tgid": None}
    assert doc["oom"]["victims"][0]["anon_rss_bytes"] == 312 * 1024


def test_kmsg_dictionary_lines_are_not_rejoined():
    """`cat /dev/kmsg` continues a record with ` KEY=value` lines: not the rest of a wrap."""
    record = "6,1001,4123456789,-;" + "usb 1-1: new high-speed USB device number 2 using xhci_hcd"
    assert not PasteReader().sniff([record, " SUBSYSTEM=usb", " DEVICE=c189:1"]).wrapped


def test_header_wrapped_right_after_oom_killer_colon(tmp_path, monkeypatch):
    lines = stamped()
    header, rest = lines[0].split("oom-killer: ")
    lines[0:1] = [header + "oom-killer:", rest]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


@pytest.mark.parametrize("before", ["", "Creating journal (262144 blocks): "])
def test_header_wrapped_between_invoked_and_oom_killer(before, tmp_path, monkeypatch):
    """A mail wrap at the blank after `invoked` (a console's program output may stand
    before the stamp): the rest, `oom-killer: gfp_mask=…`, was read as a 2.6.8 header that
    names no task, so the trigger's name was lost."""
    lines = dmesg_lines()
    header, rest = lines[0].split(" oom-killer: ")
    lines[0:1] = [before + header, "oom-killer: " + rest]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)


def test_tmux_copy_mode_position_after_the_first_line_is_no_part_of_it(tmp_path, monkeypatch):
    """A copy from tmux's copy mode takes the position it shows at the pane's top right
    (`[7/972]`, after blanks to the edge): the header seemed cut after its last field."""
    lines = dmesg_lines()
    lines[0] = lines[0] + " " * 90 + "[7/972]"
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)


def test_flowed_header_ending_in_oom_killer_colon_space(tmp_path, monkeypatch):
    lines = dmesg_lines()
    header, rest = lines[0].split("oom-killer: ")
    lines[0:1] = [header + "oom-killer: ", rest]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)


@pytest.mark.parametrize("ending", ["oom-killer:", "oom-killer: "])
def test_header_cut_at_oom_killer_still_opens_report_with_trigger(ending):
    # the rest of the header is lost: the report still opens and names its trigger
    lines = stamped()
    lines[0] = lines[0].split("oom-killer: ")[0] + ending
    (doc,) = documents_from_lines(lines)
    assert doc["oom"]["trigger"]["name"] == "stress"
    assert doc["oom"]["trigger"]["pid"] == 100
    assert doc["process"]["pid"] == 101


def test_rest_starting_with_a_task_pid_or_the_table_header_is_rejoined(tmp_path, monkeypatch):
    host = "ip-10-1-2-3.eu-west-1.compute.internal"  # a prefix that fills a whole line
    width = len(PREFIX) - len("web1") + len(host) + len("[    5.010000] ")
    lines = webmail(stamped(host=host), width)
    assert any(line.startswith("[    101]") for line in lines)
    assert any(line.startswith("[  pid  ]") for line in lines)
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=host)
    assert docs[0]["oom"]["victims"][0]["total_vm_bytes"] == 299192 * 1024


def test_rest_starting_with_a_process_name_is_rejoined(tmp_path, monkeypatch):
    lines = stamped()
    kill = lines[-1]
    cut = kill.index(" (stress)")
    lines[-1:] = [kill[:cut], kill[cut + 1 :]]  # `... Killed process 101` / `(stress) total-vm:`
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS
    assert docs[0]["oom"]["victims"][0]["total_vm_bytes"] == 299192 * 1024


def test_author_marks_and_prose_are_not_joined(tmp_path, monkeypatch):
    lines = stamped()
    lines[3:6] = ["..."]
    text = "\n".join([*lines[:-1], "[snip]", lines[-1], "", "Thanks"]) + "\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    oom = docs[0]["oom"]
    assert (docs[0]["process"]["pid"], oom["victims"][0]["oom_score_adj"]) == (101, 1000)
    assert (oom["trigger"]["name"], oom["trigger"]["oom_score_adj"]) == ("stress", 0)
    assert "Thanks" not in docs[0]["event"]["original"]


# -- 5: quote markers ------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["> ", ">> ", "> > ", ">"])
def test_quoted_reply_markers(marker, tmp_path, monkeypatch):
    text = "\n".join([*MAIL_HEAD, *(marker + line for line in stamped()), "", "Fixed."]) + "\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == FACTS
    assert not docs[0]["oom"]["trigger"]["name"].startswith(">")


def test_quoted_and_wrapped_reply(tmp_path, monkeypatch):
    quoted = ["> " + line for line in webmail(stamped(), 70)]
    docs = read_every_way(tmp_path, "\n".join([*MAIL_HEAD, *quoted]) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


# -- 15: quoted-printable mail bodies ----------------------------------------------------------


def test_quoted_printable_body(tmp_path, monkeypatch):
    body = quopri.encodestring(("\n".join(stamped()) + "\n").encode()).decode()
    assert "=3D" in body and "=\n" in body  # escapes and soft line breaks
    head = ["Content-Type: text/plain; charset=utf-8"]
    head.append("Content-Transfer-Encoding: quoted-printable")
    docs = read_every_way(tmp_path, "\n".join([*head, "", body]), monkeypatch)
    assert only_facts(docs) == FACTS


def test_quoted_printable_soft_break_inside_a_word_without_header(tmp_path, monkeypatch):
    lines = [line.replace("=", "=3D") for line in dmesg_lines()]
    kill = lines[-1]
    cut = kill.index("oom_score_adj") + 5
    lines[-1:] = [kill[:cut] + "=", kill[cut:]]  # `oom_s=` / `core_adj:1000`
    header = lines[0]
    cut = header.index("invoked") + 3
    lines[0:1] = [header[:cut] + "=", header[cut:]]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)
    assert docs[0]["oom"]["victims"][0]["oom_score_adj"] == 1000


def test_quoted_printable_body_with_no_line_long_enough_for_a_soft_break(tmp_path, monkeypatch):
    """A mail wrapped at 66 columns, then encoded: no line was long enough for a soft break,
    so only its `=3D` escapes show the encoding, and they were read as they stand (no
    gfp_mask, no order, no cgroup)."""
    lines = [line.replace("=", "=3D") for line in _mail_wrapped(dmesg_lines(), 66)]
    assert not any(line.endswith("=") or len(line) > 76 for line in lines)
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)


def test_a_forums_bbcode_around_marked_lines_is_no_part_of_them(tmp_path, monkeypatch):
    """A forum post that coloured the lines it pointed at (`[COLOR="Red"]…[/COLOR]`, also
    right after a stamp): `Free swap` and the kill behind a tag were not read."""
    lines = stamped()
    lines[-1] = lines[-1].replace("] ", '] [COLOR="Red"]', 1) + "[/COLOR]"
    lines[1] = lines[1] + " [b]see[/b]"
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


def test_a_terminal_cut_inside_a_size_then_a_mail_wrap_is_rejoined(tmp_path, monkeypatch):
    """A terminal cut the kill line inside `316kB` (`file-rss:316k` / `B, shmem-rss:…`), then
    a mail client wrapped its first part at a blank: the rest was no line's rest, so the
    sizes after the cut were lost."""
    lines = dmesg_lines()
    stamp, kill = lines[-1].split("] ", 1)
    first, rest = kill.split("file-rss:316k")
    head, tail = first.split(" total-vm:")
    lines[-1:] = [f"{stamp}] {head}", f"total-vm:{tail}file-rss:316k", rest]
    assert lines[-1].startswith("B, shmem-rss:12kB")
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    victim = doc["oom"]["victims"][0]
    assert (victim["file_rss_bytes"], victim["shmem_rss_bytes"]) == (316 * 1024, 12 * 1024)


@pytest.mark.parametrize("cut", ["sh", "shmem-rss", "shmem-"])
def test_a_terminal_cut_inside_a_size_key_then_a_mail_wrap_is_rejoined(cut, tmp_path, monkeypatch):
    """The same, cut inside a key (`file-rss:316kB, sh` / `mem-rss:12kB`): the key was
    broken and its size lost."""
    lines = dmesg_lines()
    stamp, kill = lines[-1].split("] ", 1)
    first, rest = kill.split("file-rss:316kB, " + cut)
    head, tail = first.split(" total-vm:")
    lines[-1:] = [f"{stamp}] {head}", f"total-vm:{tail}file-rss:316kB, {cut}", rest]
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    victim = doc["oom"]["victims"][0]
    assert (victim["file_rss_bytes"], victim["shmem_rss_bytes"]) == (316 * 1024, 12 * 1024)


def test_a_summary_cut_inside_a_path_then_a_mail_wrap_is_rejoined(tmp_path, monkeypatch):
    """A terminal cut the summary inside `oom_memcg=/app.sl` / `ice,task_memcg=…`, then a mail
    wrap broke its start: the rest stood alone, so no task cgroup and no victim by it."""
    lines = dmesg_lines()
    at = next(n for n, line in enumerate(lines) if "oom-kill:" in line)
    first, rest = lines[at].split("oom_memcg=/app.sl")
    lines[at : at + 1] = [first + "oom_memcg=/app.sl", rest]
    assert lines[at + 1].startswith("ice,task_memcg=/app.slice,")
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    cgroup = doc["oom"]["cgroup"]
    assert (cgroup["task_path"], cgroup["oom_path"]) == ("/app.slice", "/app.slice")


def test_plain_syslog_with_equals_signs_is_not_decoded(tmp_path, monkeypatch):
    lines = [*stamped(), "Nov 25 10:00:06 web1 app[7]: key=3D1 total=20"]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


# -- the command users run reads every shape -----------------------------------------------


def test_parse_command_reads_every_pasted_shape(tmp_path):
    shapes = {
        "wrapped.eml": "\n".join([*MAIL_HEAD, *webmail(stamped(), 72)]),
        "quoted.eml": "\n".join("> " + line for line in stamped()),
        "qp.eml": quopri.encodestring("\n".join(stamped()).encode()).decode(),
        "hostless.log": "\n".join(stamped(host="")),
        "export.json": json.dumps({"hits": [{"message": line} for line in stamped()]}, indent=2),
        "dmesg-T-ja.txt": "\n".join(f"[火 12月  1 20:17:50 2026] {line}" for line in REPORT),
    }
    paths = []
    for name, text in shapes.items():
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")
        paths.append(str(tmp_path / name))
    for path in paths:
        done = subprocess.run(
            [sys.executable, "-m", "oom_enricher", "parse", path],
            capture_output=True,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0, (path, done.stderr)
        docs = [orjson.loads(line) for line in done.stdout.splitlines()]
        assert len(docs) == 1, path
        expected_host = None if "hostless" in path or "dmesg" in path else "web1"
        assert facts(docs[0]) == dict(FACTS, host=expected_host), path


def test_runs_of_continuation_shaped_lines_stay_bounded():
    from oom_enricher.normalize.pasted_text import MAX_LINE_CHARS, PasteReader

    reader = PasteReader()
    lines = [stamped()[0].split(" gfp_mask=")[0], *("order=0," for _ in range(50_000))]
    qp = ["x=3Dy=3D=", *("a=" for _ in range(50_000)), "end"]
    for text in (lines, qp):
        shape = reader.sniff(text)
        assert shape.is_paste
        records = list(reader.records(iter(text), shape))
        assert max(len(record.message) for record in records) <= MAX_LINE_CHARS
        assert len(records) > 10


V1_DOCKER_ID = "0f2b3fcdd2578165ea77266cdc7b1ad43e75877b0ac1889ecda30a78cb78bd53"
V1_REPORT = [
    "java invoked oom-killer: gfp_mask=0x14000c0(GFP_KERNEL), nodemask=(null), order=0,",
    "oom_score_adj=0",
    "CPU: 0 PID: 27424 Comm: java Tainted: G  OE    4.15.0-1037 #39-Ubuntu",
    "Hardware name: Microsoft Corporation Virtual Machine/Virtual Machine, BIOS 090007",
    "06/02/2017",
    "Call Trace:",
    " dump_stack+0x63/0x89",
    f"Task in /docker/{V1_DOCKER_ID}",
    "killed as a result of limit of /docker/",
    V1_DOCKER_ID,
    "memory: usage 524288kB, limit 524288kB, failcnt 77",
    f"Memory cgroup stats for /docker/{V1_DOCKER_ID[:12]}: cache:0KB rss:520580KB",
    "rss_huge:450560KB shmem:0KB mapped_file:0KB dirty:0KB writeback:0KB",
    "inactive_anon:0KB active_anon:520580KB inactive_file:0KB active_file:0KB",
    "unevictable:0KB",
    "[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name",
    "[27281]     0 27281  1153302   134371    1466       7        0             0 java",
    "Memory cgroup out of memory: Kill process 27281 (java) score 1027 or sacrifice child",
    "Killed process 27281 (java) total-vm:4613208kB, anon-rss:517316kB, file-rss:20168kB,",
    "shmem-rss:0kB",
]


@pytest.mark.parametrize("split_key", [False, True])
def test_a_bare_paste_wrapped_inside_a_path_a_stats_line_and_a_bios_date_is_rejoined(
    split_key, tmp_path, monkeypatch
):
    """A paste with no prefixes, wrapped by a mail client: the rest of a cgroup path after
    its `/` (a bare id), the rest of a v1 one-line stats line (`rss_huge:...KB`) and the BIOS
    date of the `Hardware name:` line were lines of their own, so the limit's path was
    `/docker/`, the stats kept two keys and the hardware lost its date. A wrap inside a
    stats key (`inacti` / `ve_file:0KB`) gave a key `ve_file` and lost `inactive_file`."""
    lines = list(V1_REPORT)
    if split_key:
        at = lines.index("inactive_anon:0KB active_anon:520580KB inactive_file:0KB active_file:0KB")
        lines[at : at + 1] = [
            "inactive_anon:0KB active_anon:520580KB inacti",
            "ve_file:0KB active_file:0KB",
        ]
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    oom = doc["oom"]
    path = f"/docker/{V1_DOCKER_ID}"
    assert (oom["cgroup"]["task_path"], oom["cgroup"]["oom_path"]) == (path, path)
    assert doc["container"]["id"] == V1_DOCKER_ID
    assert oom["memcg_stats"] == {
        key: kb * 1024
        for key, kb in {
            "cache": 0, "rss": 520580, "rss_huge": 450560, "shmem": 0, "mapped_file": 0,
            "dirty": 0, "writeback": 0, "inactive_anon": 0, "active_anon": 520580,
            "inactive_file": 0, "active_file": 0, "unevictable": 0,
        }.items()
    }  # fmt: skip
    assert doc["host"]["hardware"] == (
        "Microsoft Corporation Virtual Machine/Virtual Machine, BIOS 090007 06/02/2017"
    )
    assert (oom["selected"]["pid"], oom["victims"][0]["shmem_rss_bytes"]) == (27281, 0)


@pytest.mark.parametrize(
    ("before", "rest", "joined"),
    [
        ("Task in / killed as a result of limit of /", "kubepods", "/ kubepods"),  # root path
        ("...cpuset=/", "mems_allowed=0", "cpuset=/ mems_allowed=0"),
        ("Task in /docker/", "0f2b3f", "/docker/0f2b3f"),
    ],
)
def test_only_a_path_deeper_than_the_root_is_rejoined_without_a_space(before, rest, joined):
    from oom_enricher.normalize.wrap_rules import joint as _joint

    assert joined in before + _joint(before, rest) + rest


@pytest.mark.parametrize("marker", ["# ", "    # ", "// "])
def test_log_lines_kept_as_comments_of_a_script_or_test(marker, tmp_path, monkeypatch):
    """A parser's test or a script keeps sample lines as comments: every anchored rule
    failed behind the marker, so the report was lost."""
    code = ["def test_kills():", '    """Lines as the node wrote them:"""']
    text = "\n".join(code + [marker + line for line in stamped()] + ["    assert True"]) + "\n"
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_a_root_prompt_and_a_markdown_heading_are_no_commented_paste():
    reader = PasteReader()
    head = ["# dmesg | grep -i oom", "# Memory report", *stamped()]
    assert not reader.sniff(head).commented


@pytest.mark.parametrize("lead", ["web-1  | ", "Received message  ", "[pod/web-5d9c/app] "])
def test_lines_behind_the_text_a_relaying_tool_wrote_keep_every_fact(lead, tmp_path, monkeypatch):
    """docker compose logs (`web-1  | `), a syslog receiver's debug output, kubectl logs
    --prefix: the text before every line hid its own prefix, so every anchored rule failed."""
    text = "".join(f"{lead}{line}\n" for line in stamped())
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


@pytest.mark.parametrize("bare", [False, True], ids=["dmesg", "dmesg -t"])
def test_pdsh_output_names_the_host_of_each_line(bare, tmp_path, monkeypatch):
    """`pdsh -w web[1-2] dmesg`: each line behind its node's name, two nodes interleaved;
    the dmesg lines (bare or stamped) name no host of their own."""
    lines = REPORT if bare else dmesg_lines()
    other = [line.replace("101 (stress)", "202 (stress)") for line in lines]
    mixed = [x for pair in zip(lines, other, strict=True) for x in pair]
    text = "".join(
        ("web1: " if n % 2 == 0 else "web2: ") + line + "\n" for n, line in enumerate(mixed)
    )
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert sorted((doc["host"]["name"], doc["process"]["pid"]) for doc in docs) == [
        ("web1", 101),
        ("web2", 202),
    ]
    assert facts(next(doc for doc in docs if doc["host"]["name"] == "web1")) == FACTS


def test_a_bare_report_has_no_relayed_lines():
    assert PasteReader().sniff(REPORT).leads == ()


V1_BREAKS_ELSEWHERE = [
    "java invoked oom-killer: gfp_mask=0x14000c0(GFP_KERNEL), nodemask=(null), order=0,",
    "oom_score_adj=0",
    "CPU: 0 PID: 27424 Comm: java Tainted: G  OE    4.15.0-1037-azure",
    "#39-Ubuntu",
    "Call Trace:",
    " dump_stack+0x63/0x89",
    "Task in",
    f"/docker/{V1_DOCKER_ID}",
    "killed as a result of limit of",
    f"/docker/{V1_DOCKER_ID}",
    "memory: usage 524288kB, limit 524288kB, failcnt 77",
    "Memory cgroup stats for",
    f"/docker/{V1_DOCKER_ID}: cache:0KB rss:520580KB",
    "[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name",
    "[  613]     0   613    28285       74      53       3      192         -1000",
    "systemd-udevd",
    "[27281]     0 27281  1153302   134371    1466       7        0             0",
    "java",
    "Memory cgroup out of memory: Kill process 27281 (java) score 1027 or",
    "sacrifice child",
    "Killed process 27281",
    "(java) total-vm:4613208kB, anon-rss:517316kB, file-rss:20168kB, shmem-rss:0kB",
]


def test_a_bare_paste_wrapped_before_a_path_a_name_and_the_build_is_rejoined(tmp_path, monkeypatch):
    """A mail client breaks before a word too long for the rest of the line: a memcg line's
    path after `Task in`, `limit of` or `stats for`, a task row's name after its numbers, the
    `sacrifice child` of a choice, a kill's name, the CPU line's build. No kernel line ends
    at any of these, so each rest is rejoined, in a paste that has no prefixes at all."""
    (doc,) = read_every_way(tmp_path, "\n".join(V1_BREAKS_ELSEWHERE) + "\n", monkeypatch)
    oom = doc["oom"]
    path = f"/docker/{V1_DOCKER_ID}"
    assert (oom["cgroup"]["task_path"], oom["cgroup"]["oom_path"]) == (path, path)
    assert doc["container"]["id"] == V1_DOCKER_ID
    assert oom["memcg_stats"] == {"cache": 0, "rss": 520580 * 1024}
    assert [(row["pid"], row["name"]) for row in oom["tasks"]] == [
        (613, "systemd-udevd"),
        (27281, "java"),
    ]
    assert (oom["selected"]["pid"], oom["selected"]["score"]) == (27281, 1027)
    assert (doc["process"]["pid"], oom["victims"][0]["anon_rss_bytes"]) == (27281, 517316 * 1024)
    assert doc["host"]["os"]["kernel"] == "4.15.0-1037-azure"


@pytest.mark.parametrize("soft_break", ["", " "], ids=["webmail", "flowed"])
def test_rest_starting_with_a_dotted_name_or_a_negative_score_adj_is_rejoined(
    soft_break, tmp_path, monkeypatch
):
    """The rest of a kill line that begins with its name in parentheses, whatever the name
    begins with (`(.thunderbird-wr) total-vm:`), and the rest of a task row that begins with
    a negative oom_score_adj (`-1000 sshd`)."""
    lines = stamped()
    row = lines.index(next(line for line in lines if "74798" in line))
    head, _ = lines[row].rsplit(" 1000 stress", 1)
    lines[row : row + 1] = [head + soft_break, "-1000 stress"]
    head, tail = lines[-1].split(" (stress)")
    lines[-1:] = [head + soft_break, "(.stress-wr)" + tail]
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert doc["process"] == {"pid": 101, "name": ".stress-wr"}
    assert doc["oom"]["victims"][0]["total_vm_bytes"] == 299192 * 1024
    assert [(row["name"], row["oom_score_adj"]) for row in doc["oom"]["tasks"]] == [
        ("stress", -1000)
    ]


@pytest.mark.parametrize("mark", ["...", "(...snipped...)", "<snip>", ":", "[...]"])
def test_a_row_cut_before_its_name_keeps_an_author_mark_after_it_apart(mark):
    rows = [
        "[  613]     0   613    28285       74      53       3      192         -1000",
        mark,
    ]
    reader = PasteReader()
    shape = reader.sniff(rows)
    assert [record.message for record in reader.records(rows, shape)] == rows


@pytest.mark.parametrize("marker", ["# ", "// "])
def test_bare_report_lines_kept_as_comments_keep_every_fact(marker, tmp_path, monkeypatch):
    """A parser's fixture of a report pasted bare (no prefix on any line) behind comment
    markers: no prefix rule saw a log line behind the marker, so it stayed, and the header
    became `# stress invoked oom-killer` with no report."""
    text = "\n".join(["def test_kills():", *(marker + line for line in REPORT)]) + "\n"
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    assert facts(doc) == dict(FACTS, host=None)


def test_the_words_before_a_report_line_of_a_bare_paste_are_no_lead():
    """`Memory cgroup out of memory: Killed process ...` twice (a group kill) holds a bare
    report line (`out of memory: `) after `Memory cgroup `; it is one of its own."""
    kills = [
        "Memory cgroup out of memory: Killed process 101 (stress) total-vm:299192kB",
        "Memory cgroup out of memory: Killed process 102 (stress) total-vm:299192kB",
    ]
    assert PasteReader().sniff(REPORT[:-1] + kills).leads == ()


# -- line numbers a viewer wrote, entities of an HTML page ---------------------------------

SHOW_MEM = ["262144 pages RAM", "0 pages HighMem/MovableOnly", "6413 pages reserved"]


def with_show_mem(lines: list[str]) -> list[str]:
    """REPORT's lines with show_mem's page counts, lines that begin with a number, before
    its task table."""
    at = next(n for n, line in enumerate(lines) if "Tasks state" in line)
    start = lines[at][: lines[at].index("Tasks state")]
    return [*lines[:at], *(start + line for line in SHOW_MEM), *lines[at:]]


NUMBERINGS = {
    "cat -n": lambda n: f"{n:6d}\t",
    "less -N": lambda n: f"{n:7d} ",
    "editor gutter": lambda n: f"{n:4d} ",
    "number colon": lambda n: f"{n}: ",
    "grep -n": lambda n: f"{n}:",
}


@pytest.mark.parametrize("numbering", NUMBERINGS.values(), ids=NUMBERINGS.keys())
@pytest.mark.parametrize(
    "lines", [stamped, dmesg_lines, lambda: REPORT], ids=["syslog", "dmesg", "bare"]
)
def test_line_numbers_a_viewer_wrote_are_taken_off(numbering, lines, tmp_path, monkeypatch):
    """`cat -n`, `less -N`, an editor's gutter, `grep -n`: the number in front of every line
    hid its prefix, so every anchored rule failed and the report was lost or half read."""
    report = with_show_mem(lines())
    text = "".join(numbering(n) + line + "\n" for n, line in enumerate(report, start=31))
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    expected = FACTS if lines is stamped else {**FACTS, "host": None}
    assert facts(doc) == expected
    assert doc["oom"]["system"]["ram_pages"] == 262144  # its own number kept


def test_nl_leaves_blank_lines_unnumbered(tmp_path, monkeypatch):
    lines = [*stamped()[:3], "", *stamped()[3:]]
    text = "".join(
        (f"{n:6d}\t{line}" if line else "      ") + "\n" for n, line in enumerate(lines, 1)
    )
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_grep_n_context_lines_and_group_separators(tmp_path, monkeypatch):
    """`grep -n -B1 -A30 invoked`: matches `41:`, context lines `40-`, groups apart by `--`;
    numbers skip between groups."""
    noise = "Nov 25 09:59:58 web1 systemd[1]: Started Session 4."
    lines = [f"17-{noise}", "18:" + stamped()[0].replace("stress invoked", "cron invoked"), "--"]
    lines += [
        f"{40 + n}{':' if n == 1 else '-'}{line}" for n, line in enumerate([noise, *stamped()])
    ]
    text = "\n".join(lines) + "\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert facts(docs[-1]) == FACTS


@pytest.mark.parametrize(
    "prefixes",
    [
        (f"{PREFIX}[    5.100000] ", f"{PREFIX}[    5.100001] "),
        (
            "kern:    info: [2026-07-25T14:23:17.527201795Z]: ",
            "kern:     err: [2026-07-25T14:23:17.527285605Z]: ",
        ),
    ],
    ids=["syslog", "talosctl dmesg"],
)
def test_a_two_line_grep_n_paste_keeps_the_kill(prefixes, tmp_path, monkeypatch):
    """`grep -n oom` may match just the summary and the kill: two numbers, one step."""
    summary, kill = REPORT[-2], REPORT[-1]
    text = f"7:{prefixes[0]}{summary}\n8:{prefixes[1]}{kill}\n"
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    victim = doc["process"]
    assert (victim["pid"], victim["name"], doc["user"]["id"]) == (101, "stress", "0")
    assert doc["oom"]["constraint"] == "CONSTRAINT_MEMCG"
    assert doc["oom"]["lines_count"] == 2


def test_numbers_that_begin_report_lines_are_no_line_numbers():
    """show_mem's `262144 pages RAM`, a markdown list: numbers that do not count up line by
    line in the paste's layout stay."""
    reader = PasteReader()
    assert reader.sniff(with_show_mem(REPORT)).line_numbers is None
    (doc,) = documents_from_lines(with_show_mem(REPORT))
    assert doc["oom"]["system"]["ram_pages"] == 262144
    steps = ["1. Start the service", "2. Wait an hour", "", "The kernel said:"]
    assert reader.sniff([*steps, *REPORT]).line_numbers is None


@pytest.mark.parametrize("quote", [False, True], ids=["text", "attribute"])
def test_text_from_a_pages_html_source_is_unescaped(quote, tmp_path, monkeypatch):
    """Copied from a page's HTML source or an escaped export: `&gt;` hid a pager's cut mark
    and the `<TASK>` lines, `&#39;` and `&quot;` a process name's quotes."""

    lines = [*stamped()[:-1], stamped()[-1][:60] + ">"]  # the kill line cut by a pager
    text = html.escape("\n".join(["<pre>", *lines]) + "\n", quote=quote)
    assert text.count("&gt;") >= 3
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    assert doc["oom"]["complete"] is False
    assert doc["oom"]["incomplete_reason"] == "truncated_line"
    assert facts(doc)["trigger"] == FACTS["trigger"]


PAGE_MARKUP = {
    "pre block": lambda lines: [
        '<div class="post"><pre><code class="language-text">' + lines[0],
        *lines[1:-1],
        lines[-1] + "</code></pre></div>",
    ],
    "pre on lines of its own": lambda lines: ["<pre>", *lines, "</pre>"],
    "blog paragraphs": lambda lines: [f"<p>{line}<br />" for line in lines],
    "highlighter spans": lambda lines: [f'<span class="line">{line}</span>' for line in lines],
}


@pytest.mark.parametrize("markup", PAGE_MARKUP, ids=PAGE_MARKUP.keys())
def test_the_lines_inside_a_pages_markup(markup, tmp_path, monkeypatch):
    """A page's source: the log inside `<pre>`, a highlighter's `<span>`s or a blog's
    paragraphs with `<br />`, `<` and `&` escaped. The tags hid the first line's stamp and
    every prefix (no report, or one without its header); the kernel's own `<TASK>` lines,
    escaped, are text."""
    lines = PAGE_MARKUP[markup]([html.escape(line) for line in stamped()])
    assert any("&lt;TASK&gt;" in line for line in lines)
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert facts(doc) == FACTS
    assert doc["oom"]["lines_count"] == len(REPORT)


BLOCK_MARKUP = {
    "markdown fence glued": lambda lines: ["```" + lines[0], *lines[1:-1], lines[-1] + "```"],
    "tilde fence with a language": lambda lines: ["~~~console", *lines, "~~~"],
    "bbcode": lambda lines: ["[CODE=text]" + lines[0], *lines[1:], "[/CODE]"],
    "jira code": lambda lines: ["{code:title=dmesg|borderStyle=solid}", *lines, "{code}"],
    "jira noformat glued": lambda lines: ["{noformat}" + lines[0], *lines[1:-1], lines[-1] + "{noformat}"],  # noqa: E501
}  # fmt: skip


@pytest.mark.parametrize("markup", BLOCK_MARKUP, ids=BLOCK_MARKUP.keys())
def test_the_lines_inside_a_code_blocks_markup(markup, tmp_path, monkeypatch):
    """A forum's BBCode, a tracker's `{code}` / `{noformat}` or a Markdown fence around the
    log, glued to its first or last line: it hid the first line's prefix and the victim's
    name, or was counted as a line of the report."""
    lines = BLOCK_MARKUP[markup](stamped())
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert facts(doc) == FACTS
    assert doc["oom"]["lines_count"] == len(REPORT)


def test_a_log_line_that_quotes_a_tag_is_no_page_markup():
    """A syslog line of an application that logs HTML has its prefix before the tag, and
    markup the kernel prints (`<TASK>`, a raw `<4>` level) is no tag."""
    reader = PasteReader()
    logged = [*stamped()[:3], "Nov 25 10:00:05 web1 app[7]: sent <p>done</p><br>", *stamped()[3:]]
    assert not reader.sniff(logged).html_markup
    raw_levels = [f"<4>[{5 + n / 1000:12.6f}] {line}" for n, line in enumerate(REPORT)]
    assert not reader.sniff(raw_levels).html_markup
    assert not reader.sniff([" <TASK>", " dump_stack+0x1/0x2", " </TASK>"] * 2).html_markup


@pytest.mark.parametrize("spaces", [" \xa0", "\xa0\xa0"], ids=["runs kept", "every space"])
def test_no_break_spaces_of_a_rendered_page(spaces, tmp_path, monkeypatch):
    """A page shows runs of spaces (a task table's columns, the stamp's padding) as
    `&nbsp;`; copied from the page they are U+00A0, and no rule matched them."""
    lines = [line.replace("  ", spaces) for line in stamped()]
    if spaces == "\xa0\xa0":
        lines = [line.replace(" ", "\xa0") for line in lines]
    assert sum("\xa0" in line for line in lines) >= 5
    assert only_facts(read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)) == FACTS


LITERAL_LISTS = {
    "python list": lambda lines: ["LINES = [", *(f"    {line!r}," for line in lines), "]"],
    "go concatenation": lambda lines: [
        "const dmesg = " + json.dumps(lines[0] + "\n") + " +",
        *(json.dumps(line + "\n") + " +" for line in lines[1:]),
        '""',
    ],
    "javascript array": lambda lines: [
        "const lines = [",
        *(f"  {json.dumps(x)}," for x in lines),
        "];",
    ],
    "json array": lambda lines: [json.dumps(lines, indent=2)],
    "yaml": lambda lines: ["lines:", *(f"  - message: {json.dumps(x)}" for x in lines)],
}


@pytest.mark.parametrize("literal", LITERAL_LISTS.values(), ids=LITERAL_LISTS.keys())
def test_log_lines_kept_as_string_literals_of_a_fixture(literal, tmp_path, monkeypatch):
    """A parser's fixture keeps a report as a list of strings: the quotes, the escapes
    (`\\"`, `\\n`) and the list's brackets hid every prefix, so nothing was read."""
    lines = [*stamped()[:-1], stamped()[-1].replace("(stress)", '(str"ss)')]
    text = "\n".join(literal(lines)) + "\n"
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    assert doc["process"]["name"] == 'str"ss'  # its escape undone
    assert doc["oom"]["lines_count"] == len(REPORT)  # no bracket taken for a line
    assert {**facts(doc), "victim": FACTS["victim"]} == FACTS


def test_quoted_words_in_a_log_are_no_string_literals():
    reader = PasteReader()
    head = [*stamped(), '"quoted words"', "Nov 25 10:01:00 web1 app: done"]
    assert not reader.sniff(head).string_literals


def test_a_blank_line_after_every_line_keeps_a_journal_records_rest(tmp_path, monkeypatch):
    """Copied from a page that puts each line in a paragraph of its own: the blank lines
    parted a journal record (`Memory cgroup stats for …:` and its indented keys) from its
    rest, so the stats were cut to their first key."""
    stats_at = next(n for n, line in enumerate(stamped()) if "swap: usage" in line)
    start = PREFIX
    indent = " " * len(start)
    stats = [
        start + "Memory cgroup stats for /app.slice:",
        start + "anon 95408128",
        indent + "file 4096",
        indent + "kernel_stack 16384",
    ]
    lines = [*stamped()[: stats_at + 1], *stats, *stamped()[stats_at + 1 :]]
    text = "".join(line + "\n\n" for line in lines)
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    assert doc["oom"]["memcg_stats"] == {"anon": 95408128, "file": 4096, "kernel_stack": 16384}
    assert facts(doc) == FACTS


def test_paragraphs_of_a_mail_are_not_double_spacing():
    reader = PasteReader()
    head = ["Hi,", "", "the node died:", "", *stamped(), "", "Any idea?"]
    assert not reader.sniff(head).double_spaced


def _mail_wrapped(lines: list[str], width: int = 64) -> list[str]:
    """As a mail client sends them (format=flowed): broken after the last blank that fits,
    the blank kept; a word longer than the width cut at it."""
    out = []
    for line in lines:
        while len(line) > width:
            blank = line.rfind(" ", 0, width)
            cut = blank + 1 if blank >= 0 else width
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def test_a_bare_report_wrapped_by_a_mail_client(tmp_path, monkeypatch):
    """A report without prefixes, wrapped at 64 columns: its task table's header broken in
    its names and its row in its numbers (the row was lost and the report said its table
    had no rows), and the summary cut inside its words (a blank was put between the
    pieces)."""
    lines = _mail_wrapped(REPORT)
    assert "oom_score_adj name" in lines and "   1000 stress" in lines
    assert any(line.startswith("ms_allowed=0,oom_memcg=") for line in lines)
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert facts(doc) == dict(FACTS, host=None)
    assert doc["oom"]["cgroup"]["task_path"] == "/app.slice"


def test_pids_that_begin_the_wrapped_rest_of_kill_lines_are_no_line_numbers(tmp_path, monkeypatch):
    """A group kill of processes with consecutive pids, each kill line wrapped before its
    pid: the pids counted up by one and were taken off as a viewer's line numbers."""
    kills = [
        f"[ 5.{n:06d}] Memory cgroup out of memory: Killed process {3804873 + n} (stress) "
        "total-vm:13632272kB, anon-rss:1489488kB, file-rss:264kB, shmem-rss:0kB"
        for n in range(4)
    ]
    lines = [*(f"[ 5.000000] {line}" for line in REPORT[:-1]), *_mail_wrapped(kills, 60)]
    assert sum(line.startswith("38048") for line in lines) == 4
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert [victim["pid"] for doc in docs for victim in doc["oom"]["victims"]][:4] == [
        3804873,
        3804874,
        3804875,
        3804876,
    ]


def test_a_line_cut_after_an_equals_sign_is_no_quoted_printable(tmp_path, monkeypatch):
    """Only the summary names the victim (its kill line is not in the paste), cut by the
    wrap right after `pid=`, and `=18...` further on: taken for a quoted-printable body,
    whose `=` soft break glued `pid` to the number and lost the victim's pid."""
    lines = [*stamped()[:-1], "Nov 25 10:00:06 web1 app[7]: total=1800 rss=20"]  # no kill
    wraps = (_mail_wrapped(lines, width) for width in range(60, 80))
    lines = next(pieces for pieces in wraps if any(p.endswith(",pid=") for p in pieces))
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    victim = doc["oom"]["victims"][0]
    assert (victim["pid"], victim["name"], victim["uid"]) == (101, "stress", 0)


def test_the_rests_of_wrapped_lines_that_begin_alike_are_no_lead(tmp_path, monkeypatch):
    """Kill lines wrapped after `Memory`: their rests begin `cgroup out of memory: ` before
    a report line, twice, and were taken for a relaying tool's text and cut off."""
    lines = [*stamped()[:-1]]
    for n in range(2):
        lines += [
            f"Nov 25 10:00:05 web1 kernel: [    5.01{2 + n}000] Memory",
            f"cgroup out of memory: Killed process {101 + n} (stress) total-vm:299192kB",
        ]
    assert PasteReader().sniff(lines).leads == ()
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert [victim["pid"] for doc in docs for victim in doc["oom"]["victims"]] == [101, 102]


def test_a_wrap_after_a_hyphen_inside_a_word_is_joined_without_a_blank(tmp_path, monkeypatch):
    """A client that breaks after hyphens (`cri-` / `containerd-...`) in the summary's cgroup
    path: the rest stood alone, and the victim's cgroup and container were lost."""
    path = "/kubepods-burstable.slice/cri-containerd-0123abcd.scope"
    lines = [line.replace("task_memcg=/app.slice", f"task_memcg={path}") for line in stamped()]
    summary = next(n for n, line in enumerate(lines) if "oom-kill:" in line)
    cut = lines[summary].index("cri-") + 4
    lines[summary : summary + 1] = [lines[summary][:cut], lines[summary][cut:]]
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert doc["oom"]["cgroup"]["task_path"] == path


def test_a_quoted_line_broken_right_after_its_marker(tmp_path, monkeypatch):
    """A reply's client wrapped the quoted lines again: a quoted path too long to stand
    beside its `> ` went to the next line without it, leaving the marker alone, which read
    as a blank line that ended the line the path goes on (the cgroups and the container
    were lost)."""
    path = "/docker/a4d47fb7bbc8a2bbc172bd26085c4509364b1b7eec61439669e08e281b181a0b"
    lines = [
        "> [    5.000000] sh invoked oom-killer: gfp_mask=0xd0, order=0, oom_score_adj=0",
        "> [    5.000001] CPU: 0 PID: 20908 Comm: sh Not tainted 3.13.0-36-generic #63",
        "> [    5.000002] Task in ",
        "> ",
        path,
        "> killed as a result of limit of ",
        ">",
        path,
        "> [    5.000003] memory: usage 10240kB, limit 10240kB, failcnt 1",
        "> [    5.000004] Killed process 20977 (sh) total-vm:4404kB, anon-rss:0kB, file-rss:508kB",
    ]
    (doc,) = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert (doc["oom"]["cgroup"]["task_path"], doc["oom"]["cgroup"]["oom_path"]) == (path, path)
    assert doc["container"]["id"] == path.rsplit("/", 1)[1]


def test_a_log_on_one_line_joined_by_newline_escapes_is_read_line_by_line(tmp_path, monkeypatch):
    """A string value copied out of a JSON viewer or an error message: every line of the
    log in one, between `\\n` escapes, quotes escaped. It was one line: no report."""
    body = json.dumps("".join(line + "\n" for line in stamped()))
    text = f"error: node web1 reported {body} and went NotReady\n"
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    assert facts(doc) == FACTS


def test_a_program_line_with_newline_escapes_that_holds_no_log_lines_stays_one_line():
    """`\\n` in another program's text (a stack trace in a JSON message) splits nothing."""
    line = 'Nov 25 10:00:05 web1 app[7]: {"err": "boom\\n  at main.go:12\\n  at run.go:40"}'
    assert not PasteReader().sniff([line]).escaped_newlines


def counted_calls(monkeypatch, owner: object, name: str) -> list[int]:
    """`owner.name` replaced by a wrapper that counts its calls (in the list's one item)."""
    calls = [0]
    real = getattr(owner, name)

    def counted(*args):
        calls[0] += 1
        return real(*args)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_line_of_quotes_before_newline_escapes_looks_for_the_string_near_its_start(
    monkeypatch,
):
    """Where the string opens is looked for among the first characters only: a line of
    300,000 quotes before its escapes tried each (6.5 s, quadratic)."""
    line = "x" + '"' * 300_000 + "\\n[ 1.0] a\\n[ 2.0] b"
    calls = counted_calls(monkeypatch, PasteReader, "_log_line")
    reader = PasteReader()
    shape = reader.sniff([line])
    assert shape.escaped_newlines
    assert [record.message for record in reader.records(iter([line]), shape)][-2:] == [
        "[ 1.0] a",
        "[ 2.0] b",
    ]
    assert calls[0] < 1000


def test_the_sniff_reads_a_head_line_of_many_lines_only_as_far_as_a_head(monkeypatch):
    """One physical line holding 25,000 lines between escapes: the sniff looked at all of
    them, several times (2.1 s of 3.5)."""
    line = "[ 1.0] x\\n" * 25_000
    calls = counted_calls(monkeypatch, pasted_text, "match_prefix")
    assert PasteReader().sniff([line]).escaped_newlines
    assert calls[0] < 20 * pasted_text.SNIFF_ALL_LINES
