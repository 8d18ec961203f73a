"""Raw lines and shipped records -> `LogLine`s (host, UTC time, kernel message)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

import orjson

from oom_enricher.decimal_text import is_decimal
from oom_enricher.model import LogLine, ShippedRecord
from oom_enricher.normalize.multiline import (
    RSYSLOG_NEWLINE,
    may_be_glued,
    split_folded,
    split_glued,
)
from oom_enricher.normalize.prefix_rules import (
    BSD_SYSLOG,
    KERNEL_WORD_PAIRS,
    STAMPED_MSG,
    PrefixContext,
    PrefixFields,
    bsd_syslog_fields,
    host_field,
    match_prefix,
)
from oom_enricher.normalize.terminal_codes import is_pager_status, without_terminal_codes
from oom_enricher.normalize.timestamps import (
    MONTHS,
    YearInference,
    from_epoch_micros,
    zone_from_name,
)

# First characters of an RFC 3164 month name: such a line tries the BSD syslog rule first of
# all (prefix_rules.match_prefix), so matching it here first gives the same answer.
_MONTH_FIRST = frozenset("JFMASOND")


@dataclass(slots=True)
class NormalizeOptions:
    timezone: str | None = None  # zone of RFC 3164 and `dmesg -T` stamps; default UTC
    reference_time: datetime | None = None  # "now" for year inference; default the clock
    default_host: str | None = None  # host for lines that name none (`--host`)


# What an author put around a pasted line: markdown bold or code and quotes
# (`**Nov 25 10:00:00 h kernel: …**`, `"Nov 29 …`), or a line number (`#2 [Fri Apr 19 …] …`).
# A shipped record whose message is indented (a stack dump's words, the `...` the kernel
# prints after them): a kernel line of its own, where a file's indented line continues the
# line before it (rule `continuation`).
RECORD_INDENTED = "record-indented"
PASTED = "pasted"  # ShippedRecord field of a paste's piece: its lines are a paste's lines
_MARKUP = "*_`\"'"
_LINE_NUMBER = re.compile(r"#?\d{1,6}[:.)]?\s+")
_DECORATION_FIRST = frozenset(_MARKUP + "#0123456789")


def _undecorated(text: str) -> str | None:
    """The line inside its decoration, or None when it has none."""
    if text[0] in _MARKUP:
        return text.strip(_MARKUP)
    number = _LINE_NUMBER.match(text)
    return text[number.end() :] if number else None


class LineNormalizer:
    """Stateful: indented continuation lines inherit the previous line's host and time."""

    def __init__(self, options: NormalizeOptions | None = None) -> None:
        self.options = options or NormalizeOptions()
        zone: tzinfo = zone_from_name(self.options.timezone)
        # No reference time: the clock when each line is read (serve: its receive time).
        years = YearInference(reference=self.options.reference_time)
        self._ctx = PrefixContext(zone=zone, years=years)
        self._previous: LogLine | None = None
        self._stream: str | None = None  # the shipped stream (record host) being normalised
        self._previous_stream: str | None = None
        # (host field, month, day, clock) of the last line, its host and UTC stamp
        self._stamp_memo: tuple | None = None
        # (text, stamp key, tag) of the last syslog prefix parsed: see `_remember_prefix`
        self._syslog_prefix: tuple[str, tuple[str, str, str, str], str] | None = None

    def normalize(self, raw: str, stream_host: str | None = None) -> list[LogLine]:
        """One input line (newline already removed) -> one or more kernel lines.

        `stream_host` names the host a shipped record came from: an indented line continues
        the previous line only when that line came from the same host's stream.
        """
        self._stream = stream_host
        if "\x1b" in raw:
            raw = without_terminal_codes(raw)
        # valid for the next line only: any other line may infer a year in between
        memo, self._stamp_memo = self._stamp_memo, None
        prefix = self._syslog_prefix
        if (
            prefix is not None
            and raw.startswith(prefix[0])
            and not raw.startswith(": ", len(prefix[0]))  # the rule skips an empty field
        ):
            # The prefix of a syslog line read before (a report's lines share host and
            # second): the BSD rule would take the same groups from it (`_remember_prefix`).
            start = len(prefix[0])
            if raw.startswith("[", start):
                mono, message = STAMPED_MSG.match(raw, start).group("mono", "msg")
            else:
                mono, message = None, raw[start:]
            line = self._syslog_line(prefix[1], prefix[2], mono, message, raw, memo)
            if line is not None:
                return [line]
        if raw[:1] in _MONTH_FIRST:
            # The usual syslog line (`Nov 20 08:00:01 host kernel: [ 1.2] msg`): the rule the
            # table would try first for it, and its one kernel line built from the match.
            m = BSD_SYSLOG.match(raw)
            if m is not None:
                host_text, month, day_text, clock, tag, mono, message = m.group(
                    "host", "mon", "day", "clock", "tag", "mono", "msg"
                )
                stamp_key = (host_text, month, day_text, clock)
                line = self._syslog_line(stamp_key, tag, mono, message, raw, memo)
                if line is not None:
                    self._remember_prefix(m, raw, stamp_key, tag)
                    return [line]
                fields = bsd_syslog_fields(m, self._ctx)
                if fields is not None:
                    return self._emit(fields, raw)
        elif raw.startswith("{") and '"MESSAGE"' in raw:
            journal = self._from_journal_json(raw)
            if journal is not None:
                return journal
        text = raw.lstrip()
        fields = match_prefix(text, self._ctx) if text else None
        if fields is None and text[:1] in _DECORATION_FIRST:
            inner = _undecorated(text)
            fields = match_prefix(inner, self._ctx) if inner else None
        if fields is None:
            return self._bare(raw, stream_host)
        return self._emit(fields, raw)

    def normalize_record(self, record: ShippedRecord) -> list[LogLine]:
        """A shipper's record: its own host/time fill what the line prefix lacks."""
        lines: list[LogLine] = []
        for raw in record.message.split("\n") if "\n" in record.message else [record.message]:
            for line in self.normalize(raw.rstrip("\r"), stream_host=record.host):
                if line.rule == "continuation" and not record.fields.get(PASTED):
                    line.rule = RECORD_INDENTED  # the shipper's record, not a paste's piece
                if line.host is None:
                    line.host = record.host
                if line.timestamp is None:
                    line.timestamp = record.time
                if line.is_kernel is None and record.fields.get("is_kernel") is not None:
                    line.is_kernel = record.fields["is_kernel"]
                _kernel_stamps_from_fields(line, record.fields)
                lines.append(line)
        return lines

    def _syslog_line(
        self,
        stamp_key: tuple[str, str, str, str],
        tag: str,
        mono: str | None,
        message: str,
        raw: str,
        memo: tuple | None,
    ) -> LogLine | None:
        """What `_emit(bsd_syslog_fields(m), raw)` makes of a one-piece message with a host
        field, built in one step from the groups of the BSD_SYSLOG match `m` (this runs for
        almost every line read); None otherwise. `stamp_key` holds its host, month, day and
        clock groups.

        `memo` is what the line before took from the same host field and time, if it was read
        by this method: with a fixed reference time, inferring the same host's year for the
        same date right after doing so gives the same year and leaves the state as it was."""
        host_text = stamp_key[0]
        if (
            host_text[-1] == ":"
            or KERNEL_WORD_PAIRS.get(tag) == host_text
            or RSYSLOG_NEWLINE in message
            or "\n" in message
            or may_be_glued(message)
        ):
            return None
        if memo is not None and memo[0] == stamp_key:
            host, stamp = memo[1], memo[2]
            self._stamp_memo = memo  # kept again (there is a memo only with a fixed reference)
        else:
            _, month, day_text, clock = stamp_key
            host = host_field(host_text)
            day, month_number = int(day_text), MONTHS[month]
            ctx = self._ctx
            stamp = ctx.local_stamp(
                ctx.years.year_for(month_number, day, host), month_number, day, clock
            )
            if ctx.years.reference is not None:
                self._stamp_memo = (stamp_key, host, stamp)
        is_kernel = tag == "kernel"
        line = LogLine(
            message,
            host or self.options.default_host,
            stamp,
            None if mono is None else float(mono),
            is_kernel,
            None if is_kernel else tag,
            raw,
            None,
            "bsd-syslog",
        )
        self._previous, self._previous_stream = line, self._stream
        return line

    def _remember_prefix(
        self, m: re.Match[str], raw: str, stamp_key: tuple[str, str, str, str], tag: str
    ) -> None:
        """Keep the prefix of a BSD_SYSLOG match, up to where its printk stamp and message
        start, with the groups taken from it. A line starting with the same text gets the
        same groups: every choice the regex makes in the prefix is settled by characters
        inside it, but for the optional space after the tag's `:`, so only a prefix that
        ends with that space is kept (the one after `kernel:` could be the message's)."""
        mono_start = m.start("mono")
        start = m.start("msg") if mono_start == -1 else raw.rfind("[", 0, mono_start)
        if raw[start - 2 : start] == ": ":
            self._syslog_prefix = (raw[:start], stamp_key, tag)

    def _emit(self, fields: PrefixFields, raw: str) -> list[LogLine]:
        pieces = split_folded(fields.message, from_kmsg=fields.rule == "kmsg")
        if len(pieces) == 1 and not may_be_glued(pieces[0]):
            texts: list[tuple[float | None, str]] = [(None, pieces[0])]  # almost every line
        else:
            texts = [found for piece in pieces for found in split_glued(piece)]
        host = fields.host or self.options.default_host
        program = None if fields.is_kernel else fields.program
        # Positional (the field order of LogLine): keywords double the cost of building it,
        # and this runs for every line read.
        lines = [
            LogLine(
                text,  # message
                host,
                fields.timestamp,
                fields.monotonic if mono is None else mono,
                fields.is_kernel,
                program,
                raw,
                fields.seq,
                fields.rule,
            )
            for mono, text in texts
        ]
        self._previous, self._previous_stream = lines[-1], self._stream
        return lines

    def _bare(self, raw: str, stream_host: str | None = None) -> list[LogLine]:
        if is_pager_status(raw):
            return []  # a page's end the copy took in: the next page goes on with the log
        previous = self._previous
        if (
            previous is not None
            and raw[:1] in (" ", "\t")
            and _has_prefix(previous)
            and (stream_host is None or self._previous_stream == stream_host)
        ):
            # dmesg/journalctl print the further lines of one record indented, unprefixed.
            line = LogLine(
                message=raw.strip(),
                host=previous.host,
                timestamp=previous.timestamp,
                monotonic=previous.monotonic,
                is_kernel=previous.is_kernel,
                program=previous.program,
                raw=raw,
                rule="continuation",
            )
            return [line]
        lines = [
            LogLine(message=text, host=self.options.default_host, monotonic=mono, raw=raw)
            for piece in split_folded(raw)
            for mono, text in split_glued(piece)
        ]
        self._previous, self._previous_stream = lines[-1], self._stream
        return lines

    def _from_journal_json(self, raw: str) -> list[LogLine] | None:
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(entry, dict):
            return None
        return self._journal_lines(entry, raw)

    def _journal_lines(self, entry: dict, raw: str) -> list[LogLine]:
        message = _journal_text(entry.get("MESSAGE"))
        host = _journal_text(entry.get("_HOSTNAME")) or self.options.default_host
        realtime = _journal_text(entry.get("__REALTIME_TIMESTAMP"))
        mono = _journal_text(entry.get("_SOURCE_MONOTONIC_TIMESTAMP"))
        transport = _journal_text(entry.get("_TRANSPORT"))
        ident = _journal_text(entry.get("SYSLOG_IDENTIFIER"))
        is_kernel = transport == "kernel" or (transport is None and ident == "kernel")
        lines = [
            LogLine(
                message=piece,
                host=host,
                timestamp=from_epoch_micros(int(realtime)) if is_decimal(realtime) else None,
                monotonic=int(mono) / 1_000_000 if is_decimal(mono) else None,
                is_kernel=is_kernel,
                program=None if is_kernel else ident,
                raw=raw,
                rule="journal-json",
            )
            for piece in message.split("\n")
        ]
        self._previous, self._previous_stream = lines[-1], self._stream
        return lines

    def previous_line(self) -> LogLine | None:
        """The last line, which an indented line may still continue."""
        return self._previous

    def set_file_time(self, modified: datetime | None) -> None:
        """The modification time of the file being read: the latest its stamps can be.
        `--year` (a reference time in the options) wins over it."""
        if self.options.reference_time is None:
            self._ctx.years.reference = modified
            self._stamp_memo = None

    def stream_years(self) -> dict[str, tuple[int, int]]:
        """The (year, month) each host's stream is at, as year inference remembers it."""
        return self._ctx.years.per_host()

    def forget_previous(self) -> None:
        """After a skip over unread lines, the next indented line continues nothing seen."""
        self._previous = None

    def snapshot(self) -> dict:
        return {"years": self._ctx.years.snapshot()}

    def restore(self, state: dict) -> None:
        self._ctx.years.restore(state.get("years", {}))
        self._stamp_memo = None


def _kernel_stamps_from_fields(line: LogLine, fields: dict) -> None:
    """The kernel's own stamps a record carries beside its text (Fluent Bit kmsg `sequence`,
    `sec`/`usec`; journal `_SOURCE_MONOTONIC_TIMESTAMP`): ordering and `event.id` use them."""
    # An indented message is its own kernel record here, not the continuation of the last.
    own = line.rule in (None, RECORD_INDENTED)
    if isinstance(fields.get("monotonic_usec"), int) and (own or line.monotonic is None):
        line.monotonic = fields["monotonic_usec"] / 1_000_000
    if isinstance(fields.get("seq"), int) and (own or line.seq is None):
        line.seq = fields["seq"]


def _has_prefix(line: LogLine) -> bool:
    return line.host is not None or line.timestamp is not None or line.monotonic is not None


def _journal_text(value: object) -> str:
    """journalctl -o json: strings, arrays for repeated fields, byte arrays for binary."""
    if value is None:
        return ""
    if isinstance(value, list):
        if value and all(isinstance(item, int) for item in value):
            return bytes(value).decode("utf-8", "replace")
        return _journal_text(value[0]) if value else ""
    return str(value)
