"""Every real report of the corpus in the shapes people paste and view it in.

A shape that keeps the text must give the same facts as the log itself; a viewer that cut
every line at its width (the rest lost) may lose facts, but then no document says complete.
"""

from __future__ import annotations

import codecs
import html
import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from oom_enricher.skimming.skim_files import skim_documents
from tests.corpus_cases import corpus_cases

CASES = corpus_cases()
ASCII_CASES = [case for case in CASES if case.log.read_bytes().isascii()]


def each_line(make: Callable[[int, str], str]) -> Callable[[str], str]:
    return lambda text: "".join(make(n, line) + "\n" for n, line in enumerate(text.splitlines(), 1))


def unexpanded(line: str) -> str:
    """`unexpand -a` (GNU): a run of blanks that reaches a tab stop (every 8 columns) is a tab
    up to it, as editors and some archives store a log's padding."""
    stops = [line[i : i + 8] for i in range(0, len(line), 8)]
    out = []
    for i, chunk in enumerate(stops):
        run = len(chunk) - len(chunk.rstrip(" "))
        after = stops[i + 1][:1] if i + 1 < len(stops) else ""
        tab = len(chunk) == 8 and (run >= 2 or (run == 1 and after == " "))
        out.append(chunk.rstrip(" ") + "\t" if tab else chunk)
    return "".join(out)


# Shapes that keep every character of every line (what an SRE's tools do to a log).
KEEPING: dict[str, Callable[[str], str | bytes]] = {
    "cat -n": each_line(lambda n, line: f"{n:6d}\t{line}"),
    "less -N": each_line(lambda n, line: f"{n:7d} {line}"),
    "grep -n": each_line(lambda n, line: f"{n}:{line}"),
    "html source": lambda text: html.escape(text),
    "a page's <pre>": lambda text: "<body><pre><code>" + html.escape(text) + "</code></pre>\n",
    "a blog's <br />": each_line(lambda _, line: f"<p>{html.escape(line)}<br />"),
    "no-break spaces": lambda text: text.replace(" ", "\xa0"),
    "double spaced": lambda text: text.replace("\n", "\n\n"),
    "python list": lambda text: "LINES = [\n" + each_line(lambda _, x: f"    {x!r},")(text) + "]\n",
    "json array": lambda text: json.dumps(text.splitlines(), indent=2) + "\n",
    "unexpand -a": each_line(lambda _, line: unexpanded(line)),
    "spaces squashed (a page without <pre>)": lambda text: re.sub(" +", " ", text),
    "markdown fence": lambda text: "```text\n" + text + "```\n",
    "go raw string": lambda text: "const dmesg = `" + text.rstrip("\n") + "`\n",
    "python triple quotes": lambda text: 'LOG = """' + text.rstrip("\n") + '"""\n',
    "bbcode glued": lambda text: "[code]" + text.rstrip("\n") + "[/code]\n",
    "jira noformat, quoted": lambda text: (
        "> {noformat}\n" + each_line(lambda _, line: "> " + line)(text) + "> {noformat}\n"
    ),
    "crlf": lambda text: text.replace("\n", "\r\n"),
    "cat -v of a crlf file": lambda text: text.replace("\n", "^M\n"),
    # the whole log on one line, its line ends escaped: a string value copied out of a JSON
    # viewer, a program's repr, an error message that quotes what it read
    "one line, \\n escapes": lambda text: json.dumps(text)[1:-1] + "\n",
    "a quoted string value": lambda text: "message: " + json.dumps(text) + "\n",
    "python repr": lambda text: f"got {text!r} from the node\n",
    "utf-8 mark": lambda text: "\ufeff" + text,
    "utf-16 (PowerShell)": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
}


def comparable(doc: dict) -> dict:
    oom = {key: value for key, value in doc["oom"].items() if key not in ("raw", "lines")}
    return {
        "oom": oom,
        "host": doc.get("host", {}).get("name"),
        "container": doc.get("container"),
        "message": doc.get("message"),
    }


def documents(path: Path) -> list[dict]:
    return [comparable(doc) for doc in skim_documents([str(path)])]


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize("shape", KEEPING, ids=KEEPING.keys())
@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_shape_that_keeps_the_text_keeps_every_fact(case, shape, tmp_path):
    text = case.log.read_text(encoding="utf-8")
    assert documents(write(tmp_path / "shaped.log", KEEPING[shape](text))) == documents(case.log)


def folded(line: str, width: int) -> list[str]:
    """`fold -s -w width` (GNU): each line broken after the last blank that fits, the blank
    kept at the end, a word longer than the width cut at it: a mail client's wrap as sent
    with format=flowed (RFC 3676)."""
    out = []
    while len(line) > width:
        blank = line.rfind(" ", 0, width)
        cut = blank + 1 if blank >= 0 else width
        out.append(line[:cut])
        line = line[cut:]
    return [*out, line]


# Where a wrap at 64 columns that drops the blank it broke at loses a fact, and why.
NARROW_WEBMAIL = {
    "025": "an author's `...` whose prefix went to the line before is an elision (the report "
    "says elided, not kill_line_ratelimited; incomplete either way)",
}


WORDS_BROKEN_KNOWN = {
    ("014", 76, "long words broken too"): "a bare paste whose lines are mostly as wide as the "
    "wrap reads as a terminal's cut, so a task row broken between two numbers (the blank "
    "dropped) joins them into one",
}


def facts_only(docs: list[dict]) -> list[dict]:
    """The facts a report gives; not how many lines it took (a wrapped trace frame or
    `Code:` line that stayed two counts twice)."""
    for doc in docs:
        doc["oom"].pop("lines_count")
    return docs


def hyphen_wrapped(line: str, width: int) -> list[str]:
    """A client that also breaks after a hyphen and drops the blank it broke at (stdlib
    textwrap, as some webmail and trackers do); a word longer than the width stays whole."""
    if not line.strip():
        return [line]
    return textwrap.wrap(line, width, break_long_words=False, replace_whitespace=False)


def words_broken(line: str, width: int) -> list[str]:
    """stdlib textwrap's defaults: also a word too long for a line is broken, the line
    filled with its first characters, as tools that wrap with it do."""
    if not line.strip():
        return [line]
    return textwrap.wrap(line, width, replace_whitespace=False)


MAIL_WRAPS: dict[str, Callable[[str, int], list[str]]] = {
    "sent": folded,
    "quoted in a reply": lambda line, width: ["> " + piece for piece in folded(line, width)],
    # webmail without format=flowed
    "blank at the break dropped": lambda line, width: [p.rstrip(" ") for p in folded(line, width)],
    "broken after hyphens too": hyphen_wrapped,
    "long words broken too": words_broken,
    # then pasted as a Markdown code block: the rests share the block's indent
    "in a code block": lambda line, width: ["    " + piece for piece in folded(line, width)],
}


@pytest.mark.parametrize("wrap", MAIL_WRAPS, ids=MAIL_WRAPS.keys())
@pytest.mark.parametrize("width", [64, 72, 76, 78, 84, 90, 100])
@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_mail_clients_wrap_keeps_every_fact(case, width, wrap, tmp_path):
    """Every line wrapped as a mail client sends it, then maybe quoted (`> `) or without the
    blank it broke at: rows broken in their numbers or their header's names, paths cut
    inside, `key:value` lists, a kill line's pid at the start of the next line (taken for a
    line number), `pid=18...` after a line cut at `=` (taken for quoted-printable), another
    program's line that quotes a kill all kept their facts. Rows as wide as the wrap, their
    names on the next line without the blank, were taken for a terminal's cut (`0sshd`); a
    row broken right after its pid, or another program's line before `+0000`, stayed apart.
    Where long words are broken too (textwrap's default), paths and `key=value` lists cut
    inside a word were rejoined with a blank, and a word that just fit was glued to the
    kernel's next word or field (`...0bkilled as a result`, `score1001`, `.scopemems_allowed`)."""
    narrow = wrap in (
        "blank at the break dropped",
        "broken after hyphens too",
        "long words broken too",
    )
    if width == 64 and narrow and case.name[:3] in NARROW_WEBMAIL:
        pytest.xfail(NARROW_WEBMAIL[case.name[:3]])
    if (case.name[:3], width, wrap) in WORDS_BROKEN_KNOWN:
        pytest.xfail(WORDS_BROKEN_KNOWN[case.name[:3], width, wrap])
    text = case.log.read_text(encoding="utf-8")
    lines = [piece for line in text.splitlines() for piece in MAIL_WRAPS[wrap](line, width)]
    wrapped = "".join(line + "\n" for line in lines)
    got = facts_only(documents(write(tmp_path / "wrapped.eml", wrapped)))
    assert got == facts_only(documents(case.log))


# What a page does to a mail it shows, after the mail client wrapped it.
SHOWN_WRAPPED: dict[str, Callable[[str], str]] = {
    "a mail archive's html source": html.escape,
    "a paragraph per line": lambda text: text.replace("\n", "\n\n"),
}


@pytest.mark.parametrize("shown", SHOWN_WRAPPED, ids=SHOWN_WRAPPED.keys())
@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_wrapped_mail_shown_on_a_page_keeps_every_fact(case, shown, tmp_path):
    """The wrap is judged by the widths the mail client saw: escaping (`&quot;`) made some
    lines wider than the wrap, so a path cut at it was rejoined with a blank; a blank line
    after each line halved the head that shows the widest line."""
    text = case.log.read_text(encoding="utf-8")
    wrapped = "".join(piece + "\n" for line in text.splitlines() for piece in folded(line, 72))
    got = facts_only(documents(write(tmp_path / "page.txt", SHOWN_WRAPPED[shown](wrapped))))
    assert got == facts_only(documents(case.log))


def rewrapped(line: str, width: int) -> list[str]:
    """A reply's wrap of a quoted line (`> ` and the line fit in `width`): as `fold -s`, but
    the blanks it breaks in stay at the end of the line (no line of blanks alone)."""
    out: list[str] = []
    for piece in folded(line, width - 2):
        if out and not piece.strip():
            out[-1] += piece
        else:
            out.append(piece)
    return out


# A reply that quotes a wrapped mail wraps each quoted line again (the comb): a line that
# was full leaves its last characters on a line of their own, a word cut twice is cut one
# line early each time. As sent (sender's width, reply's width), the tails quoted or not.
REWRAPS = {"72/72": (72, 72), "76/76": (76, 76), "78/78": (78, 78), "76/72": (76, 72)}
COMB_TAILS: dict[str, Callable[[int, str], str]] = {
    "quoted": lambda _, piece: "> " + piece,
    "bare": lambda i, piece: piece if i else "> " + piece,
}
# Where the comb loses a fact, and why.
COMB_KNOWN = {
    ("014", "72/72"): "a long item (`writepending:12kB `) pushed alone onto its own line is "
    "no line as wide as a zone line's items are cut at, so the next items stay apart",
    ("014", "76/72"): "a long item pushed alone onto its own line, as at 72/72",
}


@pytest.mark.parametrize("tails", COMB_TAILS, ids=COMB_TAILS.keys())
@pytest.mark.parametrize("widths", REWRAPS, ids=REWRAPS.keys())
@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_reply_that_wraps_a_wrapped_report_again_keeps_every_fact(case, widths, tails, tmp_path):
    """Each line wrapped by its sender, then quoted and wrapped again by a reply: words
    cut twice (cgroup paths, `oom-kill:` lists) were rejoined with a blank at each second
    cut, and a path's tail before `: cache:` or a row's `[ ` before its pid stayed apart."""
    if (case.name[:3], widths) in COMB_KNOWN:
        pytest.xfail(COMB_KNOWN[case.name[:3], widths])
    sender, reply = REWRAPS[widths]
    text = case.log.read_text(encoding="utf-8")
    lines = [
        COMB_TAILS[tails](i, piece)
        for line in text.splitlines()
        for sent in folded(line, sender)
        for i, piece in enumerate(rewrapped(sent, reply))
    ]
    wrapped = "".join(line + "\n" for line in lines)
    got = facts_only(documents(write(tmp_path / "reply.eml", wrapped)))
    assert got == facts_only(documents(case.log))


REPLY_TO_A_REPLY_KNOWN = {
    ("014", 72): COMB_KNOWN[("014", "72/72")],
    ("see", 72): "the task header broken twice (`oom_score_adj ` and `name` each alone): a "
    "word longer than the marker that went down whole is no tail, so the header lacks "
    "`name` and each row's name takes its last number",
}


@pytest.mark.parametrize("width", [72, 76])
@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_reply_to_a_reply_each_wrapping_again_keeps_every_fact(case, width, tmp_path):
    """Quoted twice (`> > `), each reply wrapping the lines it quoted: a task header's
    name pushed down was read as a full line's tail and as wide as the widest, so the first
    row was glued onto it; a path's `:` alone was taken for an author's elision."""
    if (case.name[:3], width) in REPLY_TO_A_REPLY_KNOWN:
        pytest.xfail(REPLY_TO_A_REPLY_KNOWN[case.name[:3], width])
    text = case.log.read_text(encoding="utf-8")
    sent = [piece for line in text.splitlines() for piece in folded(line, width)]
    reply = ["> " + piece for line in sent for piece in rewrapped(line, width)]
    again = ["> > " + piece for line in reply for piece in rewrapped(line[2:], width - 2)]
    got = facts_only(documents(write(tmp_path / "reply.eml", "".join(x + "\n" for x in again))))
    assert got == facts_only(documents(case.log))


@pytest.mark.parametrize("width", [80, 100, 120, 140, 160, 200])
@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_terminals_wrap_keeps_every_fact(case, width, tmp_path):
    """Copied from a terminal (or `fold -w`): every longer line cut at the width, the rest
    on the next line, nothing lost. A bare paste's cut lines (no prefix tells a rest from
    a line), and a wide terminal's single cut inside a number or path, were kept apart."""
    text = case.log.read_text(encoding="utf-8")
    cut = [
        line[i : i + width] for line in text.splitlines() for i in range(0, len(line) or 1, width)
    ]
    got = facts_only(documents(write(tmp_path / "terminal.log", "\n".join(cut) + "\n")))
    assert got == facts_only(documents(case.log))


@pytest.mark.parametrize("width", [80, 100, 120, 140, 160, 200])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_lines_cut_at_a_width_never_claim_a_complete_report(case, width, tmp_path):
    """`less -S`, a terminal's copy, a narrow export: what a cut line lost is not known, so a
    report that lost anything says `complete: false`."""
    text = case.log.read_text(encoding="utf-8", errors="surrogateescape")
    cut = "".join(line[:width] + "\n" for line in text.splitlines())
    whole = documents(case.log)
    for doc in documents(write(tmp_path / "cut.log", cut)):
        if doc["oom"]["complete"]:
            same = [
                other
                for other in whole
                if (other["oom"]["victims"], other["oom"]["trigger"])
                == (doc["oom"]["victims"], doc["oom"]["trigger"])
            ]
            assert same == [doc]


@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_the_same_text_twice_gives_each_kill_once(case, tmp_path):
    """A report pasted twice, or rotated logs read together that overlap: each kill is one
    document (the same document came out twice, and a group kill's `already exiting` tasks
    were counted twice)."""
    text = case.log.read_text(encoding="utf-8")
    twice = facts_only(documents(write(tmp_path / "twice.log", text + text)))
    assert twice == facts_only(documents(case.log))


@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_piece_of_the_report_quoted_again_after_it_is_no_second_kill(case, tmp_path):
    """A post that shows the whole report, then quotes its first lines to explain them:
    the quoted header was a second, incomplete report of its own."""
    text = case.log.read_text(encoding="utf-8")
    quoted = text + "\nIt begins with:\n\n" + "".join(text.splitlines(keepends=True)[:3])
    again = facts_only(documents(write(tmp_path / "post.txt", quoted)))
    assert again == facts_only(documents(case.log))


@pytest.mark.parametrize("case", ASCII_CASES, ids=[case.name for case in ASCII_CASES])
def test_a_piece_of_the_report_shown_before_it_is_no_second_kill(case, tmp_path):
    """The first lines shown on their own, then the whole report: the piece is held until
    the report that holds all its records is given, and is then no kill of its own (the
    author's words a bare paste takes into the piece are no report lines)."""
    text = case.log.read_text(encoding="utf-8")
    shown = "".join(text.splitlines(keepends=True)[:3]) + "\nThe whole log:\n" + text
    again = facts_only(documents(write(tmp_path / "post.txt", shown)))
    assert again == facts_only(documents(case.log))
