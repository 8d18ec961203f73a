"""Line prefix rules: one regex per shape a kernel line arrives in, tried in order.

Each rule names the shippers or tools that write it. A rule turns the regex groups into
`PrefixFields`; the kernel message text is what remains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from oom_enricher.normalize.locale_time import dated_month, month_number
from oom_enricher.normalize.timestamps import (
    MONTHS,
    YearInference,
    from_epoch_micros,
    local_to_utc,
    parse_iso,
)


@dataclass(slots=True)
class PrefixFields:
    message: str
    rule: str
    host: str | None = None
    timestamp: datetime | None = None
    monotonic: float | None = None
    is_kernel: bool | None = None
    program: str | None = None
    seq: int | None = None


@dataclass(slots=True)
class PrefixContext:
    zone: tzinfo
    years: YearInference
    # The lines of one report share their second: convert each stamp once.
    recent_stamps: dict = field(default_factory=dict)

    def local_stamp(self, year: int, month: int, day: int, clock: str) -> datetime | None:
        key = (year, month, day, clock)
        stamp = self.recent_stamps.get(key)
        if stamp is None:
            if len(self.recent_stamps) > 1024:
                self.recent_stamps.clear()
            stamp = self.recent_stamps[key] = local_to_utc(year, month, day, clock, self.zone)
        return stamp


_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_SINCE_BEFORE = r"<\s*\d+\.\d+>"  # dmesg -d, journalctl -o short-delta: time since the one before
_DAY = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
# Some rsyslog templates (RHEL/CentOS 6) leave an empty field after it: `kernel: : msg`.
_TAG = r"(?P<tag>[^\s:\[\]]+)(?:\[(?P<pid>\d+)\])?: ?(?:: )?"
# A host field: never a printk stamp (`[ 5.000000] Pid: 1, comm: x` is no host and tag)
_HOST = r"(?P<host>[^\s\[]\S*)"
# The message after a syslog tag, with the printk stamp (and 4.18+ caller id) that raw kernel
# lines carry taken off in the same match: MONOTONIC_STAMP and PRINTK_CALLER, inline.
_STAMPED_MSG = (
    r"(?:\[\s*(?:\d{1,3}-)?(?P<mono>\d+\.\d+)(?:@\d+)?\] ?(?:\[\s*[TC]\d+\] ?)?)?(?P<msg>.*)"
)
# That part alone, matched from where a syslog prefix ends (`match(text, pos)`).
STAMPED_MSG = re.compile(_STAMPED_MSG, re.S)

# `<prio>,<seq>,<usec>,<flags>[,more];text` -- /dev/kmsg since 3.5, unknown comma fields ignored.
KMSG_RECORD = re.compile(r"(?P<prio>\d{1,4}),(?P<seq>\d+),(?P<usec>\d+),[^;]*;(?P<msg>.*)", re.S)
# Talos `talosctl dmesg`: `kern:     err: [2026-07-25T14:23:17.527285605Z]: msg`.
FACILITY_LEVEL_ISO = re.compile(
    r"(?P<facility>[a-z]+):\s*(?P<level>[a-z]+):\s*\[(?P<iso>\d{4}-\d\d-\d\dT[^\]]+)\]:\s?(?P<msg>.*)",
    re.S,
)
# `dmesg -x`: `kern  :warn  : ` before the dmesg stamp.
DMESG_FACILITY_LEVEL = re.compile(
    r"(?P<facility>[a-z]+)\s*:(?P<level>[a-z]+)\s*:\s(?P<rest>.*)", re.S
)
# RFC 5424: rsyslog RSYSLOG_SyslogProtocol23Format, syslog-ng syslog().
RFC5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+) ?\ufeff?(?P<msg>.*)",
    re.S,
)
# ISO-8601 stamp then host and tag: rsyslog high precision (RSYSLOG_FileFormat,
# RSYSLOG_ForwardFormat), journalctl -o short-iso / short-iso-precise.
_ISO_TS = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
ISO_SYSLOG = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<ts>" + _ISO_TS + r") " + _HOST + " " + _TAG + _STAMPED_MSG,
    re.S,
)
# The same with no host field (`2024-11-25 10:00:05 kernel: msg`, some templates and exports).
ISO_SYSLOG_NO_HOST = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<ts>"
    + _ISO_TS
    + r") +(?:"
    + _HOST
    + r"(?<!:) +)?"
    + _TAG
    + _STAMPED_MSG,
    re.S,
)
# An ISO stamp then the line as a program wrote it: `kubectl logs --timestamps`,
# `docker logs -t` (`2024-11-25T10:00:05.123456789Z [    5.000000] msg`); copied from a log
# viewer's table, with a blank or a tab between date and time and after the stamp (Grafana
# Explore `2024-11-25 10:00:05.123 msg`, CloudWatch `...05.123Z<TAB>msg`, ` UTC` in others).
ISO_STAMP = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r"(?: (?P<utc>UTC))?(?: |\t+)(?P<msg>.*)",
    re.S,
)
# Kibana's default `dateFormat` (`MMM D, YYYY @ HH:mm:ss.SSS`, 4.x+), as its CSV export and
# Discover's table write it; copied from the table, a tab or blanks then the message column
# (a kernel message, or the whole syslog line a shipper read).
KIBANA_DATE = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2}), (?P<year>\d{4}) @ "
    r"(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?)"
)
KIBANA_STAMP = re.compile(KIBANA_DATE.pattern + r"(?:\t+| +)(?P<msg>.*)", re.S)
# Kubernetes events as kubectl prints them (1.20+): node-problem-detector's kernel monitor
# copies the kernel line it saw into an event's message. `kubectl get events` (`-A` puts
# the namespace first): the event's age, type, reason, `kind/name` of its object (a node
# names the host), the message; `kubectl describe` (its Events: table): type, reason, age
# (`12m`, `3m (x2 over 5m)`), the source (`kernel-monitor`, before 1.20 `kernel-monitor, web1`).
_EVENT_AGE = r"(?:<unknown>|\d+[smhd](?:\d+[smhd])*(?: \(x\d+ over \S+\))?)"
KUBECTL_EVENT = re.compile(
    r"(?:[a-z0-9][-a-z0-9]*\s+)?" + _EVENT_AGE + r"\s+(?:Normal|Warning)\s+[A-Z]\w*\s+"
    r"(?P<kind>[a-z]+)/(?P<name>\S+)\s+(?P<msg>.*)",
    re.S,
)
KUBECTL_DESCRIBE_EVENT = re.compile(
    r"(?:Normal|Warning)\s+[A-Z]\w*\s+" + _EVENT_AGE + r"\s+"
    r"(?P<source>[a-z][-a-z0-9]*)(?:, (?P<host>\S+))?\s+(?P<msg>.*)",
    re.S,
)
# Loki's logcli query output (default mode): the stream's labels that are not common to
# all streams between the RFC 3339 stamp and the line, padded to one width; the line as it was
# shipped (a whole syslog line when promtail read a file).
LOGCLI = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<labels>\{(?:[A-Za-z_]\w*=\"(?:[^\"\\]|\\.)*\"(?:, )?)*\}) +(?P<msg>.*)",
    re.S,
)
LOKI_LABEL = re.compile(r'(?P<name>[A-Za-z_]\w*)="(?P<value>(?:[^"\\]|\\.)*)"')
LOKI_HOST_LABELS = ("host", "hostname", "node_name", "nodename")  # promtail, Alloy, k8s SD
# journalctl -o short-full and -o with-unit: `Tue 2024-11-25 10:00:05 UTC host
# kernel: msg`, the zone as an abbreviation.
JOURNAL_SHORT_FULL = re.compile(
    r"(?:" + _DAY + r") (?P<date>\d{4}-\d\d-\d\d) (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) "
    r"(?P<zone>[A-Za-z][A-Za-z0-9+-]{0,5}|[+-]\d\d:?\d\d) (?P<host>\S+) " + _TAG + _STAMPED_MSG,
    re.S,
)
# journalctl -o short-unix: `1732528805.123456 host kernel: msg` (seconds since the epoch).
JOURNAL_SHORT_UNIX = re.compile(
    r"(?P<epoch>\d{9,11}\.\d{6}) (?P<host>\S+) " + _TAG + _STAMPED_MSG, re.S
)
# A kernel tag with nothing before it (`kernel: [ 12.345678] msg`, a filtered copy).
KERNEL_TAG_ONLY = re.compile(r"kernel: " + _STAMPED_MSG, re.S)
# RFC 3164 / classic /var/log/syslog and /var/log/messages, journalctl -o short / short-precise;
# BusyBox syslogd writes the facility and level after the host (`web1 kern.warn kernel: `).
BSD_SYSLOG = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<mon>" + _MON + r") +(?P<day>\d{1,2}) "
    r"(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) "
    + _HOST
    + r" (?:[a-z]+[0-7]?\.[a-z]+ )?"
    + _TAG
    + _STAMPED_MSG,
    re.S,
)
# The same without a host field, as some exports and templates write it
# (`Nov 25 10:00:00 kernel: msg`), or with an empty one (`10:00:00  kernel:`). A host name
# never ends with the `:` of a tag, so `kernel: oom_reaper: ...` is no host and tag.
_BSD_HOST = r" +(?:" + _HOST + r"(?<!:) +)?"
BSD_SYSLOG_NO_HOST = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<mon>" + _MON + r") +(?P<day>\d{1,2}) "
    r"(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?)" + _BSD_HOST + _TAG + _STAMPED_MSG,
    re.S,
)
# moreutils `ts` in front of each line (`dmesg -w | ts`): `Oct 16 08:16:34 [  110] ...`, a
# stamp with neither host nor tag.
BSD_STAMP_ONLY = re.compile(
    r"(?P<mon>" + _MON + r") +(?P<day>\d{1,2}) (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) " + _STAMPED_MSG,
    re.S,
)
# Kernel lines that begin with a word and `: `, which a host-less syslog shape would take for
# a tag when a line carries a stamp alone (`Oct 16 08:16:34 CPU: 1 PID: 8 ...`).
_KERNEL_HEADS = frozenset(
    {"CPU", "Pid", "memory", "memory+swap", "swap", "kmem", "tcpmem", "Mem-Info", "Mem-info"}
    | {"oom_reaper", "Workqueue", "RIP", "RSP", "RAX", "RDX", "RBP", "R10", "R13", "Code"}
)
# Kernel lines that begin `Word word: `, which read as a syslog host and tag when a line
# carries a stamp alone (`Oct 16 08:16:34 Call Trace:`): the second word, then the first.
KERNEL_WORD_PAIRS = {"Trace": "Call", "name": "Hardware"}
# journalctl -o short under a non-English LC_TIME writes `%b` localized (`juin 20`, `12月 01`),
# and some templates lower-case it (`jun 20`): any month name of a glibc locale.
BSD_SYSLOG_LOCALIZED = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<mon>\S.{0,24}?) +(?P<day>\d{1,2}) "
    r"(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?)" + _BSD_HOST + _TAG + _STAMPED_MSG,
    re.S,
)
# OpenWrt `logread`: `Fri Aug  7 08:24:06 2026 kern.info kernel: [13579.902240] msg` (a ctime
# stamp with its year, then facility.level and the tag; no host field).
OPENWRT_LOGREAD = re.compile(
    r"(?:" + _DAY + r") (?P<mon>" + _MON + r") +(?P<day>\d{1,2}) (?P<clock>\d\d:\d\d:\d\d) "
    r"(?P<year>\d{4}) [a-z]+\.[a-z]+ " + _TAG + _STAMPED_MSG,
    re.S,
)
# A time of day alone before a printk stamp: moreutils `ts -s` / `ts '%H:%M:%S'` (`dmesg -w |
# ts`), a viewer's time column. No date: the printk stamp is the line's time.
CLOCK_BEFORE_STAMP = re.compile(
    r"\d\d:\d\d:\d\d(?:[.,]\d+)?[ \t]+(?=\[\s*\d+\.\d+\])(?P<msg>.*)", re.S
)
# runit's `svlogd -tt` (UTC, `_` between date and time), behind socklog's `facility.level: `:
# `2005-05-17_10:24:16.76726 kern.info: oom-killer: gfp_mask=0x80d2`.
SVLOGD = re.compile(
    r"(?P<date>\d{4}-\d\d-\d\d)_(?P<clock>\d\d:\d\d:\d\d\.\d+) "
    r"(?:(?P<facility>[a-z]+)\.[a-z]+: )?" + _STAMPED_MSG,
    re.S,
)
# `dmesg --time-format iso`: `2026-11-25T10:00:00,123456+00:00 msg` (util-linux writes a comma).
DMESG_ISO = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d+(?:[+-]\d\d:?\d\d)?) (?P<msg>.*)", re.S
)
# `journalctl -o short-monotonic`: `[  617.319540] host kernel: msg`; other programs carry a pid;
# `-o short-delta` adds the time since the entry before: `[  617.319540 <    0.000012>]`.
JOURNAL_MONOTONIC = re.compile(
    r"\[\s*(?P<mono>\d+\.\d+)(?: " + _SINCE_BEFORE + r")?\] (?P<host>[^\s:\[\]]+) "
    r"(?:(?P<ktag>kernel)|(?P<tag>[^\s:\[\]]+)\[\d+\]): ?(?P<msg>.*)",
    re.S,
)
# `dmesg -T`: `[Thu Aug 17 17:29:27 2023] msg` (local time of the host).
DMESG_HUMAN = re.compile(
    r"\[(?:" + _DAY + r") (?P<mon>" + _MON + r") +(?P<day>\d{1,2}) (?P<clock>\d\d:\d\d:\d\d)"
    r"(?:[.,]\d+)? (?P<year>\d{4})\] ?(?P<msg>.*)",
    re.S,
)
# `dmesg -T` under a non-English LC_TIME: `[mar. déc.  1 20:17:50 2026]`, `[火 12月  1 ...]`;
# the weekday and month names (which may hold spaces) are split by the locale table.
DMESG_HUMAN_LOCALIZED = re.compile(
    r"\[(?P<names>[^\d\s\]][^\]]*?) +(?P<day>\d{1,2}) (?P<clock>\d\d:\d\d:\d\d)"
    r"(?:[.,]\d+)? (?P<year>\d{4})\] ?(?P<msg>.*)",
    re.S,
)
# `dmesg -e` (--reltime, util-linux 2.26+): `[Jan25 15:28] msg` (local time) when the
# minute changes, then `[  +0.000007] msg` (the time since the record before).
DMESG_RELTIME_MINUTE = re.compile(
    r"\[(?P<mon>" + _MON + r")(?P<day>[ \d]?\d) (?P<clock>\d\d:\d\d)\] ?(?P<msg>.*)", re.S
)
DMESG_RELTIME_DELTA = re.compile(r"\[\s*\+\s*\d+\.\d+\] ?(?P<msg>.*)", re.S)
# `dmesg --time-format delta`: `[<    0.000012>] msg`, the time since the record before alone.
DMESG_DELTA = re.compile(r"\[" + _SINCE_BEFORE + r"\] ?(?P<msg>.*)", re.S)
# `dmesg -r` and serial consoles: `<6>[12345.678901] msg` (the level before the stamp).
DMESG_LEVEL = re.compile(r"<(?P<level>[0-7])>(?P<rest>\[\s*\d+\.\d+\].*)", re.S)
# Raw dmesg / console / printk time inside a syslog message: `[12345.678901] msg`; Amlogic
# vendor kernels (4.9-5.x) add the CPU: `[36822.664529@2] msg`, Samsung's ARM 4.1 puts it
# first: `[2-3219.1870] msg`; `dmesg -d` the time since the record before:
# `[12345.678901 <    0.000012>] msg`.
MONOTONIC_STAMP = re.compile(
    r"\[\s*(?:\d{1,3}-)?(?P<mono>\d+\.\d+)(?:@\d+| " + _SINCE_BEFORE + r")?\] ?(?P<msg>.*)",
    re.S,
)
# A printk stamp whose `[` was lost (an excerpt that starts inside the prefix, a copy that
# began one character late): `5193605.506728] msg`, the six digits of every kernel's stamp.
LOST_BRACKET_STAMP = re.compile(r"(?P<mono>\d+\.\d{6})\] (?P<msg>.*)", re.S)
# CONFIG_PRINTK_CALLER adds `[  T123]` or `[  C1]` after the stamp (4.18+).
PRINTK_CALLER = re.compile(r"\[\s*[TC]\d+\] ?(?P<msg>.*)", re.S)


def _kernel_tag(tag: str | None) -> bool:
    return tag == "kernel"


# Host fields that were redacted before a report was shared: `...`, `***`, `<node_name>`,
# `[hidden]`, `xxxx`, `REDACTED`. They name no host, so the lines join the stream of lines
# that name none (and `--host`), and the field never becomes part of the message.
_REDACTED_WORDS = {"redacted", "hidden", "masked", "anonymized", "anonymised", "removed"}
_REDACTED_FIRST = frozenset("xXrRhHmMaA")  # first letters of those words and of `xxxx`
_PLACEHOLDER_BRACKETS = ("<>", "[]", "{}", "()")


def host_field(text: str | None) -> str | None:
    if not text:
        return None
    first = text[0]
    if first.isalnum() and text[-1].isalnum():
        if first not in _REDACTED_FIRST:
            return text  # most real names: two character tests
        if (len(text) < 3 or text.strip("xX")) and text.casefold() not in _REDACTED_WORDS:
            return text
        return None
    if not any(ch.isalnum() for ch in text):
        return None
    if text[0] + text[-1] in _PLACEHOLDER_BRACKETS:
        return None
    return text


def _strip_monotonic(fields: PrefixFields) -> PrefixFields:
    # both stamps start with `[`: most messages need no regex
    match = MONOTONIC_STAMP.match(fields.message) if fields.message[:1] == "[" else None
    if match:
        fields.monotonic = float(match["mono"])
        fields.message = match["msg"]
        caller = PRINTK_CALLER.match(fields.message) if fields.message[:1] == "[" else None
        if caller:
            fields.message = caller["msg"]
    return fields


def _kmsg(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    prio = int(m["prio"])
    return PrefixFields(
        message=m["msg"],
        rule="kmsg",
        monotonic=int(m["usec"]) / 1_000_000,
        seq=int(m["seq"]),
        is_kernel=prio < 8,  # facility 0 is the kernel; userspace writes get facility >= 1
    )


def _facility_level_iso(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    return PrefixFields(
        message=m["msg"],
        rule="facility-level-iso",
        timestamp=parse_iso(m["iso"], ctx.zone),
        is_kernel=m["facility"] == "kern",
    )


def _rfc5424(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    app = None if m["app"] == "-" else m["app"]
    fields = PrefixFields(
        message=m["msg"],
        rule="rfc5424",
        host=None if m["host"] == "-" else host_field(m["host"]),
        timestamp=None if m["ts"] == "-" else parse_iso(m["ts"], ctx.zone),
        is_kernel=_kernel_tag(app) or int(m["pri"]) < 8,
        program=app,
    )
    return _strip_monotonic(fields)


def _monotonic(m: re.Match[str]) -> float | None:
    mono = m["mono"]
    return None if mono is None else float(mono)


def _tagged(m: re.Match[str], rule: str, timestamp: datetime | None) -> PrefixFields:
    """The fields of a shape with a host field (or none) and a tag before the message."""
    tag = m["tag"]
    return PrefixFields(
        m["msg"], rule, host_field(m["host"]), timestamp, _monotonic(m), _kernel_tag(tag), tag
    )


def _iso_syslog(m: re.Match[str], ctx: PrefixContext) -> PrefixFields | None:
    host = m["host"]
    if host is not None and (host[-1] == ":" or KERNEL_WORD_PAIRS.get(m["tag"]) == host):
        return None  # `… kernel: CPU: 1 ...`, `… Call Trace:`: no host field, or no tag either
    return _tagged(m, "iso-syslog", parse_iso(m["ts"], ctx.zone))


def _iso_stamp(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    zone = UTC if m["utc"] else ctx.zone
    fields = PrefixFields(message=m["msg"], rule="iso-stamp", timestamp=parse_iso(m["ts"], zone))
    return _strip_monotonic(fields)


def _clock_before_stamp(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    return _strip_monotonic(PrefixFields(message=m["msg"], rule="clock-stamp", is_kernel=True))


def _logcli(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    host, stamp = labels_host(m["labels"]), parse_iso(m["ts"], ctx.zone)
    return _relayed(m["msg"], "logcli", ctx, host, stamp)


def _relayed(
    message: str, rule: str, ctx: PrefixContext, host: str | None, stamp: datetime | None
) -> PrefixFields:
    """A viewer's or tool's columns before the line as it was shipped: the line's own prefix
    where it has one, the columns' host and time where it names none."""
    inner = match_prefix(message, ctx)
    if inner is None:
        return _strip_monotonic(PrefixFields(message, rule, host=host, timestamp=stamp))
    inner.rule = rule + "+" + inner.rule
    inner.host = inner.host or host
    inner.timestamp = inner.timestamp or stamp
    return inner


def kibana_time(m: re.Match[str], zone: tzinfo) -> datetime | None:
    month, day, year, clock = m.group("mon", "day", "year", "clock")
    if month not in MONTHS:
        return None
    return parse_iso(f"{year}-{MONTHS[month]:02d}-{int(day):02d}T{clock}", zone)


def _kibana_stamp(m: re.Match[str], ctx: PrefixContext) -> PrefixFields | None:
    stamp = kibana_time(m, ctx.zone)
    return None if stamp is None else _relayed(m["msg"], "kibana-stamp", ctx, None, stamp)


def _kubectl_event(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    host = host_field(m["name"]) if m["kind"] == "node" else None
    return PrefixFields(m["msg"], "kubectl-event", host=host, is_kernel=True)


def _kubectl_describe_event(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    host = host_field(m["host"]) if m["host"] else None
    return PrefixFields(m["msg"], "kubectl-describe-event", host=host, is_kernel=True)


def labels_host(labels: str) -> str | None:
    """The host a Loki label set (`{host="web1", job="syslog"}`) names, if any."""
    found = {m["name"]: m["value"] for m in LOKI_LABEL.finditer(labels)}
    return next((host_field(found[name]) for name in LOKI_HOST_LABELS if name in found), None)


def _iso_syslog_no_host(m: re.Match[str], ctx: PrefixContext) -> PrefixFields | None:
    return None if _no_host_or_tag(m) else _iso_syslog(m, ctx)


UTC_NAMES = frozenset({"UTC", "GMT", "Z", "UCT"})


def _journal_short_full(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    zone = m["zone"]
    # an abbreviation other than UTC's names no offset: the configured zone stands for it
    offset = zone if zone[0] in "+-" else ""
    suffix = "+00:00" if zone in UTC_NAMES else offset
    stamp = parse_iso(f"{m['date']}T{m['clock']}{suffix}", ctx.zone)
    return _tagged(m, "journal-short-full", stamp)


def _journal_short_unix(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    stamp = from_epoch_micros(int(m["epoch"].replace(".", "")))
    return _tagged(m, "journal-short-unix", stamp)


def _kernel_tag_only(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    return PrefixFields(m["msg"], "kernel-tag", None, None, _monotonic(m), True, "kernel")


def _dmesg_delta(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    return PrefixFields(message=m["msg"], rule="dmesg-delta", is_kernel=True)


def bsd_syslog_fields(m: re.Match[str], ctx: PrefixContext) -> PrefixFields | None:
    """The fields of a BSD_SYSLOG match, or None when its host field is none."""
    if m["host"][-1] == ":":
        return None  # `kernel: oom_reaper: ...`: no host field (BSD_SYSLOG_NO_HOST)
    if KERNEL_WORD_PAIRS.get(m["tag"]) == m["host"]:
        return None  # no host or tag at all (BSD_STAMP_ONLY)
    return _bsd_fields(m, ctx, MONTHS[m["mon"]])


def _bsd_syslog_no_host(m: re.Match[str], ctx: PrefixContext) -> PrefixFields | None:
    if _no_host_or_tag(m):
        return None
    return _bsd_fields(m, ctx, MONTHS[m["mon"]])


def _no_host_or_tag(m: re.Match[str]) -> bool:
    """A host-less shape's tag (and host) that are a kernel line's first words: the line
    carries a stamp alone (BSD_STAMP_ONLY)."""
    host, tag = m["host"], m["tag"]
    if host is not None:
        return KERNEL_WORD_PAIRS.get(tag) == host
    # `oom-kill:constraint=`, `active_anon:12`: a tag is followed by a space
    return tag in _KERNEL_HEADS or m.string[m.start("msg") - 1] == ":"


def _bsd_stamp_only(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    month, day = MONTHS[m["mon"]], int(m["day"])
    stamp = ctx.local_stamp(ctx.years.year_for(month, day, None), month, day, m["clock"])
    return PrefixFields(m["msg"], "stamp-only", None, stamp, _monotonic(m))


def _bsd_syslog_localized(m: re.Match[str], ctx: PrefixContext) -> PrefixFields | None:
    month = month_number(m["mon"])
    return None if month is None or _no_host_or_tag(m) else _bsd_fields(m, ctx, month)


def _bsd_fields(m: re.Match[str], ctx: PrefixContext, month: int) -> PrefixFields:
    # one call for the groups: this runs for every line of a syslog file that is read
    host_text, day_text, clock, tag, mono, message = m.group(
        "host", "day", "clock", "tag", "mono", "msg"
    )
    host = host_field(host_text)
    day = int(day_text)
    year = ctx.years.year_for(month, day, host)
    stamp = ctx.local_stamp(year, month, day, clock)
    monotonic = None if mono is None else float(mono)
    # message, rule, host, timestamp, monotonic, is_kernel, program (positional: cheaper)
    return PrefixFields(message, "bsd-syslog", host, stamp, monotonic, tag == "kernel", tag)


def _svlogd(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    facility = m["facility"]
    return PrefixFields(
        message=m["msg"],
        rule="svlogd",
        timestamp=parse_iso(f"{m['date']}T{m['clock']}Z", ctx.zone),
        monotonic=_monotonic(m),
        is_kernel=None if facility is None else facility == "kern",
    )


def _openwrt_logread(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    stamp = ctx.local_stamp(int(m["year"]), MONTHS[m["mon"]], int(m["day"]), m["clock"])
    tag = m["tag"]
    return PrefixFields(
        m["msg"], "openwrt-logread", None, stamp, _monotonic(m), tag == "kernel", tag
    )


def _dmesg_human(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    stamp = ctx.local_stamp(int(m["year"]), MONTHS[m["mon"]], int(m["day"]), m["clock"])
    return PrefixFields(message=m["msg"], rule="dmesg-T", timestamp=stamp, is_kernel=True)


def _dmesg_human_localized(m: re.Match[str], ctx: PrefixContext) -> PrefixFields | None:
    year, day = int(m["year"]), int(m["day"])
    month = dated_month(m["names"], year, day)
    if month is None:
        return None
    stamp = ctx.local_stamp(year, month, day, m["clock"])
    return PrefixFields(message=m["msg"], rule="dmesg-T", timestamp=stamp, is_kernel=True)


def _dmesg_reltime_minute(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    month, day = MONTHS[m["mon"]], int(m["day"])
    stamp = ctx.local_stamp(ctx.years.year_for(month, day, None), month, day, m["clock"] + ":00")
    return PrefixFields(message=m["msg"], rule="dmesg-reltime", timestamp=stamp, is_kernel=True)


def _dmesg_reltime_delta(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    # No time of its own: the minute printed before may be a line a reader skipped.
    return PrefixFields(message=m["msg"], rule="dmesg-reltime", is_kernel=True)


def _dmesg_iso(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    return PrefixFields(
        message=m["msg"], rule="dmesg-iso", timestamp=parse_iso(m["ts"], ctx.zone), is_kernel=True
    )


def _journal_monotonic(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    return PrefixFields(
        message=m["msg"],
        rule="journal-monotonic",
        host=host_field(m["host"]),
        monotonic=float(m["mono"]),
        is_kernel=m["ktag"] is not None,
        program=m["tag"],
    )


def _dmesg_lost_bracket(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    return PrefixFields(message=m["msg"], rule="dmesg", monotonic=float(m["mono"]), is_kernel=True)


def _dmesg_raw(m: re.Match[str], ctx: PrefixContext) -> PrefixFields:
    fields = PrefixFields(message=m.group(0), rule="dmesg", is_kernel=True)
    return _strip_monotonic(fields)


Rule = tuple[str, re.Pattern[str], Callable[[re.Match[str], PrefixContext], PrefixFields]]

_DIGITS = "0123456789"
_LOWER = "abcdefghijklmnopqrstuvwxyz"


class _AnyButBracket:
    """Start characters of localized month names: anything but the `[` of dmesg stamps."""

    def __contains__(self, first: str) -> bool:
        return first != "["


# Order matters: the most specific shapes first. The second column lists the characters a
# line can start with for the rule to match (its regex is anchored), a cheap first test.
RULES: tuple[tuple[str, object, re.Pattern[str], Callable], ...] = (
    ("kmsg", _DIGITS, KMSG_RECORD, _kmsg),
    ("facility-level-iso", _LOWER, FACILITY_LEVEL_ISO, _facility_level_iso),
    ("rfc5424", "<", RFC5424, _rfc5424),
    ("dmesg-iso", _DIGITS, DMESG_ISO, _dmesg_iso),
    ("iso-syslog", _DIGITS + "<", ISO_SYSLOG, _iso_syslog),
    ("iso-syslog-no-host", _DIGITS + "<", ISO_SYSLOG_NO_HOST, _iso_syslog_no_host),
    ("journal-short-unix", _DIGITS, JOURNAL_SHORT_UNIX, _journal_short_unix),
    ("logcli", _DIGITS, LOGCLI, _logcli),
    ("iso-stamp", _DIGITS, ISO_STAMP, _iso_stamp),
    ("svlogd", _DIGITS, SVLOGD, _svlogd),
    ("clock-stamp", _DIGITS, CLOCK_BEFORE_STAMP, _clock_before_stamp),
    ("bsd-syslog", "JFMASOND<", BSD_SYSLOG, bsd_syslog_fields),
    ("bsd-syslog-no-host", "JFMASOND<", BSD_SYSLOG_NO_HOST, _bsd_syslog_no_host),
    ("stamp-only", "JFMASOND", BSD_STAMP_ONLY, _bsd_stamp_only),
    ("kibana-stamp", "JFMASOND", KIBANA_STAMP, _kibana_stamp),
    ("kubectl-event", _DIGITS + _LOWER + "<", KUBECTL_EVENT, _kubectl_event),
    ("kubectl-describe-event", "NW", KUBECTL_DESCRIBE_EVENT, _kubectl_describe_event),
    ("openwrt-logread", "MTWFS", OPENWRT_LOGREAD, _openwrt_logread),
    ("journal-short-full", "MTWFS", JOURNAL_SHORT_FULL, _journal_short_full),
    ("kernel-tag", "k", KERNEL_TAG_ONLY, _kernel_tag_only),
    ("dmesg-T", "[", DMESG_HUMAN, _dmesg_human),
    ("dmesg-T-localized", "[", DMESG_HUMAN_LOCALIZED, _dmesg_human_localized),
    ("journal-monotonic", "[", JOURNAL_MONOTONIC, _journal_monotonic),
    ("dmesg", "[", MONOTONIC_STAMP, _dmesg_raw),
    # after the usual stamp, which none of them looks like: they cost its lines nothing
    ("dmesg-reltime-minute", "[", DMESG_RELTIME_MINUTE, _dmesg_reltime_minute),
    ("dmesg-reltime-delta", "[", DMESG_RELTIME_DELTA, _dmesg_reltime_delta),
    ("dmesg-delta", "[", DMESG_DELTA, _dmesg_delta),
    ("dmesg-lost-bracket", _DIGITS, LOST_BRACKET_STAMP, _dmesg_lost_bracket),
    # last: tried only by lines no other rule took (its names come from the locale table)
    ("bsd-syslog-localized", _AnyButBracket(), BSD_SYSLOG_LOCALIZED, _bsd_syslog_localized),
)


def _rules_by_first_character() -> dict[str, tuple]:
    """For each character a rule lists, the rules (in order) a line starting with it tries."""
    listed = {first for _, starts, _, _ in RULES if isinstance(starts, str) for first in starts}
    return {first: tuple(rule for rule in RULES if first in rule[1]) for first in listed}


_BY_FIRST = _rules_by_first_character()


def match_prefix(text: str, ctx: PrefixContext) -> PrefixFields | None:
    """The first rule that matches `text`, or None for a bare message."""
    first = text[:1]
    if first in _LOWER:
        decorated = DMESG_FACILITY_LEVEL.match(text)
        if decorated and decorated["rest"].startswith("["):
            inner = match_prefix(decorated["rest"], ctx)
            if inner is not None:
                inner.rule = "dmesg-x+" + inner.rule
                inner.is_kernel = decorated["facility"] == "kern"
                return inner
    if first == "<":
        leveled = DMESG_LEVEL.match(text)
        if leveled:
            inner = _dmesg_raw(MONOTONIC_STAMP.match(leveled["rest"]), ctx)
            inner.rule = "dmesg-r"
            return inner
    if not first:
        return None
    rules = _BY_FIRST.get(first)
    if rules is None:  # a character no rule lists: only rules taking any start can match
        rules = tuple(rule for rule in RULES if first in rule[1])
    for _, _, pattern, build in rules:
        m = pattern.match(text)
        if m:
            fields = build(m, ctx)
            if fields is not None:  # a localized rule whose names are in no locale
                return fields
    return None
