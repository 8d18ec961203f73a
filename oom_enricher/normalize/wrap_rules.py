"""How a medium's wrap is told from a line's end, by what the kernel prints.

A line's rest that a mail client, webmail, a terminal or a pager put on the next line begins
with something no kernel line begins with (the later fields of a header, a row's last numbers,
the next words of a kernel phrase), or follows a line that no kernel line ends like (a path or
a word cut inside). These are the tables and the text tests; the paste reader
(`pasted_text`) decides with them, and with what it knows of prefixes, which pieces it joins.
"""

from __future__ import annotations

import re

from oom_enricher.kernel_lines import SUMMARY_KEYS

# the sizes of a kill line (all kernels; 2.6 `vsz:`; `UID:`, `pgtables:`, `oom_score_adj:` 5.x+)
KILL_SIZE_KEYS = (
    "total-vm",
    "vsz",
    "anon-rss",
    "file-rss",
    "shmem-rss",
    "UID",
    "pgtables",
    "oom_score_adj",
)

# Where a wrapped line's rest cannot begin a kernel line of its own: the later fields of a
# header (`gfp_mask=`, `order=` ... all kernels), of the 4.19+ summary (`task_memcg=`, `uid=`),
# of a kill line (`anon-rss:0kB`, 2.6 `vsz:`), of a usage line (`limit 1024kB`), of a cgroup
# v1 one-line stats line (`rss_huge:0KB`: its own upper-case unit, 2.6.29-5.x), the BIOS
# date that ends a `Hardware name:` line (`01/01/2011`, 3.x+), and the release and build
# that end a `CPU:` line (`4.14.79-v7+ #1159`, 3.x+), also behind its taint flags
# (`OE     5.15.107+truenas #1`, the tail of `Tainted: P`), or its build alone
# (`#63~precise1-Ubuntu`), or its taint and release (`Not tainted 5.15.0-107-generic`; 6.10+
# print the taint's legend, `Tainted: [C]=CRAP`, on a line of its own); a kill line's name and
# sizes (`(.thunderbird-wr) total-vm:`, any name), or the name and score of a 2.6-5.0 choice
# (`(beam.smp) score 1001 or`); a header's flags after its mask (`(GFP_KERNEL|__GFP_ZERO), `,
# 4.8+).
CONTINUATION_START = re.compile(
    rf"(?:,\s*)?(?:(?:gfp_mask|order|oom_score_adj|oom_adj|{'|'.join(SUMMARY_KEYS)})="
    r"|\((?:__)?GFP_[A-Z_]+(?:\|(?:__)?GFP_[A-Z_]+)*\),? "
    rf"|(?:{'|'.join(KILL_SIZE_KEYS)}):-?\d"
    r"|(?:usage|limit|failcnt) \d|score -?\d+ or "
    r"|[a-z_]+:\d+KB(?:\s|$)|\d\d/\d\d/\d{4}\s*$|(?:[A-Z]+\s+)*\d+\.\d+\.\d+\S* #\d"
    r"|#\d+\S*(?: (?:SMP|PREEMPT)\b.*)?\s*$|\(.*?\) (?:(?:total-vm|vsz):\d|score -?\d+ or)"
    r"|(?:Not tainted|Tainted:[A-Z \-]*?) +\d+\.\d+|-?\d+ or (?:sacrifice|a) child)"
)
STATS_ITEM_START = re.compile(r"[a-z_]+:\d+KB")  # a v1 stats item, or the end of its key
# How the rest of a wrapped line can begin: a word, a name or path (`(stress) total-vm:`,
# `/kubepods/...`), a task row's pid or the table header (`[  101]  0 ...`, `[  pid  ]`), a
# signed number (a task row's `-1000 sshd`, a zone offset `+0000`), a symbol
# (`__do_fault+0x3c/0x170`), or what another program's line holds (`&{Source:...`, `="..."`);
# never an author's mark (`...`, `[snip]`, `(cut)`, `<snip>` stand on their own lines).
ROW_START = re.compile(r"\[\s*(?:\d+|pid)\s*\]\s")  # a task row or its header
# Lines that stand between lines, never the rest of one: grep's group separator `--`, an
# author's `...` or `…`
SEPARATOR_LINE = re.compile(r"\s*(?:-{2,}|\.{3,}|…+)\s*")
WRAPPED_REST = re.compile(
    rf"[^\W_]|[(/][^\W_]|{ROW_START.pattern}|[+-]\d"
    r"|_\w|[&{\"'=]\S"  # a symbol's name, the rest of some other program's text
)
# Where no kernel line ends: before the path of a memcg line (`Task in`, `killed as a result
# of limit of`, `Memory cgroup stats for`, 2.6.29+), the name of a kill (`Killed process
# 123`, all kernels) or the header's `oom-killer:` (`stress invoked`, 2.6.19+): the next
# piece is its rest, bare paste or not.
CUT_BEFORE_ITS_REST = re.compile(
    r"(?:^|\s)(?:Tasks? in|killed as a result of limit of|Memory cgroup stats for"
    r"|[Kk]ill(?:ed)? process \d+|score -?\d+ or|\S+ invoked)\s*$"
)
# The end of a full quoted line that a reply's wrap put on a line of its own: a word's last
# characters (`0b`, `,m`, `5_`) or a row's opening bracket; never an author's mark (`:`,
# `..`, `-`).
COMB_NARROWER = 6  # how much narrower a reply may wrap than the text it quotes (76 -> 70)
COMB_TAIL = re.compile(r"(?:[^\W_]|[\[(/,=]|[._-]\w)\S*\s*")
# A task row wrapped before its name (every layout ends in numbers, then the name), and the
# name alone on the next line: at most TASK_COMM_LEN - 1 = 15 characters, never an author's
# mark (`...`, `(...snipped...)`, `<snip>`, a lone `:`).
ROW_CUT_BEFORE_ITS_NAME = re.compile(r"\[\s*\d+\s*\](?:\s+-?\d+){6,}\s*$")
ROW_NAME = re.compile(r"(?![.…:(<-]*$)(?!.*(?:\.\.\.|…|snip|cut))[^\s\[].{0,14}")
# Wrapped inside the numbers of a row or the column names of its header (a mail client's
# width is less than a row's): the rest is the row's last numbers and its name, or the last
# names up to `name`. Also inside a line of `key:value` items (Mem-Info's per-node line, a
# zone's, 2.6+) or of a buddy list (`Node 0 DMA: 45*4kB (U) ...`), whose rest begins with
# the next item: such lines are wider than any medium's wrap.
ROW_CUT_IN_ITS_NUMBERS = re.compile(r"\[\s*\d+\s*\](?:\s+-?\d+)*\s*$")
ROW_NUMBERS_REST = re.compile(r"(?:-?\d+ +)*-?\d+(?: +(?![.…:(<-]*$)[^\s\[].{0,14})?\s*")
HEADER_CUT_IN_ITS_NAMES = re.compile(r"\[\s*pid\s*\]\s+uid\s+tgid(?:\s+[a-z_]+)*\s*$")
HEADER_NAMES_REST = re.compile(r"(?:[a-z_]+ +)*name\s*")
# A wrap after a hyphen inside a word (`cri-` / `containerd-...`, `6.12.62+rpt-` / `rpi-v8`), as
# some clients break: no kernel line ends in one.
HYPHEN_END = re.compile(r"[^\W_]-$")
ROW_CUT_IN_ITS_PID = re.compile(r"\[\s*(?:pid|\d+)?\s*$")
ROW_PID_REST = re.compile(r"\s*(?:pid|\d+)?\s*\]\s+(?:uid\s+tgid|-?\d+\s+-?\d+)")
# A v2 stats line (4.19+, `key value`, one per line) broken before its value
STATS_KEY_CUT = re.compile(r"(?:^|\s)[a-z][a-z0-9_]*_[a-z0-9_]+\s*$")
STATS_VALUE_REST = re.compile(r"\d+\s*")
ITEMS_CUT = re.compile(r"(?:[a-z_()]+:-?\d+(?:kB|KB)?|\d+\*\d+kB(?: \([A-Z]+\))?)\s*$")
ITEMS_REST = re.compile(r"[a-z_()]+:-?\d+|\d+\*\d+kB")
# The kernel's phrases that a wrap may break between any two of their words (which no line
# begins with once the phrase is begun): what follows a path (`Task in /x` / `killed as a
# result of limit of /y`, 2.6.29-4.18; a 4.19+ group kill), the memcg stats head, the choice
# (2.6-5.0) and the ends of show_mem's page counts.
KERNEL_PHRASES = (
    "killed as a result of limit of",
    "are going to be killed due to memory.oom.group set",
    "Memory cgroup stats for",
    "Memory cgroup out of memory: Kill process",
    "Memory cgroup out of memory: Killed process",
    "Out of memory: Kill process",
    "Out of memory: Killed process",
    "or sacrifice child",
    "is already exiting. Skip killing the task",
    "Tasks state (memory values in pages):",
    "total pagecache pages",
    "pages in swap cache",
)


def _phrase_breaks(phrases: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each word that may follow a phrase's first words (one or more), and those words."""
    breaks: dict[str, set[str]] = {}
    for phrase in phrases:
        words = phrase.split(" ")
        for k in range(1, len(words)):
            breaks.setdefault(words[k], set()).add(" ".join(words[:k]))
    return {after: tuple(sorted(begun)) for after, begun in breaks.items()}


PHRASE_BREAKS = _phrase_breaks(KERNEL_PHRASES)
# Of these, what follows a cgroup path on its line: its rest may begin right after the path.
AFTER_A_PATH = ("killed as a result of", "are going to be killed due to")
TAIL_CHARS = 48  # a line's end that the cut patterns look at: an item or a row's pid fits
WRAPPED_ITEMS_WIDTH = 40  # the narrowest wrap seen in mail (64) less the longest item
# Some clients break before the space, which then begins the rest (one space, then the
# rest of a word or number); /dev/kmsg's ` KEY=value` dictionary lines begin so too.
WRAPPED_AT_A_SPACE = re.compile(r" (?![A-Z_]+=)\S")
# Webmail and mail clients wrap at a width between these: a bare piece after a prefixed line
# is the rest of it when its first word would not have fitted on that line.
WRAP_WIDTHS = (64, 100)
CUTS_TO_SEE = 2  # lines of the same longest width, each followed by its rest
BARE_CUTS_TO_SEE = 2  # the same without prefixes
MIN_TERMINAL_WIDTH = 64
MIN_WIDE_CUT = 101  # wider than any mail wrap (100 at most): a line cut there was cut at the width


def cut_in_a_path(text: str) -> bool:
    """The line ends inside a cgroup path: its last word is a path (`/docker/`, `=/kubepods/`)
    that ends in a slash, which only the root path `/` does."""
    if not text.endswith("/"):
        return False
    word = text[text.rfind(" ") + 1 :]
    word = word[word.rfind("=") + 1 :]
    return len(word) > 1 and word.startswith("/")


LONG_TOKEN_CHARS = 12  # a `key=value` list this long at a line's end may go on
_TOKEN_REST = re.compile(r"(?!\.\.)[\w.=,(-]")  # never an author's `...`


def field_after_a_dropped_blank(text: str, rest: str) -> bool:
    """A header's, kill line's or choice's next field right after the line's last word
    (`score` / `1001 or sacrifice child`, `process 123` / `(sh) total-vm:`), or a v2 stats
    key's value (`workingset_nodereclaim` / `0`): the kernel puts a blank there and a
    terminal keeps it, so a word wrap broke here. Only a summary's fields follow theirs with
    no blank (`cpuset=x` / `,mems_allowed=0`, `=` / `task=x`)."""
    if not (text[-1:].isalnum() or text.endswith(")")) or rest[:1] in (" ", "\t", ","):
        return False
    if STATS_VALUE_REST.fullmatch(rest):
        return STATS_KEY_CUT.search(text, max(len(text) - TAIL_CHARS, 0)) is not None
    return (
        CONTINUATION_START.match(rest) is not None
        and STATS_ITEM_START.match(rest) is None  # `ca` / `che:0KB` was cut inside a key
    )


def cut_in_a_long_token(text: str, rest: str) -> bool:
    """A line as wide as the wrap ends inside a long word (`Memory cgroup stats for
    /docker/4b1b7e` / `ec61...`, `,task_memcg=/kubep` / `ods.slice`): a wrap that also
    breaks words too long for a line (stdlib textwrap's default) fills the line with the
    word's first characters (`oom-k` / `ill:constraint=...`). A path or a `key=value` list
    never ends at a word, only at a kernel phrase (`killed as a result of`) or its own
    punctuation (`: cache:`, `,uid=`)."""
    word = text[text.rfind(" ") + 1 :]
    path = word[word.rfind("=") + 1 :]
    goes_on = rest.split(" ", 1)[0]
    return (
        (
            (len(path) > 1 and path.startswith("/"))
            or (len(word) >= LONG_TOKEN_CHARS and "=" in word)
            or (len(goes_on) >= LONG_TOKEN_CHARS and "=" in goes_on and word[-1:].isalnum())
        )
        and _TOKEN_REST.match(rest) is not None
        and not breaks_a_phrase(text, rest)
        and not field_after_a_dropped_blank(text, rest)  # the word just fit (`x.scope`)
    )


def breaks_a_phrase(text: str, rest: str) -> bool:
    """`text` ends with the first words of a kernel phrase and `rest` begins with the next."""
    ending = text.rstrip()
    if rest.startswith(AFTER_A_PATH) and ending[ending.rfind(" ") + 1 :].startswith("/"):
        return True
    for begun in PHRASE_BREAKS.get(rest.split(" ", 1)[0], ()):
        if ending.endswith(begun):
            boundary = len(ending) - len(begun) - 1
            if boundary < 0 or not (ending[boundary].isalnum() or ending[boundary] == "_"):
                return True
    return False


def one_word(line: str) -> bool:
    return bool(line) and " " not in line.strip()


def joint(text: str, rest: str) -> str:
    """What stood at a wrap: the space the medium dropped, or nothing where it kept the space,
    broke after a word's hyphen (`anon-` / `rss:312kB`, `oom-` / `killer:`), inside a
    cgroup path (`/docker/` / `0f2b...`: only the root path `/` ends in a slash) or inside
    a v1 stats key (`inacti` / `ve_file:88KB`: every key of that line has its value)."""
    if text.endswith(" ") or (text.endswith("-") and text[-2:-1].isalnum()):
        return ""  # `anon-` / `rss:`, a range `0-` / `7`
    if cut_in_a_path(text) or _cut_in_a_stats_key(text, rest):
        return ""
    return " "


_STATS_ITEM = re.compile(r"[a-z_]+:\d+KB")
_KEY_PIECE = re.compile(r" [a-z_]+$")
# a whole item, then one cut in its number, before it or inside its unit: stats and zone
# items (`swap:0KB inactive_anon:1`), a kill line's sizes (`anon-rss:21852kB, file-rss:12704k`)
_VALUE_END = re.compile(r"[a-z_()-]+:\d+[kK]B,? [a-z_()-]+:(?:\d*|\d+k)$")
_UNIT_REST = re.compile(r"\d*[kK]B(?:[\s,]|$)")
_UNIT_END_REST = re.compile(r"B(?:[\s,]|$)")  # the rest of `kB` cut after its `k`


def _cut_in_a_stats_key(text: str, rest: str) -> bool:
    return (
        (
            _KEY_PIECE.search(text) is not None
            and _STATS_ITEM.match(rest) is not None
            and _STATS_ITEM.search(text) is not None
        )
        or cut_before_a_unit(text, rest)
        or cut_in_a_kill_key(text, rest)
        or cut_in_a_summary_value(text, rest)
    )


_KILL_KEYS = frozenset(KILL_SIZE_KEYS)
_KILL_KEY_BEGUN = re.compile(r"(?:[kK]B,?|\d) (?P<key>[A-Za-z_-]+)$")
_KILL_KEY_REST = re.compile(r"(?P<key>[A-Za-z_-]*):\d")


# the rest of a summary's value cut short, then its next field: `fs,task_memcg=/a,task=…`
_SUMMARY_VALUE_REST = re.compile(rf"[^\s,=]+,(?:{'|'.join(SUMMARY_KEYS)})=")
_SUMMARY_LAST_FIELD = re.compile(r",(?P<key>[a-z_]+)=[^,\s]*$")


def cut_in_a_summary_value(text: str, rest: str) -> bool:
    """An `oom-kill:` summary (4.19+) cut inside a value (`oom_memcg=/build-kernel-tmp` /
    `fs,task_memcg=…`): it holds no blank but in a task's name, so its rest goes on with no
    blank between."""
    if "oom-kill:constraint=" not in text or not _SUMMARY_VALUE_REST.match(rest):
        return False
    last = _SUMMARY_LAST_FIELD.search(text)
    return last is not None and last["key"] not in ("task", "uid")


def cut_in_a_kill_key(text: str, rest: str) -> bool:
    """A kill line cut inside a size's key, after a whole size (`file-rss:1196kB, sh` /
    `mem-rss:0kB`, `anon-rss:0kB,` / ... `shmem-rss` / `:0kB`)."""
    begun = _KILL_KEY_BEGUN.search(text)
    if begun is None:
        return False
    goes_on = _KILL_KEY_REST.match(rest)
    return goes_on is not None and begun["key"] + goes_on["key"] in _KILL_KEYS


def cut_before_a_unit(text: str, rest: str) -> bool:
    """A stats, zone or kill line item cut in its number, before its unit, before its number
    or inside its unit (`swap:0` / `KB inactive_`, `inactive_anon:1` / `4980KB`,
    `active_anon:` / `2788kB`, `file-rss:12704k` / `B, shmem-rss:`), after a whole one."""
    found = _VALUE_END.search(text)
    if found is None:
        return False
    if text.endswith("k"):
        return _UNIT_END_REST.match(rest) is not None
    return _UNIT_REST.match(rest) is not None


def cut_in_a_table_or_list(line: str, width: int, text: str, indented: bool) -> bool:
    """Whether `text` (unindented) is the rest of `line` (its last physical line `width`
    wide) cut inside a task row, its header or a list of items. A row's or header's rest may
    begin with the padding the break fell in (`indented`); an item's rest never does
    (Mem-Info's own further lines are indented). The rests are matched first: they are
    anchored, the cuts are searched back from the line's end."""
    tail = max(len(line) - TAIL_CHARS, 0)  # where a row's pid or a line's last item begins
    if ROW_PID_REST.match(text):
        return ROW_CUT_IN_ITS_PID.search(line, tail) is not None
    if (
        ROW_NUMBERS_REST.fullmatch(text)
        and "]" in line
        and ROW_CUT_IN_ITS_NUMBERS.search(line) is not None
    ):
        return True
    if STATS_VALUE_REST.fullmatch(text) and STATS_KEY_CUT.search(line, tail):
        return True
    if HEADER_NAMES_REST.fullmatch(text) and "pid" in line:
        return HEADER_CUT_IN_ITS_NAMES.search(line) is not None and not line.rstrip().endswith(
            " name"
        )
    return (
        not indented
        and line[:1] not in (" ", "\t")  # a record's own further line ends there
        and width >= WRAPPED_ITEMS_WIDTH
        and ITEMS_REST.match(text) is not None
        and ITEMS_CUT.search(line, tail) is not None
    )


def name_after_its_row(text: str, rest: str) -> bool:
    """A task row's name right after its numbers, no blank between: a terminal keeps the
    blank that stood there, so this break was a word wrap's, however wide the row. A rest
    that begins with a digit goes on with the last number (`-10` / `00 auditd`)."""
    return (
        ROW_CUT_BEFORE_ITS_NAME.search(text) is not None
        and not text.endswith((" ", "\t"))
        and not rest[:1].isdigit()
        and ROW_NAME.fullmatch(rest.rstrip()) is not None
    )


def a_full_lines_tail(width: int, last: str, tail: str) -> bool:
    """A reply that wraps quoted text at the width it was wrapped at pushes the end of each
    full line (as many characters as its quote marker adds, `width - len(last)`, and as
    many more as it wraps narrower) onto a line of its own: the comb. A word the sender cut
    at its width is cut again one line early: its tail, then the next piece, go on with it."""
    marker = width - len(last)
    return (
        width >= WRAP_WIDTHS[0]
        and marker > 0
        and 0 < len(tail.rstrip()) <= marker + COMB_NARROWER
        and (COMB_TAIL.fullmatch(tail) is not None or a_paths_colon(last, tail))
    )


def a_word_cut_twice(last: str, tail: str) -> bool:
    """A full line that was one word, and its tail: no blank at either cut, so the sender
    cut that word at its width and the next piece goes on with it too."""
    return (
        one_word(last)
        and one_word(tail)
        and not last.endswith((" ", "\t"))
        and not tail.endswith((" ", "\t"))
    )


def a_paths_colon(last: str, tail: str) -> bool:
    """The colon that ends a path (`Memory cgroup stats for /docker/...:`, 2.6.29-4.18), not
    an author's lone `:`: it follows a line that is the path alone."""
    return tail.rstrip() == ":" and one_word(last) and last.lstrip().startswith("/")
