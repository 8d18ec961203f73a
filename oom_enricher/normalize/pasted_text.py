"""Reports pasted into mail, tickets and exports: undo what the medium did to the lines.

A report shared by mail or exported from a log store arrives quoted-printable encoded
(`=3D`, soft breaks), behind quote markers (`> `), hard-wrapped at about 72-78 columns
(format=flowed keeps a trailing space at a soft break), inside JSON records, or with some
lines naming the host and others not. Which of these a stream has is decided once, from its
first lines (`sniff`), so a plain syslog file costs one look at its head and nothing per line;
a pasted stream is then read record by record through `PasteReader.records`.
"""

from __future__ import annotations

import binascii
import csv
import html
import itertools
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import orjson

from oom_enricher.decimal_text import is_decimal
from oom_enricher.kernel_lines import INVOKED, TASK_HEADER
from oom_enricher.model import ShippedRecord
from oom_enricher.normalize.line_normalizer import PASTED
from oom_enricher.normalize.prefix_rules import (
    KIBANA_DATE,
    LOST_BRACKET_STAMP,
    UTC_NAMES,
    PrefixContext,
    PrefixFields,
    host_field,
    kibana_time,
    labels_host,
    match_prefix,
)
from oom_enricher.normalize.terminal_codes import (
    from_caret_notation,
    is_pager_status,
    shows_caret_notation,
    shows_copy_mode_position,
    without_copy_mode_position,
    without_terminal_codes,
)
from oom_enricher.normalize.timestamps import (
    YearInference,
    epoch_micros,
    from_epoch_micros,
    parse_iso,
)
from oom_enricher.normalize.wrap_rules import (
    BARE_CUTS_TO_SEE,
    CONTINUATION_START,
    CUT_BEFORE_ITS_REST,
    CUTS_TO_SEE,
    HYPHEN_END,
    MIN_TERMINAL_WIDTH,
    MIN_WIDE_CUT,
    ROW_CUT_BEFORE_ITS_NAME,
    ROW_NAME,
    ROW_START,
    SEPARATOR_LINE,
    WRAP_WIDTHS,
    WRAPPED_AT_A_SPACE,
    WRAPPED_REST,
    a_full_lines_tail,
    a_word_cut_twice,
    breaks_a_phrase,
    cut_before_a_unit,
    cut_in_a_kill_key,
    cut_in_a_long_token,
    cut_in_a_path,
    cut_in_a_summary_value,
    cut_in_a_table_or_list,
    field_after_a_dropped_blank,
    joint,
    name_after_its_row,
    one_word,
)

log = logging.getLogger(__name__)

SNIFF_LINES = 200  # lines of text at the head of a stream that decide its shape
# and at most this many lines in all: a page's blank line after every line does not halve
# what the head shows (the widest line of a wrap among them)
SNIFF_ALL_LINES = 2 * SNIFF_LINES
SNIFF_BYTES = 1 << 20
MAX_JSON_CHARS = 64 << 20  # one JSON value (a whole pretty-printed export) at most
MAX_JSON_DEPTH = 64
# A kernel line is at most about 1 KiB (printk's LOG_LINE_MAX): pieces are never joined or
# soft-broken past this, so no run of continuation-shaped lines grows without bound.
MAX_LINE_CHARS = 8192
MAX_REVERSED_CHARS = 64 << 20  # a newest-first input is turned this much at a time
_STEPS_TO_SEE = 3  # steps between stamps that differ, to tell the order by them
_BACK_PER_FORWARD = 9
_REPORT_STEPS_BACK_TO_SEE = 2
# The order in which every kernel prints a report's landmarks (2.6-6.x): the header, the
# trace, the memory summary, the task table, the choice (`Out of memory: Kill process`
# before 5.1, the 4.19+ `oom-kill:` summary), the kill and the reaper.
REPORT_ORDER = (
    INVOKED,
    re.compile(r"Call Trace:"),
    re.compile(r"Mem-Info:"),
    TASK_HEADER,
    re.compile(r"oom-kill:constraint=|(?:.*: )?[Kk]ill process \d+ \(.*score"),
    re.compile(r"(?:.*: )?Killed process \d|oom_reaper: reaped process"),
)

# Mail quoting: `> `, `>> `, `> > ` in front of every line of a quoted reply.
QUOTE_MARKERS = re.compile(r"(?:[ \t]*>)+ ?")
# Log lines kept in a script or a parser's test as comments: `# ` (Python, shell, YAML),
# `// ` (Go, JavaScript, C), the marker indented with the code. (Not `-- `: journalctl
# writes its own lines so.)
COMMENT_MARKER = re.compile(r"[ \t]*(?:#|//) ")
NO_BREAK_SPACE = "\xa0"  # a rendered page's `&nbsp;`, where the kernel wrote a space
# Text taken from a page's HTML source or an escaped export: `&gt;`, `&amp;`, `&#39;`.
# Kernel lines never hold an entity, so two in the head mark the paste.
HTML_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|apos|nbsp|#\d{1,7}|#[xX][0-9a-fA-F]{1,6});")
# The markup of a page's source around the lines (`<pre>`, `<code>`, a highlighter's `<span>`,
# a blog's `<br />`). Only these names are tags: the kernel's own `<TASK>`, `<IRQ>`, `<EOI>`
# and `<4>` levels are text. Tags that end a line where the page shows a break:
HTML_BREAK_TAGS = ("br", "p", "div", "li", "tr", "pre", "hr", "h[1-6]", "blockquote", "table")
HTML_INLINE_TAGS = ("code", "span", "a", "b", "i", "em", "strong", "font", "tt", "samp", "kbd")
HTML_PAGE_TAGS = ("html", "head", "body", "td", "th", "tbody", "thead", "ul", "ol", "small", "u")
_TAG = r"</?(?:{})(?:\s[^<>]*)?/?>"
HTML_BREAK = re.compile(_TAG.format("|".join(HTML_BREAK_TAGS)), re.I)
HTML_TAG = re.compile(
    _TAG.format("|".join(HTML_BREAK_TAGS + HTML_INLINE_TAGS + HTML_PAGE_TAGS)), re.I
)
# A forum's BBCode inside the lines, around what the author marked (`[COLOR="Red"]Out of
# memory: kill process …[/COLOR]`, `[b]…[/b]`): a closing tag in the head tells it.
_BBCODE_NAMES = r"(?:color|b|i|u|s|size|font|highlight)"
BBCODE_CLOSE = re.compile(rf"\[/{_BBCODE_NAMES}\]", re.I)
BBCODE_TAG = re.compile(rf"\[/?{_BBCODE_NAMES}(?:=[^\]]*)?\]", re.I)
# Markup that opens or closes a code block in a forum's, tracker's or wiki's text: Markdown
# fences (a language after the opening one), BBCode `[code]` (`[code=text]`, `[/code]`), Jira
# and Confluence `{code}` (`{code:none}`) and `{noformat}`. A line that is only markup is no
# line; markup glued to the first or last line of the log is taken off it.
_BLOCK_MARKER = (
    r"(?:`{3,}|~{3,})"
    r"|\[/?(?:code|pre|quote|log|spoiler|noparse)(?:=[^\]]*)?\]"
    r"|\{(?:code|noformat|quote|panel)(?::[^}]*)?\}"
)
# A fixture's raw string around the log, glued to its first and last line: Go and JavaScript
# backquotes (`const dmesg = \``), Python triple quotes, Rust `r#"`.
_RAW_STRING_OPEN = r"(?:(?:const|var|let|static)\s+)?[\w.]+\s*(?::=|=)\s*(?:`|\"{3}|'{3}|r#*\")"
_MARK_CHARS = "`~[{'\""  # a block's or raw string's markup holds one
_RAW_STRING_CLOSE = r"(?:`|\"{3}|'{3}|\"#+)[ \t]*[;,)]*"
BLOCK_MARKER_AT_START = re.compile(
    rf"[ \t]*(?:(?:{_BLOCK_MARKER})(?:[\w+.-]+[ \t]*$)?|{_RAW_STRING_OPEN}\\?)[ \t]*", re.I
)
BLOCK_MARKER_AT_END = re.compile(rf"[ \t]*(?:{_BLOCK_MARKER}|{_RAW_STRING_CLOSE})[ \t]*$", re.I)
# A line that begins with a tag, or two that end with one, mark the source of a page; a log
# line that quotes a tag has its prefix first.
HTML_LINE_START = re.compile(r"\s*" + HTML_TAG.pattern, re.I)
HTML_LINE_END = re.compile(HTML_TAG.pattern + r"\s*$", re.I)
# Line numbers a viewer put in front of every line: `cat -n` and `nl` (`     1\t`), `less -N`
# (`      1 `), an editor's gutter (`  1 `, `1: `, `1. `, `1| `), `grep -n` (`1:`, its context
# lines `1-`). A number is taken off only where the numbers go up and its layout is the
# paste's, so a report line that begins with a number (`2048 pages RAM`) keeps it.
LINE_NUMBER = re.compile(r"(?P<pad> *)(?P<number>\d{1,9})(?P<mark>[:.|)-]?)(?P<gap>\t| *)")
_NUMBERS_TO_SEE = 3  # lines whose number is one more than the line's before
# Log lines kept as string literals of a parser's fixture or a script, one per line: Python,
# Go, JavaScript, Java (`"…",`, `'…',`, `"…" +`, `"…\n"`), YAML (`- "…"`, `log: "…"`), or
# the items of a JSON array.
STRING_LITERAL = re.compile(
    r"[ \t]*(?:- )?(?:(?:const |var |let )?[\w.]+(?:\[\])? *(?::=|=|:) *)?"  # `x = `, `- log: `
    r"(?P<quote>[\"'])(?P<body>.*)(?P=quote)[ \t]*[,+;]?[ \t]*"
)
_LITERALS_TO_SEE = 2
# Where a string's escapes joined lines (`\n`, `\r\n`; never `\\n`, an escaped backslash
# before an `n`), and the quote that closes the string after its last line.
ESCAPED_NEWLINE = re.compile(r"(?<!\\)(?:\\r)?\\n")
UNESCAPED_QUOTE = {quote: re.compile(rf"(?<!\\){quote}") for quote in "\"'"}
_ESCAPED_TO_SEE = 2
_SPACED_TO_SEE = 6
_INDENTED_TO_SEE = 3  # lines of text that share an indent, to take it off
LIST_PUNCTUATION = re.compile(r"[ \t]*[\[\](){};,]+[ \t]*")
# Where a relayed line may begin: after a tool's separator and a blank (`web-1  | `,
# `node01: `, `[pod/web/app] `) or two blanks (`Received message  `); a word and one blank
# (`Memory` / `cgroup ` wrapped before `stats for`) is a line's own text.
LEAD_END = re.compile(r"(?<=[|:\]>)]) +|  +")
MAX_LEAD_CHARS = 80
MAX_LEADS = 64
HOST_LEAD = re.compile(r"(?P<host>[\w.-]+): ")  # pdsh / clush: `node01: <the node's line>`
# Bare report lines (no prefix) that no other text begins with, to find markers and leads in
# front of them: the CPU line (3.x+; 6.x `UID:`), the hardware, trace, memory summary and
# task table heads, the choice and the kill (2.6+), the 4.19+ summary, memcg usage lines.
# Not the header: its task name may be anything, so it would take in what stands before it.
BARE_REPORT_LINE = re.compile(
    r"CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: |Hardware name: |Call Trace:|Mem-Info:"
    r"|Tasks state |\[\s*pid\s*\]\s+uid|oom-kill:constraint=|(?:Memory cgroup )?[Oo]ut of memory: "
    r"|Killed process \d|Node \d+ \S+ free:|\d+ pages RAM|Free swap  = "
    r"|(?:memory|memory\+swap|swap|kmem|kmem\.tcp): usage \d"
    r"|Memory cgroup stats for /"
    # Mem-Info's own lines (2.6+; the per-node line 4.8+, hugepages 3.x+): a long zone line
    # cut at a width is no rest of them
    r"|lowmem_reserve\[\]: |Node \d+ active_anon:\d|Node \d+ \S+: \d+\*\d+kB |active_anon:\d+ "
    r"|Node \d+ hugepages_total=|\d+ total pagecache pages|\d+ pages in swap cache"
    r"|Total swap = \d|\d+ pages (?:reserved|HighMem|cma reserved|hwpoisoned)"
)
QP_HEADER = "content-transfer-encoding: quoted-printable"
QP_ESCAPE = re.compile(r"=[0-9A-F]{2}")
# An encoder's own marks: the `=` every kernel report holds (`gfp_mask=3D0x...`), a byte above
# ASCII; a line cut after `pid=` over `18...`, `rss=20`, are none.
QP_MARK = re.compile(r"=3D|=[C-F][0-9A-F]=[89AB][0-9A-F]")
QP_EQUALS_ALONE = 3
# The fields that hold the kernel line, by the tools that export it: Elasticsearch/Kibana/
# Filebeat `message`, Fluent Bit/Docker `log`, Loki/logcli `line` (journald's `MESSAGE` is
# read by the journal rule); Splunk and Sumo Logic `_raw`, CloudWatch Logs Insights
# `@message`, Google Cloud Logging `textPayload`, Azure Monitor's Syslog table
# `SyslogMessage`, Graylog `full_message`.
# The fields that hold the line, the first found taken; ECS `event.original` (the line as
# read, which Elastic Agent and Filebeat keep) after them, for documents with no `message`.
MESSAGE_KEYS = (
    "message",
    "log",
    "line",
    "_raw",
    "@message",
    "textPayload",
    "SyslogMessage",
    "full_message",
)
TIME_KEYS = (
    "@timestamp",
    "timestamp",
    "time",
    "lastTimestamp",
    "firstTimestamp",
    "eventTime",
    "_time",  # Splunk
    "TimeGenerated",  # Azure Monitor
    "date",  # Datadog's CSV export
)
# Column names as exports capitalise them (`Message`, `Host`, Datadog's `Date`, Grafana's
# `Line`): the field they name, whatever its case.
_HOST_COLUMNS = ("host", "hostname", "Computer", "HostName", "source")
# reversed: where two keys differ only in case, the first one listed is the one named
_KNOWN_COLUMNS = {key.lower(): key for key in reversed((*MESSAGE_KEYS, *TIME_KEYS, *_HOST_COLUMNS))}
# Azure Monitor's CSV export (Log Analytics, en-US): `12/4/2026, 6:48:08.123 PM`
US_DATE = re.compile(
    r"(?P<mon>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{4}),? (?P<hour>\d{1,2}):(?P<rest>\d\d:\d\d"
    r"(?:\.\d+)?) (?P<half>AM|PM)"
)
# A column's name, and the zone Azure Monitor adds to a time's (`TimeGenerated [UTC]`)
MAX_HEADER_CHARS = 4096  # a table's first line of column names; longer is no header
_COLUMN_NAME = re.compile(r"(?P<name>[@\w.-]+)(?: \[[\w ]+\])?")
# journalctl -o verbose (systemd 38+): a head line with the entry's time (format_timestamp_us)
# and cursor, then one `    FIELD=value` line per field; a value's further lines are
# indented past its `=`.
JOURNAL_VERBOSE_HEAD = re.compile(
    r"[A-Z][a-z]{2} (?P<date>\d{4}-\d\d-\d\d) (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) "
    r"(?P<zone>\S+) \[s=[0-9a-f]+;i=[0-9a-f]+;"
)
# journalctl -o export: `FIELD=value` lines from `__CURSOR=`, a blank line after each entry; a
# value holding a newline (a kernel record printed with line breaks in it, like Mem-Info's
# page counts before 4.9) is its name alone on a line, then its size as 8 bytes, little
# endian, then its bytes: its lines run to the next field or the entry's end.
MAX_JOURNAL_FIELDS = 256  # an entry has a few dozen; more never make one entry grow
JOURNAL_FIELD = re.compile(r"(?: {4})?(?P<name>[A-Z0-9_]+)=(?P<value>.*)", re.S)
JOURNAL_BINARY_FIELD = re.compile(r"[A-Z_][A-Z0-9_]*")  # names begin with a letter or _
EXPORT_SIZE_CHARS = 8  # the size's bytes, one character each once decoded (sizes < 32 KiB)
# Fluent Bit's stdout output (format msgpack, the default): `[0] kern: [1732528805.123456789,
# {"msg"=>"..."}]` (1.x), `[0] kern: [[1732528805.123456789, {}], {"msg"=>"..."}]` (2.1+,
# with the event's metadata); strings are printed as they are, unescaped.
FLUENT_BIT_RECORD = re.compile(
    r"\[\d+\] \S+: \[(?:(?P<time>\d+(?:\.\d+)?)|\[(?P<time2>\d+(?:\.\d+)?), \{[^{}]*\}\]), "
    r"\{(?P<body>.*)\}\]\s*$"
)
_FLUENT_BIT_KEY = re.compile(r'(?:^|, )"(?P<key>[^"]+)"=>')
LOGCLI_COMMON_LABELS = "Common labels: "
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def head_lines(lines: Iterator[str]) -> list[str]:
    """The first lines of a stream that `sniff` looks at (taken from `lines`)."""
    head: list[str] = []
    size = texts = 0
    for line in lines:
        head.append(line)
        size += len(line.encode("utf-8", "surrogateescape")) + 1
        texts += bool(line.strip())
        if texts >= SNIFF_LINES or len(head) >= SNIFF_ALL_LINES or size >= SNIFF_BYTES:
            break
    return head


def _within_budget(head: list[str]) -> list[str]:
    size = texts = 0
    for count, line in enumerate(head[:SNIFF_ALL_LINES]):
        size += len(line.encode("utf-8", "surrogateescape")) + 1
        if size > SNIFF_BYTES:
            return head[:count]
        texts += bool(line.strip())
        if texts >= SNIFF_LINES:
            return head[: count + 1]
    return head[:SNIFF_ALL_LINES]


def head_of_bytes(data: bytes, complete: bool) -> list[str]:
    """The same head, from the first SNIFF_BYTES of a file (`complete`: that is all of it)."""
    pieces = bytes(data[:SNIFF_BYTES]).split(b"\n")
    if not complete or pieces[-1] == b"":
        pieces.pop()  # an unfinished last line
    lines = [piece.decode("utf-8", "replace") for piece in pieces[:SNIFF_ALL_LINES]]
    return _within_budget([line[:-1] if line.endswith("\r") else line for line in lines])


@dataclass(frozen=True, slots=True)
class _NumberLayout:
    """How a viewer wrote its line numbers: right-aligned to a width (`cat -n`: 6) or not,
    the mark after them (`grep -n`: `:`), the white space between number and line."""

    width: int | None
    marked: bool
    gap: str

    def of(self, found: re.Match[str]) -> bool:
        padded = len(found["pad"]) + len(found["number"]) if found["pad"] else None
        width = padded if self.width is not None else None
        return (
            width == self.width
            and bool(found["mark"]) == self.marked
            and (found["gap"].startswith(self.gap) if self.gap else True)
        )


@dataclass(frozen=True, slots=True)
class PasteShape:
    json: bool = False
    csv: bool = False  # a table export (Kibana Discover CSV) with a message column
    # `\t` for a table copied as tab-separated text (a data grid's copy, `Copy as text`)
    csv_delimiter: str = ","
    journal_fields: bool = False  # journalctl -o verbose / -o export: an entry's fields
    fluent_bit_stdout: bool = False  # Fluent Bit's stdout output, records printed as maps
    quoted_printable: bool = False
    caret_notation: bool = False  # `cat -v`'s `^M` line ends and `^[[32m` codes
    copy_mode_position: bool = False  # tmux's `[7/972]` at the pane's top right
    html_escaped: bool = False
    html_markup: bool = False  # the lines inside a page's tags (which also escape `<` and `&`)
    bbcode: bool = False  # a forum's `[COLOR=…]…[/COLOR]` inside lines
    block_markers: bool = False  # the lines inside a code block's markup (```, [code], {code})
    # The indent every line shares (a Markdown code block's four spaces, a quoted log's tab):
    # a wrapped line's rest has it too, which made it look like a record's indented rest.
    indent: str = ""
    # No-break spaces where the kernel wrote spaces: text copied from a rendered page, which
    # keeps runs of spaces (a task table's columns) as `&nbsp;`.
    no_break_spaces: bool = False
    quoted: bool = False
    # A log's lines joined into one with `\n` escapes: a string value copied out of a JSON
    # viewer or an error message, a program's repr of what it read.
    escaped_newlines: bool = False
    commented: bool = False  # log lines kept as comments of a script or test (`# `, `// `)
    # Text a tool wrote before the lines it relayed (`web-1  | `, `node01: `), which hides
    # their own prefixes; `host: ` names the host (pdsh, clush).
    leads: tuple[str, ...] = ()
    wrapped: bool = False
    # A terminal or pager cut every long line at this many columns, mid-word: the rest
    # follows, unprefixed, with nothing lost between.
    cut_width: int | None = None
    # The medium kept the space at each break (format=flowed, `fold -s`), so a line as wide as
    # the widest that ends in no space had a word too long for a line cut at this width.
    flowed_width: int | None = None
    widest: int | None = None  # the widest line of a wrapped paste: where the medium wrapped
    host: str | None = None  # the one host a paste names, for its lines that name none
    # Records newest first, as Kibana Discover, logcli (--direction backward, its default)
    # and `journalctl -r` write them: read back oldest first.
    newest_first: bool = False
    # Line numbers in front of every line (`cat -n`, `less -N`, `grep -n`), by their layout
    line_numbers: _NumberLayout | None = None
    string_literals: bool = False  # every line a quoted string (a fixture's list of lines)
    # A blank line after every line (a page that puts each line in a paragraph of its own):
    # blank lines are no lines, so a journal record's indented rest stays with it.
    double_spaced: bool = False

    @property
    def is_paste(self) -> bool:
        return (
            self.json
            or self.csv
            or self.journal_fields
            or self.fluent_bit_stdout
            or self.quoted_printable
            or self.caret_notation
            or self.copy_mode_position
            or self.html_escaped
            or self.html_markup
            or self.bbcode
            or self.block_markers
            or bool(self.indent)
            or self.no_break_spaces
            or self.quoted
            or self.escaped_newlines
            or self.commented
            or bool(self.leads)
            or self.wrapped
            or bool(self.host)
            or self.newest_first
            or self.line_numbers is not None
            or self.string_literals
            or self.double_spaced
        )


@dataclass(slots=True)
class _Piece:
    text: str
    width: int = 0  # length of its last physical line, as the medium wrapped it
    host: str | None = None
    time: datetime | None = None
    prefixed: bool | None = None


@dataclass
class PasteStats:
    json_values_refused: int = 0  # values over MAX_JSON_CHARS, skipped with one log line
    reversed_in_blocks: int = 0  # newest-first blocks of MAX_REVERSED_CHARS, logged once


@dataclass
class PasteReader:
    stats: PasteStats = field(default_factory=PasteStats)

    def __post_init__(self) -> None:
        # prefix rules tell prefixed lines from bare ones; their times are not kept
        self._ctx = PrefixContext(zone=UTC, years=YearInference(reference=datetime.now(UTC)))

    def sniff(self, head: list[str]) -> PasteShape:
        """The shape of a stream from its first lines (SNIFF_LINES of text, SNIFF_ALL_LINES in
        all, within SNIFF_BYTES)."""
        head = _within_budget(head)
        first = next((line.strip() for line in head if line.strip()), "")
        delimiter = _table_delimiter(first)
        shape = PasteShape(
            json=_opens_json(first),
            csv=delimiter is not None,
            csv_delimiter=delimiter or ",",
            journal_fields=_opens_journal_fields(first),
            fluent_bit_stdout=any(FLUENT_BIT_RECORD.match(line) for line in head),
            quoted_printable=_is_quoted_printable(head),
            caret_notation=shows_caret_notation(head),
            copy_mode_position=shows_copy_mode_position(head),
            html_escaped=sum(len(HTML_ENTITY.findall(line)) for line in head if "&" in line) >= 2,
            html_markup=_has_html_markup(head),
            bbcode=any(BBCODE_CLOSE.search(line) for line in head if "[/" in line),
            no_break_spaces=sum(1 for line in head if NO_BREAK_SPACE in line) >= 2,
            quoted=self._quoted(head),
            commented=sum(1 for line in head if self._commented_log_line(line)) >= 2,
        )
        pieces = self._head_pieces(head, shape)
        exported = shape.json or shape.csv or shape.journal_fields or shape.fluent_bit_stdout
        if not exported and self._escaped_newlines(pieces):
            shape = replace(shape, escaped_newlines=True)
            pieces = self._head_pieces(head, shape)
        if any(BLOCK_MARKER_AT_START.match(piece.text) for piece in pieces):
            shape = replace(shape, block_markers=True)
            pieces = self._head_pieces(head, shape)
        if not exported and _string_literal_lines(pieces):
            shape = replace(shape, string_literals=True)
            pieces = self._head_pieces(head, shape)
        if not exported and _double_spaced(pieces):
            shape = replace(shape, double_spaced=True)
            pieces = self._head_pieces(head, shape)
        numbers = None if exported else _number_layout(pieces)
        if numbers is not None:
            shape = replace(shape, line_numbers=numbers)
            pieces = self._head_pieces(head, shape)
        indent = "" if exported else _common_indent(pieces)
        if indent:
            shape = replace(shape, indent=indent)
            pieces = self._head_pieces(head, shape)
        leads = () if exported else self._leads(pieces)
        if leads:
            shape = replace(shape, leads=leads)
            pieces = self._head_pieces(head, shape)
        cut_width = None if exported else self._cut_width(pieces)
        widest = max((piece.width for piece in pieces), default=0)
        continuing = [
            (before, after)
            for before, after in itertools.pairwise(pieces)
            if self._continues(before, after)
        ]
        wrapped = not exported and (
            cut_width is not None
            or bool(continuing)
            or any(
                self._cut_at_the_widest(before, after, widest)
                for before, after in itertools.pairwise(pieces)
            )
        )
        flowed_width = None if cut_width is not None else _flowed_width(widest, continuing)
        host = self._one_host(pieces) or _common_labels_host(head)
        newest_first = self._newest_first(pieces)
        return replace(
            shape,
            wrapped=wrapped,
            cut_width=cut_width,
            flowed_width=flowed_width,
            widest=widest if wrapped else None,
            host=host,
            newest_first=newest_first,
        )

    def _head_pieces(self, head: list[str], shape: PasteShape) -> list[_Piece]:
        """The head's pieces as `shape` reads them, counting nothing; at most SNIFF_ALL_LINES
        (one line may hold many: a JSON array, a string's `\\n` escapes)."""
        return list(
            itertools.islice(self._decoded(iter(head), shape, PasteStats()), SNIFF_ALL_LINES)
        )

    def records(self, lines: Iterable[str], shape: PasteShape) -> Iterator[ShippedRecord]:
        pieces = self._decoded(iter(lines), shape, self.stats)
        if shape.wrapped:
            pieces = self._rejoined(pieces, shape)
        if shape.newest_first:
            pieces = self._oldest_first(pieces)
        for piece in pieces:
            yield ShippedRecord(
                message=piece.text,
                host=piece.host or shape.host,
                time=piece.time,
                fields={PASTED: True},
            )

    # -- stages ---------------------------------------------------------------------------

    def _decoded(
        self, lines: Iterator[str], shape: PasteShape, stats: PasteStats
    ) -> Iterator[_Piece]:
        if shape.json:
            pieces: Iterator[_Piece] = _json_pieces(lines, stats)
        elif shape.csv:
            pieces = _csv_pieces(lines, shape.csv_delimiter)
        elif shape.journal_fields:
            pieces = _journal_field_pieces(lines)
        elif shape.fluent_bit_stdout:
            pieces = _fluent_bit_pieces(lines)
        else:
            if shape.caret_notation:
                lines = map(from_caret_notation, lines)
            pieces = _first_bracket_counted(
                _Piece(line, len(line))
                for line in map(without_terminal_codes, lines)
                if not is_pager_status(line)
            )
            if shape.copy_mode_position:
                pieces = _without_copy_mode_position(pieces)
        if shape.escaped_newlines:
            pieces = self._split_at_escapes(pieces)
        if shape.quoted_printable:
            pieces = _qp_decoded(pieces)
        if shape.html_markup:
            pieces = _html_untagged(pieces)
        if shape.html_escaped or shape.html_markup:
            pieces = _html_unescaped(pieces)
        if shape.bbcode:
            pieces = _bbcode_untagged(pieces)
        if shape.no_break_spaces:
            pieces = _spaced(pieces)
        if shape.quoted:
            pieces = _unquoted(pieces)
        if shape.commented:
            pieces = _uncommented(pieces)
        if shape.block_markers:
            pieces = _unmarked_blocks(pieces)
        if shape.double_spaced:
            pieces = (piece for piece in pieces if piece.text.strip())
        if shape.string_literals:
            pieces = _unquoted_literals(pieces)
        if shape.line_numbers is not None:
            pieces = _unnumbered(pieces, shape.line_numbers)
        if shape.indent:
            pieces = _dedented(pieces, shape.indent)
        if shape.leads:
            pieces = _without_leads(pieces, shape.leads)
        return pieces

    def _rejoined(self, pieces: Iterator[_Piece], shape: PasteShape) -> Iterator[_Piece]:
        cut_width, flowed_width = shape.cut_width, shape.flowed_width
        before: _Piece | None = None
        last = ""  # the text of before's last physical line
        full_again = False  # last is the tail a reply's wrap put after a full quoted line
        after_tail = False  # before.width is the width of the line before that wrap
        for piece in pieces:
            # A line as wide as the widest with no blank in it was cut inside its word,
            # unless the word just fit: the kernel's next words or fields follow a blank.
            in_a_word = (
                before is not None
                and one_word(last)
                and ((before.width == shape.widest and not after_tail) or full_again)
                and not breaks_a_phrase(before.text, piece.text.lstrip(" \t"))
                and not field_after_a_dropped_blank(before.text, piece.text)
            )
            tail = before is not None and a_full_lines_tail(before.width, last, piece.text)
            if before is None or len(before.text) + len(piece.text) >= MAX_LINE_CHARS:
                pass
            elif tail and self._rest_of_a_word(piece):
                # a reply's second wrap: at a blank it kept or dropped, or inside a word
                between = "" if one_word(last) else joint(before.text, piece.text)
                before.text += between + piece.text
                full_again = a_word_cut_twice(last, piece.text)
                # as wide as the line was before the reply wrapped it
                before.width += len(between) + len(piece.text)
                last, after_tail = piece.text, True
                continue
            elif (
                (cut_width is not None and self._cut_at(before, piece, cut_width))
                or (in_a_word and self._rest_of_a_word(piece))
                or self._cut_at_the_widest(before, piece, shape.widest)
                or (
                    before.width == shape.widest
                    and cut_in_a_long_token(before.text, piece.text)
                    and self._begins_no_line(piece)
                )
            ):
                before.text += piece.text  # cut mid-word: nothing was lost at the cut
                before.width, last = piece.width, piece.text
                full_again = after_tail = False
                continue
            elif self._continues(before, piece) or (
                flowed_width is not None and self._broke_at_a_blank(before, piece, flowed_width)
            ):
                rest = piece.text.lstrip(" \t")
                if in_a_word:  # the blank that begins the rest is the one after the word
                    between = " " if rest != piece.text else ""
                else:
                    between = joint(before.text, rest)
                before.text += between + rest
                before.width, last = piece.width, piece.text
                full_again = after_tail = False
                continue
            if before is not None:
                yield before
            before, last = piece, piece.text
            full_again = after_tail = False
        if before is not None:
            yield before

    def _continues(self, before: _Piece, piece: _Piece) -> bool:
        """A piece that cannot be a line of its own is the rest of the line before it."""
        text = piece.text
        if not text or not before.text.strip():
            return False  # blank lines end paragraphs
        text = text.lstrip(" \t")
        if CONTINUATION_START.match(text):
            return True  # fields of a header or a summary never begin a line, indented or not
        if CUT_BEFORE_ITS_REST.search(before.text) and WRAPPED_REST.match(text):
            return not self._prefixed(piece)  # a line of its own: the kernel's split pieces
        if ROW_CUT_BEFORE_ITS_NAME.search(before.text) and ROW_NAME.fullmatch(text.rstrip()):
            return not self._prefixed(piece)
        if text == piece.text and (
            cut_before_a_unit(before.text, text)
            or cut_in_a_kill_key(before.text, text)
            or cut_in_a_summary_value(before.text, text)
        ):
            return True
        if text == piece.text and HYPHEN_END.search(before.text) and text[:1].isalnum():
            return self._begins_no_line(piece)
        if breaks_a_phrase(before.text, text):
            return not self._prefixed(piece)
        if cut_in_a_table_or_list(before.text, before.width, text, indented=text != piece.text):
            return not self._prefixed(piece)
        if text == piece.text and cut_in_a_path(before.text) and text[0].isalnum():
            return not BARE_REPORT_LINE.match(text)  # the rest of a cgroup path
        if text != piece.text and not WRAPPED_AT_A_SPACE.match(piece.text):
            return False  # indented lines continue records
        if not WRAPPED_REST.match(text) or not self._prefixed(before) or self._prefixed(piece):
            return False
        if BARE_REPORT_LINE.match(text):
            return False  # a report line of its own behind no prefix (a paste mixing them)
        if before.text.endswith(" "):
            return True  # format=flowed (RFC 3676): a trailing space marks a soft break
        low, high = WRAP_WIDTHS
        first_word = len(text.split(" ", 1)[0])
        return before.width <= high and before.width + 1 + first_word > low

    def _escaped_newlines(self, pieces: list[_Piece]) -> bool:
        """Whether a line of the head holds log lines joined by `\\n` escapes: at least
        _ESCAPED_TO_SEE of the parts after its first are log lines, or all but the last."""
        for piece in pieces:
            if "\\n" not in piece.text:
                continue
            parts = ESCAPED_NEWLINE.split(piece.text, SNIFF_ALL_LINES)[1:]
            parts = [part.lstrip() for part in parts]
            logged = sum(1 for part in parts if self._log_line(part))
            some = len([part for part in parts if part]) - 1  # the last may close the string
            if logged and logged >= min(_ESCAPED_TO_SEE, some):
                return True
        return False

    def _split_at_escapes(self, pieces: Iterator[_Piece]) -> Iterator[_Piece]:
        """Each part between `\\n` escapes a piece of its own, its escapes undone (`\\t`,
        `\\"`, `\\'`). What stood before the string (`message: "`, `got '`) and the
        quote that closed it go."""
        for piece in pieces:
            if "\\n" not in piece.text:
                yield piece
                continue
            parts = ESCAPED_NEWLINE.split(piece.text)
            opened = self._string_opened(parts[0])
            quote = "'" if opened.endswith("'") else '"'
            if opened:
                parts[0] = parts[0][len(opened) :]
                closed = [found.start() for found in UNESCAPED_QUOTE[quote].finditer(parts[-1])]
                parts[-1] = parts[-1][: closed[-1]] if closed else parts[-1]
            for part in parts:
                text = _literal_text(part, quote)
                yield _Piece(text, len(text), piece.host, piece.time)

    def _string_opened(self, first: str) -> str:
        """The text up to the quote that opens a string whose first line is a log line,
        within MAX_LEAD_CHARS (`message: "`, `error: node web1 reported "`)."""
        if self._log_line(first.lstrip()):
            return ""
        for found in re.finditer("[\"']", first[:MAX_LEAD_CHARS]):
            if self._log_line(first[found.end() :].lstrip()):
                return first[: found.end()]
        return ""

    def _broke_at_a_blank(self, before: _Piece, piece: _Piece, width: int) -> bool:
        """Where the medium keeps the blank it broke at, a line ending in one whose next word
        would not have fit in the width was broken there, whatever the word."""
        if not piece.text.strip() or not before.text.endswith(" ") or not before.text.strip():
            return False
        word = len(piece.text) - len(piece.text.lstrip()) + len(piece.text.split(None, 1)[0])
        return before.width + word > width and self._begins_no_line(piece)

    def _cut_at_the_widest(self, before: _Piece, piece: _Piece, widest: int | None) -> bool:
        """A wide terminal (MIN_WIDE_CUT+) cut the one line longer than itself inside a
        number or word (`anon-rss:5225` / `576kB`): the widest prefixed line, followed by
        an unprefixed piece that goes on with the same token."""
        return (
            widest is not None
            and widest >= MIN_WIDE_CUT
            and before.width == widest
            and before.text[-1:].isalnum()
            and piece.text[:1].isalnum()
            and piece.text[:1].isascii()  # an author's prose after the line is no rest of it
            and (self._prefixed(before) or one_word(piece.text))  # bare: the rest of a path
            and self._rest_of_a_word(piece)
        )

    def _rest_of_a_word(self, piece: _Piece) -> bool:
        """The rest of a word cut at the width: not indented (a blank after the word began
        it), beginning no report line."""
        text = piece.text
        if not text.strip() or text[:1] in " \t":
            return False
        return self._begins_no_line(piece)

    def _begins_no_line(self, piece: _Piece) -> bool:
        """Behind no prefix, and no bare report line: the rest of the line before it."""
        return not self._prefixed(piece) and not BARE_REPORT_LINE.match(piece.text)

    def _cut_at(self, before: _Piece, piece: _Piece, width: int) -> bool:
        """A line cut at `width`, and its rest: no line of the report's own (task rows of one
        width, the longest lines of a bare paste, each begin one)."""
        return (
            before.width == width
            and bool(piece.text.strip())
            and bool(before.text.strip())
            # a kernel line's rest is ASCII; grep's `--` and an author's `...` stand alone
            and piece.text[:1].isascii()
            and not SEPARATOR_LINE.fullmatch(piece.text)
            and not ROW_START.match(piece.text)
            and not name_after_its_row(before.text, piece.text)
            and not breaks_a_phrase(before.text, piece.text)  # a terminal keeps the blank
            and not field_after_a_dropped_blank(before.text, piece.text)
            and self._begins_no_line(piece)
        )

    def _cut_width(self, pieces: list[_Piece]) -> int | None:
        """The width at which a terminal cut the lines: the longest lines are all that wide,
        and at least two of them, each followed by an unprefixed piece (a line of its own
        that is exactly as long as the longest is rare), are most of the lines broken."""
        cuts = Counter(
            before.width
            for before, after in itertools.pairwise(pieces)
            if after.text.strip()
            and self._prefixed(before)
            and not self._prefixed(after)
            and not name_after_its_row(before.text, after.text)
        )
        if not cuts and not any(self._prefixed(piece) for piece in pieces):
            return self._bare_cut_width(pieces)
        if not cuts:
            return None
        width, count = cuts.most_common(1)[0]
        longest = max(piece.width for piece in pieces)
        # A terminal cuts every long line at its width; a wrap at words leaves most of the
        # lines it broke shorter than the width (their next word did not fit).
        most = count * 2 > sum(cuts.values())
        return width if count >= CUTS_TO_SEE and width == longest and most else None

    def _bare_cut_width(self, pieces: list[_Piece]) -> int | None:
        """The same for lines without prefixes (a terminal's copy of `dmesg -t`): at least
        BARE_CUTS_TO_SEE lines as wide as the widest, a width no shorter than a terminal's,
        each followed by a line of text."""
        longest = max((piece.width for piece in pieces), default=0)
        cut = sum(
            1
            for before, after in itertools.pairwise(pieces)
            if self._cut_at(before, after, longest)
            and not before.text.endswith((">", "…"))  # a pager's mark: the rest is lost
        )
        return longest if cut >= BARE_CUTS_TO_SEE and longest >= MIN_TERMINAL_WIDTH else None

    def _leads(self, pieces: list[_Piece]) -> tuple[str, ...]:
        """The texts that stand, each on at least two lines, before a line prefix that no
        rule found at the start of those lines; not on the rest of a wrapped line, which
        may begin alike before a report line (`cgroup out of memory: ` after `Memory`)."""
        counts: Counter[str] = Counter()
        before: _Piece | None = None
        for piece in pieces:
            text = piece.text
            if (
                text.strip()
                and self._begins_no_line(piece)
                and not (before is not None and self._continues(before, piece))
            ):
                lead = self._lead_of(text)
                if lead is not None:
                    counts[lead] += 1
            before = piece
        return tuple(lead for lead, count in counts.most_common(MAX_LEADS) if count >= 2)

    def _lead_of(self, text: str) -> str | None:
        for space in LEAD_END.finditer(text, 0, MAX_LEAD_CHARS):
            if self._log_line(text[space.end() :]):
                return text[: space.end()]
        return None

    def _newest_first(self, pieces: list[_Piece]) -> bool:
        """Stamps that go back in time from one record to the next, nearly always (a clock
        set back or a reboot's dmesg restart is one step back among many forward); where the
        stamps cannot tell (a report within one second of a syslog stamp), a report's lines
        seen in the reverse of the order the kernel prints them, never once in that order."""
        stamps = _Steps()
        kernel_order = _Steps()
        for piece in pieces:
            fields = match_prefix(piece.text.lstrip(), self._ctx) if piece.text.strip() else None
            stamps.take(_stamps(piece, fields))
            kernel_order.take(_report_rank(piece.text if fields is None else fields.message))
        if stamps.back + stamps.forward >= _STEPS_TO_SEE:
            return stamps.back > _BACK_PER_FORWARD * stamps.forward
        return kernel_order.back >= _REPORT_STEPS_BACK_TO_SEE and not kernel_order.forward

    def _oldest_first(self, pieces: Iterator[_Piece]) -> Iterator[_Piece]:
        """Records in the reverse of the order they came in; a stamped record's own further
        lines (a journal message's indented rest, which no prefix begins) stay after it.
        At most MAX_REVERSED_CHARS are held: past that, each block is turned on its own."""
        records: list[list[_Piece]] = []
        size = 0
        stamped = False
        for piece in pieces:
            fields = match_prefix(piece.text.lstrip(), self._ctx) if piece.text.strip() else None
            if records and stamped and fields is None and piece.time is None:
                records[-1].append(piece)  # the further lines of a stamped record
            else:
                records.append([piece])
                stamped = bool(_stamps(piece, fields))
            size += len(piece.text) + 1
            if size > MAX_REVERSED_CHARS:
                if not self.stats.reversed_in_blocks:
                    log.warning(
                        "newest-first input over %d characters turned block by block",
                        MAX_REVERSED_CHARS,
                    )
                self.stats.reversed_in_blocks += 1
                yield from itertools.chain.from_iterable(reversed(records))
                records, size = [], 0
        yield from itertools.chain.from_iterable(reversed(records))

    def _commented_log_line(self, line: str) -> bool:
        found = COMMENT_MARKER.match(line)
        if found is None:
            return False
        rest = line[found.end() :]
        return self._log_line(rest) or INVOKED.match(rest) is not None

    def _quoted(self, head: list[str]) -> bool:
        """A reply's quote markers: two lines behind one, or a log line behind one (a single
        line quoted; one `>` alone may be a shell's redirect)."""
        marked = [line for line in head if line.lstrip()[:1] == ">"]
        if len(marked) >= 2:
            return True
        return any(self._log_line(QUOTE_MARKERS.sub("", line, count=1)) for line in marked)

    def _log_line(self, text: str) -> bool:
        """A line a log holds: behind a prefix, or a bare report line only the kernel writes."""
        return BARE_REPORT_LINE.match(text) is not None or match_prefix(text, self._ctx) is not None

    def _prefixed(self, piece: _Piece) -> bool:
        if piece.prefixed is None:
            piece.prefixed = match_prefix(piece.text.lstrip(), self._ctx) is not None
        return piece.prefixed

    def _one_host(self, pieces: list[_Piece]) -> str | None:
        """The host of a paste whose lines name one host and some lines name none."""
        hosts: set[str] = set()
        hostless = 0
        for piece in pieces:
            fields = match_prefix(piece.text.lstrip(), self._ctx) if piece.text.strip() else None
            if piece.host:
                hosts.add(piece.host)
            elif fields is not None and fields.host:
                hosts.add(fields.host)
            elif fields is not None and fields.is_kernel is not False:
                hostless += 1  # a dmesg line, or a syslog line whose host was redacted
            elif fields is None and (
                BARE_REPORT_LINE.match(piece.text.lstrip()) or SEPARATOR_LINE.fullmatch(piece.text)
            ):
                hostless += 1  # a report line or an author's `...` pasted bare among the host's
        return next(iter(hosts)) if len(hosts) == 1 and hostless else None


@dataclass(slots=True)
class _Steps:
    """Steps from one value to the next of the same kind that differs: how many went up,
    how many down."""

    forward: int = 0
    back: int = 0
    before: dict[str, float] = field(default_factory=dict)

    def take(self, values: Iterable[tuple[str, float]]) -> None:
        for kind, value in values:
            last = self.before.get(kind)
            if last is not None:
                self.back += value < last
                self.forward += value > last
            self.before[kind] = value


def _stamps(piece: _Piece, fields: PrefixFields | None) -> list[tuple[str, float]]:
    """What orders a record: its export's time, its prefix's wall clock, the kernel's
    monotonic stamp (each compared only with its own kind)."""
    found = [] if piece.time is None else [("export", piece.time.timestamp())]
    if fields is not None and fields.timestamp is not None:
        found.append(("clock", fields.timestamp.timestamp()))
    if fields is not None and fields.monotonic is not None:
        found.append(("monotonic", fields.monotonic))
    return found


def _report_rank(message: str) -> list[tuple[str, float]]:
    text = message.lstrip()
    return [("report", rank) for rank, rule in enumerate(REPORT_ORDER) if rule.match(text)][:1]


def _common_labels_host(head: list[str]) -> str | None:
    """logcli prints the labels all streams share once, before the lines: `Common labels:
    {host="web1", job="syslog"}`; a host there is the host of every line."""
    for line in head:
        if line.startswith(LOGCLI_COMMON_LABELS):
            return labels_host(line[len(LOGCLI_COMMON_LABELS) :])
    return None


def _without_copy_mode_position(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """Each piece without a multiplexer's position mark and the blanks before it (a line
    the mark stood beside was no wider than its text)."""
    for piece in pieces:
        text = without_copy_mode_position(piece.text)
        yield piece if text is piece.text else replace(piece, text=text, width=len(text))


def _first_bracket_counted(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """A copy whose selection began inside the first printk stamp lost its `[`: that line
    was one character wider where the medium cut it."""
    first = next(pieces, None)
    if first is None:
        return
    if LOST_BRACKET_STAMP.match(first.text):
        first = replace(first, width=first.width + 1)
    yield first
    yield from pieces


def _flowed_width(widest: int, continuing: list[tuple[_Piece, _Piece]]) -> int | None:
    """The widest line's width, when most lines that continue on the next (`continuing`) end
    in the blank the medium kept at the break (at least CUTS_TO_SEE of them)."""
    kept = sum(1 for before, _ in continuing if before.text.endswith(" "))
    if kept < CUTS_TO_SEE or kept * 2 <= len(continuing):
        return None
    return widest


def _json_pieces(lines: Iterator[str], stats: PasteStats) -> Iterator[_Piece]:
    """JSON Lines or pretty-printed JSON (one value or many): the kernel lines inside."""
    held: list[str] = []
    depth = size = 0
    skipping = False  # inside a value refused for its size, until it closes
    for line in lines:
        if not held and not skipping and not _opens_json(line.strip()):
            if line.strip():
                yield _Piece(line, len(line))  # text between values stays text
            continue
        depth += _depth_change(line)
        if skipping:
            skipping = depth > 0
            continue
        held.append(line)
        size += len(line) + 1
        if depth > 0 and size <= MAX_JSON_CHARS:
            continue
        if depth > 0:
            stats.json_values_refused += 1
            log.warning("JSON value over %d characters skipped", MAX_JSON_CHARS)
            skipping = True
        else:
            yield from _value_pieces("\n".join(held))
            depth = 0
        held, size = [], 0
    if held:
        yield from _value_pieces("\n".join(held))


def _table_delimiter(first: str) -> str | None:
    """`,` or `\t`: what separates the columns of a table whose first line names them."""
    return next((mark for mark in ",\t" if _csv_header(first, mark) is not None), None)


def _csv_header(first: str, delimiter: str = ",") -> list[str] | None:
    """The column names of a CSV export's first line when one of them holds the message."""
    if delimiter not in first or "\r" in first or len(first) > MAX_HEADER_CHARS:
        return None  # a carriage return inside a line (binary data, old Mac line ends): no CSV
    names = next(_table_rows([first], delimiter), [])
    columns = [_COLUMN_NAME.fullmatch(name.strip()) for name in names]
    if len(columns) < 2 or not all(columns):
        return None
    names = [_known_name(column["name"]) for column in columns if column]
    return names if any(name in MESSAGE_KEYS for name in names) else None


def _known_name(name: str) -> str:
    return _KNOWN_COLUMNS.get(name.lower(), name)


def _table_rows(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    """CSV rows; tab-separated text is copied unquoted (a `"` in a kernel line is its own)."""
    if delimiter == "\t":
        return csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return csv.reader(lines)


def _csv_pieces(lines: Iterator[str], delimiter: str = ",") -> Iterator[_Piece]:
    """Kibana Discover's CSV export (`"@timestamp","host.name",message`) or a table copied
    as tab-separated text: each row a record, its dotted column names nested as in the
    documents it was exported from."""
    rows = _table_rows((line + "\n" for line in lines), delimiter)
    names = _csv_header(delimiter.join(next(rows, [])), delimiter)
    if names is None:
        return
    try:
        for row in rows:
            record: dict = {}
            for name, value in zip(names, row, strict=False):
                _set_nested(record, name.split("."), value)
            yield from _walk(record, None, 0)
    except csv.Error:
        log.warning("CSV export not readable past line %d", rows.line_num)


def _opens_journal_fields(first: str) -> bool:
    return first.startswith("__CURSOR=") or JOURNAL_VERBOSE_HEAD.match(first) is not None


def _journal_field_pieces(lines: Iterator[str]) -> Iterator[_Piece]:
    """journalctl -o verbose / -o export: each entry's fields as one journal JSON entry, which
    the journal rule reads (host, transport, kernel stamp) as it reads `-o json`."""
    entry: dict[str, str] = {}
    field_name: str | None = None  # the field a verbose value's further lines belong to
    binary: list[str] | None = None  # the lines of an export's binary value being read
    for line in lines:
        if binary is not None:
            if binary == [""] and line[1 : EXPORT_SIZE_CHARS - 1] != "\x00" * 6:
                # no size followed the name (a size's line feed is followed by its zeros):
                # the blank line ended the entry
                yield from _journal_entry(entry)
                entry, field_name, binary = {}, None, None
            elif not binary or not _ends_binary_value(line, binary):
                binary.append(line)  # its first line begins with the size (a 10 is a break)
                continue
            else:
                assert field_name is not None
                entry.setdefault(field_name, "\n".join(binary)[EXPORT_SIZE_CHARS:])
                binary = None
        head = JOURNAL_VERBOSE_HEAD.match(line)
        if head is not None or not line.strip():
            yield from _journal_entry(entry)
            entry, field_name = {}, None
            if head is not None and (realtime := _verbose_realtime(head)) is not None:
                entry["__REALTIME_TIMESTAMP"] = realtime
            continue
        found = JOURNAL_FIELD.fullmatch(line)
        if found is not None and len(entry) < MAX_JOURNAL_FIELDS:
            field_name = found["name"]
            entry.setdefault(field_name, found["value"])  # a repeated field: its first value
        elif JOURNAL_BINARY_FIELD.fullmatch(line) and len(entry) < MAX_JOURNAL_FIELDS:
            field_name, binary = line, []
        elif field_name and line.startswith("    ") and len(entry[field_name]) < MAX_LINE_CHARS:
            entry[field_name] += "\n" + line.strip()
    if binary is not None and field_name is not None:
        entry.setdefault(field_name, "\n".join(binary)[EXPORT_SIZE_CHARS:])
    yield from _journal_entry(entry)


def _ends_binary_value(line: str, value: list[str]) -> bool:
    """The line after a binary value: the next field, the entry's end, or one past the
    bound on a line."""
    return (
        not line.strip()
        or JOURNAL_FIELD.fullmatch(line) is not None
        or JOURNAL_BINARY_FIELD.fullmatch(line) is not None
        or sum(map(len, value)) >= MAX_LINE_CHARS
    )


def _journal_entry(entry: dict[str, str]) -> Iterator[_Piece]:
    if "MESSAGE" in entry:
        text = orjson.dumps(entry).decode()
        yield _Piece(text, len(text))


def _verbose_realtime(head: re.Match[str]) -> str | None:
    """Microseconds since the epoch of a verbose head's time; None where its zone is an
    abbreviation other than UTC's (it names no offset)."""
    zone = head["zone"]
    suffix = "+00:00" if zone in UTC_NAMES else zone if zone[0] in "+-" else None
    stamp = None if suffix is None else parse_iso(f"{head['date']}T{head['clock']}{suffix}", UTC)
    return None if stamp is None else str(epoch_micros(stamp))


def _fluent_bit_pieces(lines: Iterator[str]) -> Iterator[_Piece]:
    """Fluent Bit's stdout: each printed record read as the record it printed; its own log
    lines (`[2026/11/25 10:00:05] [ info] ...`) stay text."""
    for line in lines:
        printed = FLUENT_BIT_RECORD.match(line)
        if printed is None:
            if line.strip():
                yield _Piece(line, len(line))
            continue
        record = _printed_map(printed["body"])
        epoch = float(printed["time"] or printed["time2"])
        for piece in _walk(record, None, 0):
            piece.time = piece.time or from_epoch_micros(int(epoch * 1_000_000))
            yield piece


def _printed_map(body: str) -> dict:
    """The top-level string and number values of a map as msgpack_object_print writes it
    (`"key"=>"value", "n"=>5`); a nested value is not read."""
    keys = list(_FLUENT_BIT_KEY.finditer(body))
    record: dict = {}
    for found, after in itertools.zip_longest(keys, keys[1:]):
        value = body[found.end() : after.start() if after else len(body)]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            record.setdefault(found["key"], value[1:-1])
        elif is_decimal(value):
            record.setdefault(found["key"], int(value))
    return record


def _kmsg_as_dmesg(record: dict) -> dict:
    """A Fluent Bit kmsg record ({priority, sequence, sec, usec, msg}) with its message as
    dmesg prints it, `[    5.001000] msg`, so its kernel stamp is read with it."""
    sec, usec, msg = record.get("sec"), record.get("usec"), record.get("msg")
    if not (isinstance(sec, int) and isinstance(msg, str) and "sequence" in record):
        return record
    usec = usec if isinstance(usec, int) else 0
    text = msg.split("\n", 1)[0]  # dictionary lines (` SUBSYSTEM=...`) follow the message
    return dict(record, log=f"[{sec:5d}.{usec:06d}] {text}")


def _set_nested(record: dict, keys: list[str], value: str) -> None:
    """`host.name` -> record["host"]["name"]; a column that is a value already wins."""
    for key in keys[:-1]:
        inner = record.setdefault(key, {})
        if not isinstance(inner, dict):
            return
        record = inner
    record.setdefault(keys[-1], value)


def _value_pieces(text: str) -> Iterator[_Piece]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        yield from (_Piece(line, len(line)) for line in text.split("\n"))
        return
    yield from _walk(value, None, 0)


def _opens_json(first: str) -> bool:
    if first.startswith("{"):
        return not (first.endswith("}") and '"MESSAGE"' in first)  # journal JSON: read as is
    return first == "[" or first.startswith(("[{", "[ {", '["'))


def _is_quoted_printable(head: list[str]) -> bool:
    if any(line.strip().casefold() == QP_HEADER for line in head):
        return True
    escapes = sum(len(QP_ESCAPE.findall(line)) for line in head if "=" in line)
    if escapes < 2 or not any(QP_MARK.search(line) for line in head if "=" in line):
        return False
    if any(line.rstrip().endswith("=") for line in head):
        return True  # a soft break
    # a body whose lines are all short enough for none: its `=` escapes alone (a kernel
    # header holds three, `gfp_mask=3D0xcc0(GFP_KERNEL), order=3D0, oom_score_adj=3D0`)
    return sum(line.count("=3D") for line in head) >= QP_EQUALS_ALONE


def _depth_change(line: str) -> int:
    bare = _JSON_STRING.sub("", line) if '"' in line else line
    return bare.count("{") + bare.count("[") - bare.count("}") - bare.count("]")


def _qp_decoded(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """Quoted-printable (RFC 2045): `=XX` escapes; a `=` ending a line is a soft break."""
    held: list[str] = []
    size = 0
    for piece in pieces:
        line = piece.text.rstrip(" \t")  # transport padding before a soft break
        if line.endswith("=") and size + len(line) < MAX_LINE_CHARS:
            held.append(line[:-1])
            size += len(line)
            continue
        text = "".join(held) + piece.text
        held, size = [], 0
        raw = binascii.a2b_qp(text.encode("utf-8", "surrogateescape"))
        decoded = raw.decode("utf-8", "replace")
        yield _Piece(decoded, len(decoded), piece.host, piece.time)
    if held:
        decoded = binascii.a2b_qp("".join(held).encode("utf-8", "surrogateescape"))
        yield _Piece(decoded.decode("utf-8", "replace"), 0)


def _has_html_markup(head: list[str]) -> bool:
    tagged = [line for line in head if "<" in line]
    return any(HTML_LINE_START.match(line) for line in tagged) or (
        sum(1 for line in tagged if HTML_LINE_END.search(line)) >= 2
    )


def _html_untagged(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """A page's lines without its tags: a break tag ends a line, and a line that held only
    tags (`<pre>` above the log) is no line."""
    for piece in pieces:
        if "<" not in piece.text:
            yield piece
            continue
        for part in HTML_BREAK.split(piece.text):
            text = HTML_TAG.sub("", part)
            if text.strip():
                yield replace(piece, text=text, width=len(text))


def _bbcode_untagged(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """The text as the author marked it, without the forum's tags, as wide as it was."""
    for piece in pieces:
        if "[" in piece.text:
            text = BBCODE_TAG.sub("", piece.text)
            piece.width -= len(piece.text) - len(text)
            piece.text = text
        yield piece


def _html_unescaped(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """The text as written before a page escaped it, as wide as the medium wrapped it."""
    for piece in pieces:
        if "&" in piece.text:
            text = html.unescape(piece.text).replace(NO_BREAK_SPACE, " ")
            piece.width -= len(piece.text) - len(text)
            piece.text = text
        yield piece


def _spaced(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    for piece in pieces:
        if NO_BREAK_SPACE in piece.text:
            piece.text = piece.text.replace(NO_BREAK_SPACE, " ")
        yield piece


def _without_leads(pieces: Iterator[_Piece], leads: tuple[str, ...]) -> Iterator[_Piece]:
    for piece in pieces:
        lead = next((lead for lead in leads if piece.text.startswith(lead)), None)
        if lead is not None:
            piece.text = piece.text[len(lead) :]
            named = HOST_LEAD.fullmatch(lead)
            piece.host = piece.host or (host_field(named["host"]) if named else None)
        yield piece


def _number_layout(pieces: list[_Piece]) -> _NumberLayout | None:
    """The layout of line numbers that count up by one on at least _NUMBERS_TO_SEE lines, one
    after the other: a viewer numbers every line (`nl` leaves blank ones, `grep` writes `--`
    between its groups), so numbers with text between them (the pids that begin the wrapped
    rest of consecutive kill lines) are no line numbers."""
    layouts: Counter[_NumberLayout] = Counter()
    before = None
    for piece in pieces:
        found = LINE_NUMBER.match(piece.text)
        if found is None or not (found["mark"] or found["gap"]):
            if piece.text.strip() not in ("", "--"):
                before = None
            continue
        number = int(found["number"])
        if before is not None and number == before + 1:
            width = len(found["pad"]) + len(found["number"]) if found["pad"] else None
            layouts[_NumberLayout(width, bool(found["mark"]), found["gap"][:1])] += 1
        before = number
    if not layouts:
        return None
    layout, count = layouts.most_common(1)[0]
    # A short paste shows fewer numbers: marked ones (`1:`) on every line are enough.
    every_line = layout.marked and count == len(pieces) - 1
    return layout if count >= _NUMBERS_TO_SEE or every_line else None


def _unnumbered(pieces: Iterator[_Piece], layout: _NumberLayout) -> Iterator[_Piece]:
    """Pieces without the numbers of `layout`; numbers go up (`grep -n` skips lines, and
    only a layout with a width or a mark may skip: `2048 pages RAM` is no line number)."""
    before = -1
    for piece in pieces:
        found = LINE_NUMBER.match(piece.text)
        if found is not None and layout.of(found):
            number = int(found["number"])
            skips_ok = layout.width is not None or layout.marked
            if number == before + 1 or (number > before and (skips_ok or before < 0)):
                piece.text = piece.text[found.start("gap") + len(layout.gap) :]
                before = number
        yield piece


def _double_spaced(pieces: list[_Piece]) -> bool:
    """Whether a blank line follows nearly every line of text, on at least _SPACED_TO_SEE."""
    blank = [not piece.text.strip() for piece in pieces]
    while blank and blank[-1]:
        blank.pop()
    text = blank.count(False)
    if text < _SPACED_TO_SEE:
        return False
    followed = sum(1 for before, after in itertools.pairwise(blank) if not before and after)
    return followed + 1 >= text * 0.9  # the last line of text may end the head


def _string_literal_lines(pieces: list[_Piece]) -> bool:
    """Whether the log lines of the head are string literals: most lines that hold a prefix
    or report text, and at least _LITERALS_TO_SEE."""
    literals = sum(1 for piece in pieces if STRING_LITERAL.fullmatch(piece.text))
    text = sum(
        1 for piece in pieces if piece.text.strip() and not LIST_PUNCTUATION.fullmatch(piece.text)
    )
    return literals >= _LITERALS_TO_SEE and literals * 2 > text


def _unquoted_literals(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """The literals' text; the brackets that open and close their list are no lines."""
    for piece in pieces:
        found = STRING_LITERAL.fullmatch(piece.text)
        if found is not None:
            piece.text = _literal_text(found["body"], found["quote"])
        elif LIST_PUNCTUATION.fullmatch(piece.text):
            continue
        yield piece


def _literal_text(body: str, quote: str) -> str:
    """A literal's text, its escapes undone (`\\"`, `\\t`, `\\u00e9`); a trailing newline
    escape dropped. Text that is no valid literal stays as written."""
    if "\\" not in body:
        return body
    escaped = body.replace("\\'", "'").replace('"', '\\"') if quote == "'" else body
    try:
        text = orjson.loads(f'"{escaped}"')
    except orjson.JSONDecodeError:
        return body
    return text.rstrip("\n") if isinstance(text, str) else body


def _uncommented(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    for piece in pieces:
        found = COMMENT_MARKER.match(piece.text)
        if found is not None:
            piece.text = piece.text[found.end() :]
        yield piece


def _common_indent(pieces: list[_Piece]) -> str:
    """The blanks every line of text begins with, when there are at least _INDENTED_TO_SEE."""
    texts = [piece.text for piece in pieces if piece.text.strip()]
    if len(texts) < _INDENTED_TO_SEE:
        return ""
    indent = texts[0][: len(texts[0]) - len(texts[0].lstrip(" \t"))]
    for text in texts[1:]:
        while indent and not text.startswith(indent):
            indent = indent[:-1]
    return indent


def _dedented(pieces: Iterator[_Piece], indent: str) -> Iterator[_Piece]:
    for piece in pieces:
        if piece.text.startswith(indent):
            piece.text = piece.text[len(indent) :]
            piece.width = max(piece.width - len(indent), 0)
        yield piece


def _unmarked_blocks(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    for piece in pieces:
        text = piece.text
        if any(mark in text for mark in _MARK_CHARS):
            text = BLOCK_MARKER_AT_END.sub("", BLOCK_MARKER_AT_START.sub("", text, count=1))
            if not text.strip() and piece.text.strip():
                continue
            piece.text = text
        yield piece


def _unquoted(pieces: Iterator[_Piece]) -> Iterator[_Piece]:
    """Pieces without their quote markers. A marker alone before an unquoted piece is a
    quoted line the replying client broke right after its marker (the line did not fit
    beside it): no blank line, which would end the paragraph the piece goes on."""
    bare_marker: _Piece | None = None
    for piece in pieces:
        quoted = piece.text.lstrip()[:1] == ">"
        if bare_marker is not None:
            if quoted or not piece.text.strip():
                yield bare_marker
            bare_marker = None
        if quoted:
            piece.text = QUOTE_MARKERS.sub("", piece.text, count=1)
            if not piece.text.strip():
                bare_marker = piece
                continue
        yield piece
    if bare_marker is not None:
        yield bare_marker


def _walk(value: object, host: str | None, depth: int) -> Iterator[_Piece]:
    if depth > MAX_JSON_DEPTH:
        return
    if isinstance(value, list):
        for item in value:
            if depth == 0 and isinstance(item, str):  # a fixture's lines as a JSON array
                text = item.rstrip("\n")
                yield _Piece(text, len(text), host)
            else:
                yield from _walk(item, host, depth + 1)
        return
    if not isinstance(value, dict):
        return
    host = _host_of(value) or host
    value = _kmsg_as_dmesg(value)
    if isinstance(value.get("MESSAGE"), str | list):
        # journalctl -o json-pretty: one compact journal entry, read by the journal rule
        text = orjson.dumps(value).decode()
        yield _Piece(text, len(text))
        return
    for message in (*map(value.get, MESSAGE_KEYS), _inner(value, "event", "original")):
        if isinstance(message, str):
            text = message.rstrip("\n")
            yield _Piece(text, len(text), host, _time_of(value))
            return
    streams = value.get("values")
    if isinstance(value.get("stream"), dict) and isinstance(streams, list):
        yield from _loki_values(streams, _host_of(value["stream"]) or host)
        return
    for item in value.values():
        if isinstance(item, dict | list):
            yield from _walk(item, host, depth + 1)


def _loki_values(values: list, host: str | None) -> Iterator[_Piece]:
    """Loki query_range results: `"values": [["<unix ns>", "<line>"], ...]`."""
    for pair in values:
        if isinstance(pair, list) and len(pair) >= 2 and isinstance(pair[1], str):
            stamp = pair[0]
            time = from_epoch_micros(int(stamp) // 1000) if is_decimal(str(stamp)) else None
            yield _Piece(pair[1], len(pair[1]), host, time)


def _host_of(record: dict) -> str | None:
    """The host a record names: ECS `host.name`, `hostname`, Kubernetes node fields."""
    candidates = (
        record.get("host"),
        record.get("hostname"),
        record.get("_HOSTNAME"),
        _inner(record, "kubernetes", "host"),  # Fluent Bit kubernetes filter
        _inner(record, "source", "host"),  # Kubernetes events (node-problem-detector)
        record.get("node_name"),
        record.get("nodename"),
        record.get("Computer"),  # Azure Monitor
        record.get("HostName"),
        record.get("_sourcehost"),  # Sumo Logic
        _graylog_source(record),
        _inner(record, "labels", "compute.googleapis.com/resource_name"),  # Google Cloud
        _inner(record.get("resource"), "labels", "instance_id"),
    )
    for candidate in candidates:
        if isinstance(candidate, dict):
            candidate = candidate.get("name") or candidate.get("hostname")
        if isinstance(candidate, str) and candidate:
            return host_field(candidate)
    return None


def _graylog_source(record: dict) -> str | None:
    """Graylog names the host `source`; elsewhere a `source` is a file (Splunk) or a map."""
    source = record.get("source")
    if isinstance(source, str) and source and not any(c in source for c in "/\\ :"):
        return source
    return None


def _inner(record: object, outer: str, key: str) -> object:
    value = record.get(outer) if isinstance(record, dict) else None
    return value.get(key) if isinstance(value, dict) else None


def _time_of(record: dict) -> datetime | None:
    for key in TIME_KEYS:
        stamp = record.get(key)
        if isinstance(stamp, str) and is_decimal(stamp[:4]):
            return parse_iso(stamp, UTC)
        if isinstance(stamp, str) and (shown := KIBANA_DATE.fullmatch(stamp.strip())):
            return kibana_time(shown, UTC)
        if isinstance(stamp, str) and (shown := US_DATE.fullmatch(stamp.strip())):
            hour = int(shown["hour"]) % 12 + (12 if shown["half"] == "PM" else 0)
            date = f"{shown['year']}-{int(shown['mon']):02d}-{int(shown['day']):02d}"
            return parse_iso(f"{date}T{hour:02d}:{shown['rest']}", UTC)
    return None
