"""Syslog on the wire: RFC 6587 TCP framing and RFC 3164 / RFC 5424 message headers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from oom_enricher.decimal_text import is_decimal
from oom_enricher.model import ShippedRecord
from oom_enricher.sources.record_shapes import FACILITIES

_MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES.split(), 1)}

RFC5424 = re.compile(
    r"(?P<ver>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
)
BSD_STAMP = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<time>\d\d:\d\d:\d\d)(?:\.\d+)? "
)
ISO_STAMP = re.compile(r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) ")
TAG = re.compile(r"(?P<tag>[^\s\[\]:]{1,48})(?:\[(?P<pid>[^\]]*)\])?: ?")
HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*$")


class FramingError(Exception):
    pass


class StreamSplitter:
    """RFC 6587 on TCP: octet counting (`LEN SP MSG`) or LF-terminated, detected per message."""

    def __init__(self, max_message: int = 256 * 1024) -> None:
        self.max_message = max_message
        self._buf = bytearray()
        self.consumed = 0  # bytes taken out as messages: a change means a new frame began

    def feed(self, data: bytes) -> list[bytes]:
        before = len(self._buf) + len(data)
        try:
            return self._split(data)
        finally:
            self.consumed += before - len(self._buf)

    def _split(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while self._buf:
            first = self._buf[0]
            if 0x31 <= first <= 0x39:  # a non-zero digit starts an octet count
                space = self._buf.find(b" ", 0, 12)
                if space < 0:
                    if len(self._buf) >= 12:
                        raise FramingError("octet count without a following space")
                    break
                try:
                    length = int(self._buf[:space])
                except ValueError:
                    raise FramingError("bad octet count") from None
                if length > self.max_message:
                    raise FramingError(f"message of {length} bytes exceeds {self.max_message}")
                end = space + 1 + length
                if len(self._buf) < end:
                    break
                out.append(bytes(self._buf[space + 1 : end]))
                del self._buf[:end]
                continue
            newline = self._buf.find(b"\n")
            if newline < 0:
                if len(self._buf) > self.max_message:
                    raise FramingError(f"line longer than {self.max_message} bytes")
                break
            line = bytes(self._buf[:newline]).rstrip(b"\r")
            del self._buf[: newline + 1]
            if line.strip(b"\x00 "):
                out.append(line)
        return out

    def pending(self) -> bytes:
        return bytes(self._buf)

    @property
    def held(self) -> int:
        return len(self._buf)


@dataclass(slots=True)
class SyslogMessage:
    pri: int | None
    timestamp: datetime | None
    host: str | None
    app: str | None
    procid: str | None
    msg: str
    format: str  # rfc5424 | rfc3164 | bare


def _bsd_time(match: re.Match, now: datetime, zone: tzinfo) -> datetime | None:
    try:
        hh, mm, ss = (int(x) for x in match["time"].split(":"))
        local = datetime(now.year, MONTHS[match["mon"]], int(match["day"]), hh, mm, ss, tzinfo=zone)
    except (KeyError, ValueError):
        return None
    # No year on the wire: a stamp far in the future is from last year (December in January).
    if local - now.astimezone(zone) > timedelta(days=2):
        local = local.replace(year=now.year - 1)
    return local.astimezone(UTC)


def _iso_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _skip_structured_data(rest: str) -> str:
    if rest.startswith("- "):
        return rest[2:]
    if rest == "-":
        return ""
    i = 0
    while i < len(rest) and rest[i] == "[":
        i += 1
        quoted = False
        while i < len(rest):
            c = rest[i]
            if c == "\\" and quoted:
                i += 2
                continue
            if c == '"':
                quoted = not quoted
            elif c == "]" and not quoted:
                break
            i += 1
        i += 1
    return rest[i:].removeprefix(" ")


def parse_message(raw: str, *, now: datetime | None = None, zone: tzinfo = UTC) -> SyslogMessage:
    now = now or datetime.now(UTC)
    pri: int | None = None
    rest = raw
    if rest.startswith("<"):
        close = rest.find(">", 1, 5)
        if close > 1 and is_decimal(rest[1:close]):
            pri = int(rest[1:close])
            rest = rest[close + 1 :]
    m = RFC5424.match(rest)
    if m and pri is not None and (m["ts"] == "-" or is_decimal(m["ts"][:4])):
        msg = _skip_structured_data(rest[m.end() :]).removeprefix("\ufeff")
        nil = {"-": None}
        return SyslogMessage(
            pri,
            None if m["ts"] == "-" else _iso_time(m["ts"]),
            nil.get(m["host"], m["host"]),
            nil.get(m["app"], m["app"]),
            nil.get(m["procid"], m["procid"]),
            msg,
            "rfc5424",
        )
    timestamp = None
    if (stamp := BSD_STAMP.match(rest)) is not None:
        timestamp = _bsd_time(stamp, now, zone)
        rest = rest[stamp.end() :]
    elif (stamp := ISO_STAMP.match(rest)) is not None:
        timestamp = _iso_time(stamp["ts"])
        rest = rest[stamp.end() :]
    host = None
    if stamp is not None:
        # A host precedes the tag unless the sender left it out (`<13>Oct 1 00:00:00 tag: m`).
        word, _, after = rest.partition(" ")
        if after and HOSTNAME.match(word) and not word.endswith(":") and "[" not in word:
            host, rest = word, after
    app = procid = None
    if (tag := TAG.match(rest)) is not None and (stamp is not None or pri is not None):
        app, procid, rest = tag["tag"], tag["pid"], rest[tag.end() :]
    return SyslogMessage(pri, timestamp, host, app, procid, rest, "rfc3164" if stamp else "bare")


def to_record(
    message: SyslogMessage, *, peer: str | None, host_fallback: str = "peer"
) -> ShippedRecord:
    fields: dict = {"source": "syslog", "format": message.format}
    if peer:
        fields["peer"] = peer
    if message.pri is not None:
        fields["priority"] = message.pri & 7
        facility = message.pri >> 3
        fields["facility"] = FACILITIES[facility] if facility < len(FACILITIES) else facility
    if message.app:
        fields["program"] = message.app
        fields["is_kernel"] = message.app == "kernel"
    elif message.pri is not None and message.pri >> 3 == 0:
        fields["is_kernel"] = True
    if message.procid and is_decimal(message.procid):
        fields["pid"] = int(message.procid)
    host = message.host or (peer if host_fallback == "peer" else None)
    return ShippedRecord(
        message=message.msg, host=host, time=message.timestamp, tag=message.app, fields=fields
    )
