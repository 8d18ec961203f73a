"""Line prefixes as exports and pastes write them: no host, other month names, redacted
hosts, two records glued onto one line, and one event with mixed prefixes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oom_enricher.normalize.line_normalizer import LineNormalizer, NormalizeOptions
from oom_enricher.normalize.terminal_codes import without_terminal_codes
from oom_enricher.pipeline import documents_from_lines
from tests.core.pasted_reports import FACTS, REPORT, dmesg_lines, facts, read_every_way, stamped

REF = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def only_facts(docs: list[dict]) -> dict:
    assert len(docs) == 1
    return facts(docs[0])


# -- 2: syslog and journal lines without a host field ------------------------------------


def test_syslog_line_without_host_field_keeps_every_fact(tmp_path, monkeypatch):
    text = "\n".join(stamped(host="")) + "\n"
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == dict(FACTS, host=None)


def test_hostless_journal_short_line_without_printk_stamp():
    lines = [f"Nov 25 10:00:05 kernel: {line}" for line in REPORT]
    (doc,) = documents_from_lines(lines)
    assert facts(doc) == dict(FACTS, host=None)
    assert doc["@timestamp"].startswith(f"{REF.year}-11-25T10:00:05")


@pytest.mark.parametrize(
    ("raw", "tag", "message"),
    [
        ("Nov 25 10:00:05 kernel: oom_reaper: reaped process 1 (a)", "kernel", "oom_reaper: r"),
        ("Nov 25 10:00:05 kernel: memory: usage 1kB, limit 2kB", "kernel", "memory: usage 1kB"),
        ("Nov 25 10:00:05 systemd[1]: a.service: Failed", "systemd", "a.service: Failed"),
        ("Nov 25 10:00:05  kernel: oom-kill:constraint=X", "kernel", "oom-kill:constraint=X"),
    ],
)
def test_hostless_line_never_takes_its_tag_for_a_host(raw, tag, message):
    (line,) = LineNormalizer(NormalizeOptions(reference_time=REF)).normalize(raw)
    assert line.host is None
    assert line.message.startswith(message)
    assert line.is_kernel is (tag == "kernel")
    assert line.program == (None if tag == "kernel" else tag)


@pytest.mark.parametrize("host", ["web1", ""])
@pytest.mark.parametrize("printk_stamp", [True, False])
def test_an_empty_field_after_the_syslog_tag_is_no_part_of_the_message(
    host, printk_stamp, tmp_path, monkeypatch
):
    """Some rsyslog templates on RHEL/CentOS 6 write an empty field after the tag
    (`kernel: : [277622.359064] squid invoked oom-killer: ...`): the `: ` stayed in front of
    the message, so the trigger was named `: squid` and no anchored rule read a line."""
    start = f"Nov 25 10:00:05 {host} kernel: : " if host else "Nov 25 10:00:05 kernel: : "
    lines = dmesg_lines() if printk_stamp else list(REPORT)
    text = "".join(f"{start}{line}\n" for line in lines)
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == dict(FACTS, host=host or None)


def test_a_remembered_syslog_prefix_gives_what_the_rule_gives_to_an_empty_field():
    """The prefix kept from one line (`kernel: `) is no shortcut for the next line's
    `kernel: : ` prefix: the message is what the rule reads."""
    normalizer = LineNormalizer(NormalizeOptions(reference_time=REF))
    normalizer.normalize("Nov 25 10:00:05 web1 kernel: a")
    (line,) = normalizer.normalize("Nov 25 10:00:05 web1 kernel: : b")
    assert line.message == "b"
    normalizer.normalize("Nov 25 10:00:06 web1 kernel: [    5.000000] a")
    (line,) = normalizer.normalize("Nov 25 10:00:06 web1 kernel: : [    5.000001] b")
    assert (line.message, line.monotonic) == ("b", 5.000001)


# -- 3: month names in lower case or another language ------------------------------------


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        ("nov 25", "11-25"),  # lower-cased by a template
        ("jun 20", "06-20"),
        ("juin 20", "06-20"),  # fr_FR journalctl -o short
        ("Dez 24", "12-24"),  # de_DE
        ("окт  3", "10-03"),  # ru_RU
        ("10月 03", "10-03"),  # ja_JP / zh_CN: month number and the month character
        (" 6월 20", "06-20"),  # ko_KR pads the number
    ],
)
def test_localized_and_lower_case_syslog_months(month, expected, tmp_path, monkeypatch):
    lines = [line.replace("Nov 25", month.strip(), 1) for line in stamped(month=month)]
    options = NormalizeOptions(reference_time=REF)
    lines_read = LineNormalizer(options).normalize(lines[0])
    assert lines_read[0].rule == "bsd-syslog"
    assert lines_read[0].timestamp.strftime("%m-%d %H:%M:%S") == f"{expected} 10:00:05"
    assert only_facts(read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)) == FACTS


def test_word_that_is_no_month_stays_message_text():
    raw = "stress 12 10:00:05 web1 kernel: x"
    (line,) = LineNormalizer(NormalizeOptions(reference_time=REF)).normalize(raw)
    assert (line.rule, line.message, line.host) == (None, raw, None)


# -- 19: a redacted host field -----------------------------------------------------------


@pytest.mark.parametrize("host", ["...", "***", "<node_name>", "[REDACTED]", "xxxxx", "REDACTED"])
def test_redacted_host_is_one_hostless_stream(host, tmp_path, monkeypatch):
    text = "\n".join(stamped(host=host)) + "\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)
    assert host not in docs[0]["oom"]["trigger"]["name"]


def test_redacted_and_named_host_in_one_paste_are_one_host(tmp_path, monkeypatch):
    lines = stamped()
    lines[3:8] = [line.replace(" web1 ", " <hostname> ") for line in lines[3:8]]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-25T10:00:05.000001+00:00 *** kernel: [ 5.0] Killed process 1 (a)",
        "<4>1 2026-11-25T10:00:05Z <node_name> kernel - - - Killed process 1 (a)",
        "[  5.000000] ... kernel: Killed process 1 (a)",
    ],
)
def test_redacted_host_in_every_prefix_that_names_one(raw):
    (line,) = LineNormalizer().normalize(raw)
    assert (line.host, line.message) == (None, "Killed process 1 (a)")


def test_real_host_names_are_kept():
    for host in ("web1", "x", "ip-10-0-0-1.ec2.internal", "db-xx", "h"):
        (line,) = LineNormalizer().normalize(f"Nov 25 10:00:05 {host} kernel: a")
        assert line.host == host


# -- 6: two records glued onto one line ---------------------------------------------------


def test_summary_glued_to_kill_line(tmp_path, monkeypatch):
    lines = stamped()
    summary, kill = lines[-2], lines[-1]
    lines[-2:] = [summary + kill.split("] ", 1)[1]]  # `...,uid=0Memory cgroup out of memory:`
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS
    assert docs[0]["oom"]["constraint"] == "CONSTRAINT_MEMCG"
    victim = docs[0]["oom"]["victims"][0]  # read from the kill line, not from the summary
    assert (victim["named_by"], victim["anon_rss_bytes"], victim["uid"]) == ("killed", 95412224, 0)
    assert docs[0]["oom"]["lines_count"] == len(lines) + 1


def test_records_glued_at_printk_stamps(tmp_path, monkeypatch):
    lines = dmesg_lines()
    reaper = "[    5.100000] oom_reaper: reaped process 101 (stress), now anon-rss:0kB"
    glued = [lines[0] + lines[1], *lines[2:-1], lines[-1] + reaper]
    docs = read_every_way(tmp_path, "\n".join(glued) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)
    assert docs[0]["oom"]["lines_count"] == len(lines) + 1


def test_records_glued_with_the_next_syslog_prefix(tmp_path, monkeypatch):
    lines = stamped()
    glued = [*lines[:-2], lines[-2] + lines[-1]]  # `...,uid=0Nov 25 10:00:05 web1 kernel: [`
    docs = read_every_way(tmp_path, "\n".join(glued) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS
    assert "kernel:" not in docs[0]["oom"]["cgroup"]["task_path"]
    assert docs[0]["oom"]["lines_count"] == len(lines)


def test_a_headless_report_glued_into_one_line_keeps_the_records_before_its_task_table(
    tmp_path, monkeypatch
):
    """The skimming reader looked back only at earlier physical lines: the records glued
    before the task table's header (the counters) were lost when the header opened it."""
    lines = dmesg_lines()[6:]  # from `memory: usage`: the header and CPU line are not there
    docs = read_every_way(tmp_path, "".join(lines) + "\n", monkeypatch)
    (doc,) = docs
    assert (doc["oom"]["memory"]["usage_bytes"], doc["oom"]["memory"]["limit_bytes"]) == (
        104857600,
        104857600,
    )
    assert doc["oom"]["swap"]["unlimited"] is True
    assert doc["oom"]["lines_count"] == len(lines)


def test_glued_pieces_take_their_own_printk_stamp():
    raw = "[    5.000000] Killed process 1 (a) oom_score_adj:0[    6.500000] oom_reaper: x"
    pieces = LineNormalizer().normalize(raw)
    assert [(line.monotonic, line.message) for line in pieces] == [
        (5.0, "Killed process 1 (a) oom_score_adj:0"),
        (6.5, "oom_reaper: x"),
    ]


# -- 13: one event with mixed prefixes in one paste --------------------------------------


@pytest.mark.parametrize("bare", [range(2, 9), range(0, 4), range(9, 13)])
def test_mixed_syslog_and_dmesg_lines_are_one_report(bare, tmp_path, monkeypatch):
    lines = stamped()
    plain = dmesg_lines()
    for n in bare:
        lines[n] = plain[n]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


@pytest.mark.parametrize("bare", [range(2, 9), range(0, 4)])
def test_syslog_lines_and_report_lines_pasted_bare_are_one_report(bare, tmp_path, monkeypatch):
    """Some lines copied whole, others without any prefix (the author trimmed them, or a
    kubectl events table before the kernel's own lines): the bare lines were another,
    hostless stream, and the report came out in two."""
    lines = stamped()
    for n in bare:
        lines[n] = REPORT[n]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


def test_two_hosts_with_dmesg_lines_are_not_merged(tmp_path, monkeypatch):
    web1 = stamped()
    web2 = [line.replace(" web1 ", " web2 ") for line in stamped()]
    text = "\n".join([*web1, *web2, *dmesg_lines()]) + "\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert [doc["host"].get("name") for doc in docs] == ["web1", "web2", None]


def test_a_selection_and_a_kill_line_reflowed_into_one_line_are_two_records():
    """A mail client filled the kernel lines into one paragraph: `... score 3 or a child
    Killed process 9139 ... file-rss:1088kB Memory cgroup out of memory: kill process 9140`.
    The victims were lost and the second event with them."""
    text = "\n".join(
        [
            "memcg_test_1 invoked oom-killer: gfp_mask=0xd0, order=0, oom_adj=0",
            "Pid: 9139, comm: memcg_test_1 Not tainted 2.6.35-rc2 #1",
            "Memory cgroup out of memory: kill process 9139 (memcg_test_1) score 3 or a child"
            " Killed process 9139 (memcg_test_1) vsz:3456kB, anon-rss:448kB, file-rss:1088kB"
            " Memory cgroup out of memory: kill process 9140 (memcg_test_1) score 3 or a child"
            " Killed process 9140 (memcg_test_1) vsz:3456kB, anon-rss:448kB, file-rss:1088kB",
        ]
    )
    docs = list(documents_from_lines(text.splitlines()))
    victims = [
        (v["pid"], v["name"], v["anon_rss_bytes"]) for d in docs for v in d["oom"]["victims"]
    ]
    assert victims == [(9139, "memcg_test_1", 448 * 1024), (9140, "memcg_test_1", 448 * 1024)]
    assert [d["oom"]["selected"]["pid"] for d in docs] == [9139, 9140]


@pytest.mark.parametrize(
    ("kill_prefix", "scope", "limit_hit"),
    [
        ("Out of memory", "global", "global"),
        # which of the memcg's limits was hit is not on the kill line
        ("Memory cgroup out of memory", "memcg", "unknown"),
    ],
)
def test_a_shell_prompt_glued_before_the_kill_lines_stamp_keeps_its_scope(
    kill_prefix, scope, limit_hit
):
    # a terminal paste: the prompt's last line runs into the kernel record, so the stamp
    # and caller id stay in front of the kernel's own kill-line prefix
    lines = [
        "root@localhost [21:58:57] [~] ",
        f"-> # [ 1364.294650][T17314] {kill_prefix}: Killed process 17151 (cc1plus) "
        "total-vm:244616kB, anon-rss:194012kB, file-rss:5072kB, shmem-rss:0kB, UID:0 "
        "pgtables:472kB oom_score_adj:0",
    ]
    (doc,) = documents_from_lines(lines)
    assert (doc["oom"]["scope"], doc["oom"]["limit_hit"]) == (scope, limit_hit)
    assert doc["oom"]["victims"][0]["pid"] == 17151


LOGREAD = "Fri Aug  7 08:24:06 2026 kern.info kernel: [13579.{:06d}] {}"
LOGREAD_ROWS = [
    "[   7091]   453  7091     3745     3445     3392       53         0    73728        0             0 dnsmasq",  # noqa: E501
    "[   1247]     0  1247   931644   218982   218982        0         0  1929216        0             0 smartdns",  # noqa: E501
]  # fmt: skip
LOGREAD_SUMMARY = (
    "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
    "task_memcg=/,task=smartdns,pid=1247,uid=0"
)
LOGREAD_KILL = (
    "Out of memory: Killed process 1247 (smartdns) total-vm:3726576kB, anon-rss:875928kB, "
    "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1884kB oom_score_adj:0"
)


@pytest.mark.parametrize("bold", ["", "**"])
def test_openwrt_logread_lines_keep_their_stamps_and_rows(bold):
    """OpenWrt `logread` (`Fri Aug  7 08:24:06 2026 kern.info kernel: [ s.us] msg`), also in
    markdown bold as pasted into an issue: the prefix was not read, so its printk stamp was
    taken for a glued record and the rows before the summary were lost."""
    messages = [*LOGREAD_ROWS, LOGREAD_SUMMARY, LOGREAD_KILL]
    lines = [LOGREAD.format(index, message) for index, message in enumerate(messages)]
    lines[2] = f"{bold}{lines[2]}{bold}"
    (doc,) = documents_from_lines(lines)
    oom = doc["oom"]
    assert (oom["tasks_count"], oom["victims"][0]["pid"], oom["scope"]) == (2, 1247, "global")
    assert doc["@timestamp"].startswith("2026-08-07T08:24:06")
    assert (oom["complete"], oom["incomplete_reason"]) == (False, "missing_start")


@pytest.mark.parametrize("number", ["#{} ", "{}: ", "{}. "])
def test_lines_numbered_by_the_author_keep_every_fact(number, tmp_path, monkeypatch):
    """`#2 [Fri Apr 19 11:14:27 2019] Killed process …`: the number hid the prefix, so the
    kill line was not read."""
    lines = [number.format(index + 1) + line for index, line in enumerate(stamped())]
    text = "\n".join(lines) + "\n"
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_a_line_quoted_inline_in_prose_keeps_its_prefix(tmp_path, monkeypatch):
    """A paste quoted in a sentence: `"Nov 29 01:00:04 localhost kernel: Out of memory: …`.
    The quote hid the prefix, and the selection and the kill came out as two events."""
    lines = stamped()
    lines[0] = '"' + lines[0]
    lines.append("\" , I don't understand why it was killed")
    assert only_facts(read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)) == FACTS


@pytest.mark.parametrize("printk_stamp", [False, True])
def test_lines_with_a_stamp_and_no_host_or_tag_keep_every_fact(printk_stamp, tmp_path, monkeypatch):
    """moreutils `ts` in front of kernel lines (`Oct 16 08:16:34 [  110] …`, no host, no
    tag): the task rows stayed bare and `oom-kill:` was taken for a program's tag, so the
    scope, the rows and the cgroups were lost."""
    lines = dmesg_lines() if printk_stamp else list(REPORT)
    text = "".join(f"Oct 16 08:16:34 {line}\n" for line in lines)
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)
    assert docs[0]["@timestamp"].startswith("2026-10-16T08:16:34")
    assert docs[0]["oom"]["cgroup"]["task_path"] == "/app.slice"


def test_a_printk_stamp_with_the_cpu_after_an_at_sign_is_a_stamp(tmp_path, monkeypatch):
    """Amlogic vendor kernels print `[36822.664529@2] msg`: the stamp stayed in front of the
    message, so the CPU line was not read (no trigger pid, no kernel)."""
    text = "".join(f"[{5 + n / 1000:12.6f}@{n % 4}]  {line}\n" for n, line in enumerate(REPORT))
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == dict(FACTS, host=None)


def test_a_printk_stamp_with_the_cpu_before_a_dash_is_a_stamp(tmp_path, monkeypatch):
    """Some vendor ARM kernels (Samsung's 4.1 for its TV SoCs) print the CPU and four
    decimals: `[2-3219.1870] msg`. The stamp stayed in front of every line after the marker
    lines, so no stack frame, counter or task row was read."""
    text = "".join(f"[{n % 4}-{5 + n / 1000:.4f}] {line}\n" for n, line in enumerate(REPORT))
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == dict(FACTS, host=None)


@pytest.mark.parametrize("facility", ["kern.info: ", ""])
def test_svlogd_lines_keep_every_fact(facility, tmp_path, monkeypatch):
    """runit's `svlogd -tt` stamp (`2005-05-17_10:24:16.76726`), behind socklog's
    `kern.info: ` or alone: no rule read it, so no document came out."""
    text = "".join(
        f"2026-11-25_10:00:05.{n:05d} {facility}{line}\n" for n, line in enumerate(REPORT)
    )
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)
    assert docs[0]["@timestamp"].startswith("2026-11-25T10:00:05.0000")


def test_dmesg_reltime_lines_keep_every_fact(tmp_path, monkeypatch):
    """`dmesg -e`: the minute when it changes (`[Nov25 10:00]`), else the time since the
    record before (`[  +0.000012]`); neither was taken for a stamp, so no rule matched."""
    lines = [f"[Nov25 10:00] {REPORT[0]}"] + [
        f"[  +0.00001{n % 10}] {x}" for n, x in enumerate(REPORT[1:])
    ]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)
    assert docs[0]["@timestamp"].endswith("-11-25T10:00:00.000000Z")


def test_dmesg_show_delta_lines_keep_every_fact(tmp_path, monkeypatch):
    """`dmesg -d`: the time since the record before inside the stamp."""
    lines = [f"[{5 + n / 1000:12.6f} <{0.001:12.6f}>] {x}" for n, x in enumerate(REPORT)]
    docs = read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)


def _colored(n: int, line: str) -> str:
    # dmesg --color=always: the stamp green, a message's subsystem before its `:` brown
    head, colon, rest = line.partition(":")
    text = f"\x1b[33m{head}\x1b[0m{colon}{rest}" if colon else line
    return f"\x1b[32m[{5 + n / 1000:12.6f}]\x1b[0m {text}"


@pytest.mark.parametrize(
    ("shape", "prefix", "host", "stamp"),
    [
        # journalctl -o short-full / with-unit
        ("short-full", lambda n: "Tue 2024-11-25 10:00:05 UTC web1 kernel: ", "web1", "10:00:05"),
        (
            "short-full-offset",
            lambda n: "Tue 2024-11-25 11:00:05 +0100 web1 kernel: ",
            "web1",
            "10:00:05",
        ),
        # journalctl -o short-unix
        ("short-unix", lambda n: f"1732528805.{n:06d} web1 kernel: ", "web1", "10:00:05"),
        # journalctl -o short-delta
        (
            "short-delta",
            lambda n: f"[{5 + n / 1000:12.6f} <{0.001:12.6f}>] web1 kernel: ",
            "web1",
            None,
        ),
        # dmesg --time-format delta
        ("dmesg-delta", lambda n: f"[<{0.001:12.6f}>] ", None, None),
        # a kernel tag alone, with and without the printk stamp
        ("kernel-tag", lambda n: "kernel: ", None, None),
        ("kernel-tag-stamp", lambda n: f"kernel: [{5 + n / 1000:12.6f}] ", None, None),
        # BusyBox syslogd: facility and level after the host
        ("busybox-syslogd", lambda n: "Nov 25 10:00:05 web1 kern.warn kernel: ", "web1", None),
        # kubectl logs --timestamps, docker logs -t: an ISO stamp, then the line
        ("kubectl-timestamps", lambda n: f"2024-11-25T10:00:05.{n:09d}Z ", None, "10:00:05"),
        # an ISO stamp with no host field
        ("iso-no-host", lambda n: "2024-11-25 10:00:05 kernel: ", None, "10:00:05"),
        ("iso-T-no-host", lambda n: "2024-11-25T10:00:05.000+0000 kernel: ", None, "10:00:05"),
    ],
)
def test_more_journalctl_and_dmesg_layouts_keep_every_fact(
    tmp_path, monkeypatch, shape, prefix, host, stamp
):
    """Layouts whose prefix no rule took: every anchored rule then failed on the line (no
    trigger pid, no kernel, the report incomplete)."""
    text = "".join(f"{prefix(n)}{line}\n" for n, line in enumerate(REPORT))
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=host)
    if stamp is not None:
        assert docs[0]["@timestamp"] == f"2024-11-25T{stamp}.000000Z"


def test_terminal_colour_codes_are_no_part_of_a_line(tmp_path, monkeypatch):
    """`dmesg --color=always` saved to a file: the codes hid the stamp and the messages."""
    text = "".join(_colored(n, line) + "\n" for n, line in enumerate(REPORT))
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == dict(FACTS, host=None)


def test_terminal_codes_of_every_kind_are_taken_off():
    colored = "\x1b[32m[    5.000000]\x1b[0m \x1b[1;31mstress\x1b(B\x1b[m invoked oom-killer:"
    assert without_terminal_codes(colored) == "[    5.000000] stress invoked oom-killer:"


def test_logcli_query_output_keeps_every_fact(tmp_path, monkeypatch):
    """Loki's `logcli query` (default output): the stamp, the labels not common to all
    streams (padded), then the line as shipped; the host from a host label."""
    labels = '{filename="/var/log/syslog", host="web1"}'
    lines = [
        f"2026-11-25T10:00:05Z {labels}  [{5 + n / 1000:12.6f}] {x}" for n, x in enumerate(REPORT)
    ]
    assert only_facts(read_every_way(tmp_path, "\n".join(lines) + "\n", monkeypatch)) == FACTS


def test_logcli_common_labels_name_the_host_of_every_line(tmp_path, monkeypatch):
    """With every label common, logcli prints them once (`Common labels:`) and `{}` on each
    line; the line here is a whole syslog line, as promtail read it from a file."""
    head = "http://loki:3100/loki/api/v1/query_range?direction=BACKWARD&limit=500\n"
    head += 'Common labels: {host="web1", job="varlogs"}\n'
    lines = [f"2026-11-25T10:00:05Z {{}} {line}" for line in stamped(host="")]
    docs = read_every_way(tmp_path, head + "\n".join(lines) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS
