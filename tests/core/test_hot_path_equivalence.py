"""The cheap first tests of the per-line hot path give the answers of the full tests.

Line-rule dispatch, the elision test and the surrogate check skip work only where the
skipped regex or walk could not change the answer; these tests compare them with the plain
way on every line of the corpus and on lines written to sit at the edges of each shortcut.
"""

from __future__ import annotations

import pickle
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oom_enricher import kernel_lines
from oom_enricher.enrich.surrogates import clean_document
from oom_enricher.model import LogLine
from oom_enricher.normalize import prefix_rules
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.normalize.timestamps import YearInference
from oom_enricher.parsing.line_rules import RULES, match_rule
from oom_enricher.reassembly import markers
from oom_enricher.reassembly.markers import (
    ELISION,
    SKIM_NEEDLES,
    Marker,
    classify,
    classify_line,
    is_elision,
    looks_cut,
)
from oom_enricher.skimming import host_cursors
from tests.corpus_cases import corpus_cases

# Lines at the edges of the first-character and literal tests.
EDGE_LINES = [
    "٣ pages RAM",  # `\d` matches other scripts' digits
    "CPU: 7 Not tainted 2.6.36-45.x.20101028-s390xdefault #1",  # s390
    "Process blast (pid: 8067, task: 000000007a244640, ksp: 000000003dc8f678)",
    "CPU: 0 PID: 405 Comm: systemd-journal Not tainted...",  # elided by the author
    "12 pages reserved",
    " [__alloc_pages+740/832] __alloc_pages+0x2e4/0x340",  # 2.6.2x i386
    "(out_of_memory) from (__alloc_pages_nodemask+0xe9c/0xeb8)",  # ARM, addresses dropped
    "(note) from the log:",  # no frame
    " out_of_memory (mm/oom_kill.c:1180)",  # decoded to source lines
    "? show_stack (arch/x86/kernel/dumpstack.c:319)",
    "dump_header (mm/oom_kill.c:468 (discriminator 1))",
    "[<ffffffff81187bbd>] ? __alloc_pages_nodemask",
    "SysRq : Manual OOM execution",
    "sysrq: Manual OOM execution",
    "Memory cgroup out of memory: Killed process 5 (x) total-vm:1kB, anon-rss:0kB",
    "Out of memory: Kill process 7 (y) score 900 or sacrifice child",
    "Out of memory in UB 101: OOM killed process 21738 (php-cgi) score 0 vm:2kB, rss:1kB",
    "OOM killed process watchdog (pid=14490, ve=13516) exited, free=43104 gen=2.",
    "Kernel panic - not syncing: Out of memory and no killable processes...",
    "Kernel panic - not syncing: System is deadlocked on memory",
    "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled",
    "foo: OOM victim 12 (z) is already exiting. Skip killing the task",
    "? __alloc_pages_nodemask+0x1/0x2",
    "[<ffffffff817557fe>] dump_stack+0x46/0x58",
    "oom-killer: gfp_mask=0xd0",
    "oom-killer: gfp_mask=0x201d2, order=0",
    "[<c009a02c>] (oom_kill_process) from [<c009a57c>] (out_of_memory+0x2f8/0x32c)",
    "[<c0013b30>] (unwind_backtrace+0x0/0xf8) from [<c0011d00>] (show_stack+0x10/0x14)",
    "Node 0 DMA32 free:44348kB min:44348kB low:55432kB high:66520kB",
    "Normal free:1kB min:2kB low:3kB high:4kB",
    "HighMem free:1kB boost:0kB min:2kB low:3kB high:4kB",
    "tcpmem: usage 1kB, limit 2kB, failcnt 0",
    "killed as a result of limit of /a",
    "[  pid  ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name",
    "[ 1234]     0  1234    74798    23376      12        0          1000 java",
    "Mem-info:",
    "web invoked oom-killer:",
    "_beam.smp invoked oom-killer: gfp_mask=0x24000c0, order=0",
    "php cpuset=/ mems_allowed=0",
    "  ",
    "…",
    "...",
    "[...]",
    "(...snipped...)",
    "<snip>",
    "-- snip --",
    ":",
    "\t: ",
    " ... ",
    "\u2003...",
]


def _corpus_messages() -> list[str]:
    messages: list[str] = []
    for case in corpus_cases():
        normalizer = LineNormalizer()
        for raw in case.log.read_text(encoding="utf-8", errors="replace").split("\n"):
            messages.extend(line.message for line in normalizer.normalize(raw))
    return messages


@pytest.fixture(scope="module")
def messages() -> list[str]:
    return _corpus_messages() + EDGE_LINES


def _first_rule_by_trying_all(text: str) -> tuple[str, tuple] | None:
    for rule in RULES:
        m = rule.pattern.match(text)
        if m:
            return rule.name, m.groups()
    return None


def test_rule_dispatch_finds_the_rule_trying_every_regex_finds(messages):
    assert len(messages) > 1000
    for message in messages:
        text = message.strip()
        if not text:
            continue
        found = match_rule(text)
        got = (found[0].name, found[1].groups()) if found else None
        assert got == _first_rule_by_trying_all(text), text


def test_every_line_rule_literal_is_in_each_line_it_matches(messages):
    matched = set()
    for message in messages:
        text = message.strip()
        for rule in RULES:
            if rule.pattern.match(text):
                matched.add(rule.name)
                assert rule.needle in text, (rule.name, text)
                assert rule.starts is None or text[:1] in rule.starts, (rule.name, text)
    # the corpus and edge lines exercise every rule
    assert matched == {rule.name for rule in RULES}


def test_elision_shortcut_answers_as_the_elision_regex(messages):
    for message in messages:
        assert is_elision(message) == (ELISION.fullmatch(message) is not None), repr(message)
    assert is_elision("\t: ") and is_elision("(...snipped...)") and not is_elision("a ...")


def test_clean_document_replaces_a_surrogate_deep_inside_and_counts_it():
    doc = {"a": {"b": [1, {"c": "x\udcff"}, "caf\udce9"]}, "d": "ok", "e": None}
    assert clean_document(doc) == 2
    assert doc == {"a": {"b": [1, {"c": "x\ufffd"}, "caf\ufffd"]}, "d": "ok", "e": None}


def test_clean_document_leaves_what_json_carries_as_it_was():
    """Walked (one surrogate makes orjson refuse it): every other value stays, a number in
    64 bits too; one beyond them is no value a field holds."""
    doc = {"a": ["é", {"b": "\ufffd", "n": 2**63 - 1, "m": -(2**63)}], "t": 1.5, "s": "\udcff"}
    assert clean_document(doc) == 1
    assert doc == {
        "a": ["é", {"b": "\ufffd", "n": 2**63 - 1, "m": -(2**63)}],
        "t": 1.5,
        "s": "\ufffd",
    }
    doc = {"a": [{"n": 2**70}], "m": -(2**63) - 1}
    assert clean_document(doc) == 0
    assert doc == {"a": [{"n": None}], "m": None}


_HINT_REGEX = re.compile("|".join(re.escape(needle.decode()) for needle in SKIM_NEEDLES))


def _marker_by_trying_all(message: str):
    if not _HINT_REGEX.search(message):
        panic = kernel_lines.PANIC.match(message) if "Kernel panic" in message else None
        return (Marker.PANIC, panic.groups()) if panic else None
    for marker, _, pattern in markers._ORDERED:
        m = pattern.match(message.lstrip(" \t"))  # an author's indentation is no part of it
        if m:
            return marker, m.groups()
    return None


MARKER_EDGE_LINES = [
    "Tasks in /a/b are going to be killed due to memory.oom.group set",
    "oom_kill_process: 12 callbacks suppressed",
    "oom_reaper: reaped process 2279 (Web Content), now anon-rss:0kB, file-rss:0kB",
    "Kernel panic - not syncing: System is deadlocked on memory",
    "  [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name",
    "x invoked oom-killer:",
    "systemd[1]: foo.service: A process of this unit has been killed by the OOM killer.",
]


def test_marker_literals_classify_as_trying_every_marker_regex(messages):
    for message in messages + MARKER_EDGE_LINES:
        found = classify(message)
        got = (found[0], found[1].groups()) if found else None
        assert got == _marker_by_trying_all(message), message


def test_pager_cut_shortcut_answers_as_the_regex(messages):
    cut_lines = ["abc sec_paget>", "abc sec_paget>\n", "abc sec_paget>  ", "</TASK> ", "<48>"]
    for message in messages + cut_lines + ["a >", "x>y"]:
        text = message.rstrip()
        plain = (
            markers._PAGER_CUT.search(text) is not None
            and markers._ANGLE_TOKEN_END.search(text) is None
        )
        assert looks_cut(message) == plain, repr(message)
    assert looks_cut("abc sec_paget>\n") and not looks_cut("</TASK>")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", None]),
            st.integers(1, 12),
            st.sampled_from([1, 28, 30, 31]),
            st.booleans(),
        ),
        max_size=60,
    )
)
def test_year_inference_remembers_answers_it_would_give_again(calls):
    """The remembered answer of a repeated stamp is the one inferring it afresh gives, and
    the per-host state (and its order, which decides eviction) stays the same."""
    references = [datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)]
    remembering, afresh = YearInference(references[0]), YearInference(references[0])
    for host, month, day, other_reference in calls:
        if other_reference:  # a new file's modification time
            remembering.reference = afresh.reference = references[month % 2]
        for _ in range(2):  # a stamp run: the second call may be answered from memory
            key = host or ""
            expected = afresh._infer(key, afresh._hosts.get(key), month, day, afresh.reference)
            assert remembering.year_for(month, day, host) == expected
            assert list(remembering._hosts.items()) == list(afresh._hosts.items())


def test_a_line_is_classified_once_and_as_its_message_is():
    killed = LogLine("Out of memory: Killed process 5 (x) total-vm:1kB", "web1")
    other = LogLine("eth0: link up", "web1")
    assert classify_line(killed)[0] is Marker.KILLED and classify_line(other) is None
    cached = killed.marker
    assert classify_line(killed)[1] is cached[1]  # the same match: not classified again
    assert other.marker == ()  # classified, no marker
    # the cache is no part of what a line is
    assert killed == LogLine("Out of memory: Killed process 5 (x) total-vm:1kB", "web1")


SYSLOG_PREFIXES = [
    "Nov 25 10:00:01 web1 kernel:",
    "<4>Nov  5 10:00:01.123 web1 kernel:",
    "Nov 25 10:00:01 kernel:",
    "juin 20 10:00:00 web1 kernel:",
    "2026-11-25T10:00:01.123456+00:00 web1 kernel:",
    "2026-11-25 10:00:01 web1 sshd[12]:",
]
STAMPED_MESSAGES = [
    " [  617.319540] x invoked oom-killer:",
    "[617.319540] [  T123] Killed process 5 (x)",
    " [ 1.5]  [C1]  two spaces",
    " [ 1.5][T1]glued",
    " [1.5]",
    " [ 1.5 ] not a stamp",
    " [x] bracket",
    "",
    " plain text",
]


@pytest.mark.parametrize("pattern_name", ["BSD_SYSLOG", "BSD_SYSLOG_NO_HOST", "ISO_SYSLOG"])
def test_printk_stamp_taken_in_the_prefix_match_as_stripping_it_after(pattern_name):
    folded = getattr(prefix_rules, pattern_name)
    plain = re.compile(
        folded.pattern.replace(prefix_rules._STAMPED_MSG, "(?P<msg>.*)"), folded.flags
    )
    for prefix in SYSLOG_PREFIXES:
        for message in STAMPED_MESSAGES:
            line = prefix + message
            got, want = folded.match(line), plain.match(line)
            assert (got is None) == (want is None), line
            if want is None:
                continue
            rest, mono = want["msg"], None
            stamp = prefix_rules.MONOTONIC_STAMP.match(rest)
            if stamp:
                mono, rest = stamp["mono"], stamp["msg"]
                caller = prefix_rules.PRINTK_CALLER.match(rest)
                rest = caller["msg"] if caller else rest
            assert (got["mono"], got["msg"]) == (mono, rest), line
            assert got.group("host", "tag") == want.group("host", "tag"), line


def test_a_classified_line_still_pickles_whole():
    line = LogLine("Out of memory: Killed process 5 (x)", "web1", monotonic=1.5, position=7)
    classify_line(line)
    copy = pickle.loads(pickle.dumps(line))
    assert copy == line and copy.position == 7 and copy.marker is None
    assert classify_line(copy)[0] is Marker.KILLED


def _through_the_rule_table(normalizer: LineNormalizer, raw: str) -> list[LogLine]:
    """What `normalize` does with a line when no shortcut is taken: the whole rule table."""
    text = raw.lstrip()
    fields = prefix_rules.match_prefix(text, normalizer._ctx) if text else None
    return normalizer._bare(raw) if fields is None else normalizer._emit(fields, raw)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["web1", "web2", "xxxx", "kernel:", "<node>"]),
            st.sampled_from(["Jan", "Feb", "Dec", "Nov", "Sep"]),
            st.sampled_from([" 1", "28", "30", "31"]),
            st.sampled_from(["10:00:01", "10:00:02", "23:59:59.5"]),
            st.sampled_from(
                [
                    "kernel: [ 12.5] x invoked oom-killer:",
                    "kernel: Killed process 5 (x) oom_score_adj:0Nov 25 10:00:05 web1 kernel: y",
                    "kernel: a#012b",
                    "sshd[12]: Accepted publickey",
                    "kernel: [ 1.5][T1]glued [ 2.000000] two",
                ]
            ),
            st.integers(1, 3),  # times the line comes in a row
        ),
        max_size=40,
    ),
    st.sampled_from([datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)]),
)
def test_a_syslog_line_normalised_as_the_rule_table_normalises_it(lines, modified):
    """The syslog shortcut of `normalize` (the BSD rule first, a one-piece message built in
    one step, a repeated host and time taken from the line before) gives the lines and the
    per-host year state the rule table gives."""
    quick, plain = LineNormalizer(), LineNormalizer()
    quick.set_file_time(modified)
    plain.set_file_time(modified)
    for host, month, day, clock, rest, repeat in lines:
        raw = f"{month} {day} {clock} {host} {rest}"
        for _ in range(repeat):
            assert quick.normalize(raw) == _through_the_rule_table(plain, raw), raw
            assert quick.stream_years() == plain.stream_years()
            assert list(quick._ctx.years._hosts) == list(plain._ctx.years._hosts)


REPEATED_PREFIXES = [
    "Nov 25 10:00:01 web1 kernel: ",
    "Nov 25 10:00:01 web1 kernel:",
    "Nov 25 10:00:01 web1 kernel:  ",
    "Nov  5 10:00:01.5 web1 kernel: ",
    "Nov 25 10:00:02 web1 sshd[12]: ",
    "Nov 25 10:00:01 web2 kernel: ",
    "Nov 25 10:00:01 kernel: oom_reaper: ",
    "Nov 25 10:00:01 xxxx kernel: ",
    "Dec 31 23:59:59 web1 kernel: ",
]
AFTER_PREFIX = [
    *STAMPED_MESSAGES,
    "[ 1.5] a#012b",
    "[ 2.5] \t[ 1.5] tab",
    "kernel: x",
    "x: y",
    "[ 1.5] [ 1735]     0  1735    42 x",  # a task row after the stamp
    "[ 1.5]  [<ffffffff817557fe>] dump_stack+0x46/0x58",
    "[ 1.5] [\u2003T1] x",  # a caller id after Unicode white space
    "[ 1.5] [            T1] x",  # and after a long run of spaces
    "[ 1.5][C7]x",
    "[ 1.5] [T] x",
    "[ 1.5] [",
]


@pytest.mark.parametrize("modified", [datetime(2026, 1, 1, 12, tzinfo=UTC), None])
def test_a_repeated_syslog_prefix_read_as_the_rule_table_reads_the_line(modified):
    """A line that starts with the prefix of the line before takes that line's prefix groups
    (the shortcut skips the prefix regex): each line after each other gives the lines and
    year state of the rule table, also where the text after the prefix could extend it
    (spaces, a stamp, a second tag)."""
    lines = [prefix + message for prefix in REPEATED_PREFIXES for message in AFTER_PREFIX]
    for first in lines:
        quick, plain = LineNormalizer(), LineNormalizer()
        quick.set_file_time(modified)
        plain.set_file_time(modified)
        quick.normalize(first)
        _through_the_rule_table(plain, first)
        for raw in lines:
            assert quick.normalize(raw) == _through_the_rule_table(plain, raw), (first, raw)
        assert list(quick._ctx.years._hosts.items()) == list(plain._ctx.years._hosts.items())


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=1, max_size=64).map(lambda b: b.replace(b"h", b".") or b"."),
    st.integers(host_cursors.NEAR_BYTES, 3 * host_cursors.NEAR_BYTES),
    st.sets(st.integers(0, 3 * host_cursors.NEAR_BYTES), max_size=6),
    st.integers(0, 2 * host_cursors.NEAR_BYTES),
    st.integers(0, 3 * host_cursors.NEAR_BYTES),
)
def test_host_needle_found_near_first_as_one_search_finds_it(noise, size, places, start, end):
    """The search for an open host's next line looks near first, then on: the first
    occurrence either way, one straddling the near limit included."""
    needle = b" host7 "
    data = bytearray((noise * (size // len(noise) + 1))[:size])
    for place in sorted(places, reverse=True):
        data[place:place] = needle
    data = bytes(data)
    # each start as given, and one that puts each occurrence across the near limit
    found = [index for index in range(len(data)) if data.startswith(needle, index)]
    straddling = [index + 3 - host_cursors.NEAR_BYTES for index in found]
    for begin in [start, *(begin for begin in straddling if begin >= 0)]:
        for stop in (end, len(data)):
            got = host_cursors._find(data, needle, begin, stop)
            assert got == data.find(needle, begin, stop), (begin, stop)
