"""Map the record maps real shippers send for kernel lines onto ShippedRecord.

Recognised without configuration (see shared reference `record-shapes.md`):
* Fluent Bit `kmsg`: {priority, sequence, sec, usec, msg}
* journald fields, from Fluent Bit `systemd` (also with strip_underscores / lowercase) and
  `journalctl -o json`: MESSAGE, _HOSTNAME, SYSLOG_IDENTIFIER, _TRANSPORT, PRIORITY, ...
* Fluent Bit stock syslog parsers and Fluentd `in_syslog` / `parser_syslog`:
  {pri?, time?, host?, ident, pid?, message}
* plain {"log": ...} (tail without parser, Docker) and {"message": ...}

Fields put into `ShippedRecord.fields` when the record carries them: `program` (syslog
ident / SYSLOG_IDENTIFIER, "kernel" for kmsg), `transport` ("kernel" for kernel records),
`priority` (level 0-7), `facility`, `seq` (kmsg sequence), `monotonic_usec` (since boot),
`boot_id`, `pid`, `source`, `peer`, and `is_kernel` (True / False / None = unknown), which
the line normalizer reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from oom_enricher.counters import Counters
from oom_enricher.model import ShippedRecord
from oom_enricher.sources.epoch import epoch_seconds

MESSAGE_KEYS = ("message", "msg", "log", "MESSAGE", "_MESSAGE", "unmatched_line")
HOST_KEYS = (
    "host",
    "hostname",
    "_HOSTNAME",
    "HOSTNAME",
    "_hostname",
    "syslog_hostname",
    "source_host",
)
IDENT_KEYS = ("ident", "SYSLOG_IDENTIFIER", "syslog_identifier", "program", "programname")
SEVERITIES = ("emerg", "alert", "crit", "err", "warn", "notice", "info", "debug")
_FACILITY_NAMES = (
    "kern user mail daemon auth syslog lpr news uucp cron authpriv ftp ntp security console "
    "solaris-cron local0 local1 local2 local3 local4 local5 local6 local7"
)
FACILITIES = tuple(_FACILITY_NAMES.split())


@dataclass(frozen=True)
class ShapeOptions:
    """User overrides: explicit keys win over the recognised shapes."""

    message_key: str | None = None
    host_key: str | None = None
    time_key: str | None = None
    # For records without a host: "peer" (connection address / client hostname from the
    # handshake), "tag" (the forward tag), or "none".
    host_fallback: str = "peer"
    # Messages longer than this are cut (printk lines are at most 1 KiB); None: no cut.
    max_message: int | None = None


def _text(value: Any) -> str | None:
    """journald JSON quirks: arrays for repeated fields, arrays of byte numbers for binary."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list) and value:
        if all(isinstance(v, int) and 0 <= v < 256 for v in value):
            return bytes(value).decode("utf-8", "replace")
        return _text(value[0])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    if type(value) is int:  # the common case, first
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _lookup(record: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in record:
            return record[key]
    return None


def _nested(record: dict, dotted: str) -> Any:
    if dotted in record:
        return record[dotted]
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds / ms / µs / ns (by magnitude) or an ISO 8601 string, as UTC; None when
    there is none, or it is not finite ("inf", "nan") or out of range (1e20, 400 digits)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(value)
    text = _text(value)
    if text is None:
        return None
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # year 1 or 9999 pushed past the range by its zone
        return None
    return parsed if epoch_seconds(parsed.timestamp()) is not None else None


def _from_epoch(value: float) -> datetime | None:
    seconds = epoch_seconds(value)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def from_record(
    record: dict,
    *,
    event_time: float | None = None,
    tag: str | None = None,
    peer: str | None = None,
    source: str = "forward",
    options: ShapeOptions | None = None,
    counters: Counters | None = None,
) -> ShippedRecord | None:
    """One shipper record as a ShippedRecord; None when the record carries no message.

    A time field that is there but unusable falls back to `event_time` (the shipper's or
    the receive time), counted as `errors_total{kind="bad_time"}` in `counters`."""
    opts = options or ShapeOptions()
    fields: dict[str, Any] = {"source": source}
    if peer:
        fields["peer"] = peer
    message = _message(record, opts, fields)
    if message is None:
        return None
    if opts.max_message is not None and len(message) > opts.max_message:
        message = message[: opts.max_message]
        if counters is not None:
            counters.inc("errors", {"source": source, "kind": "long_line"})
    host = _text(_nested(record, opts.host_key)) if opts.host_key else None
    if host is None and not opts.host_key:
        raw_host = _lookup(record, HOST_KEYS)
        if isinstance(raw_host, dict):  # ECS style {"host": {"name": ...}}
            raw_host = raw_host.get("name") or raw_host.get("hostname")
        host = _text(raw_host)
        if host is not None:
            host = host.rstrip(":") or None  # Fluent Bit rfc3164 misparse keeps "name:"
    if host is None:
        if opts.host_fallback == "peer":
            host = peer
        elif opts.host_fallback == "tag":
            host = tag
    when = _record_time(record, opts, source, counters)
    if when is None and event_time is not None:
        when = _from_epoch(event_time)
    if fields.get("transport") != "kernel" or "seq" not in fields:
        # Everything but the Fluent Bit kmsg shape, which _message() read completely.
        _journal_fields(record, fields)
        _syslog_fields(record, tag, fields)
    fields["is_kernel"] = kernel_origin(fields)
    return ShippedRecord(message=message, host=host, time=when, tag=tag, fields=fields)


def _record_time(
    record: dict, opts: ShapeOptions, source: str, counters: Counters | None
) -> datetime | None:
    candidates = []
    if opts.time_key:
        candidates.append(_nested(record, opts.time_key))
    if "__REALTIME_TIMESTAMP" in record:
        raw = record["__REALTIME_TIMESTAMP"]
        candidates.append(raw if (number := _int(raw)) is None else number)
    for value in candidates:
        if value is None:
            continue
        when = parse_time(value)
        if when is not None:
            return when
        if counters is not None:
            counters.inc("errors", {"source": source, "kind": "bad_time"})
    return None


def kernel_origin(fields: dict) -> bool | None:
    """True for kernel-transport records, False for a named userspace program, else None."""
    transport = fields.get("transport")
    if transport is not None:
        return transport == "kernel"
    program = fields.get("program")
    if program is not None:
        return program == "kernel"
    return None


def _message(record: dict, opts: ShapeOptions, fields: dict) -> str | None:
    if opts.message_key:
        return _text(_nested(record, opts.message_key))
    if "msg" in record and "sequence" in record:
        # Fluent Bit kmsg: dictionary lines (" SUBSYSTEM=...") follow an embedded newline.
        text = _text(record["msg"]) or ""
        fields.update(program="kernel", transport="kernel")
        if (seq := _int(record.get("sequence"))) is not None:
            fields["seq"] = seq
        if (prio := _int(record.get("priority"))) is not None:
            fields["priority"] = prio & 7
        sec, usec = _int(record.get("sec")), _int(record.get("usec"))
        if sec is not None:
            fields["monotonic_usec"] = sec * 1_000_000 + (usec or 0)
        return text.split("\n", 1)[0]
    for key in MESSAGE_KEYS:
        if key in record:
            return _text(record[key])
    lowered = {str(k).lower().lstrip("_"): v for k, v in record.items()}
    if "message" in lowered:
        return _text(lowered["message"])
    return None


JOURNAL_HINTS = frozenset(
    k.lower().lstrip("_")
    for k in (
        "_TRANSPORT",
        "PRIORITY",
        "_SOURCE_MONOTONIC_TIMESTAMP",
        "_BOOT_ID",
        "SYSLOG_FACILITY",
    )
)


def _journal_fields(record: dict, fields: dict) -> None:
    lowered = {str(k).lower().lstrip("_"): v for k, v in record.items()}
    if JOURNAL_HINTS.isdisjoint(lowered) and "__CURSOR" not in record:
        return
    if (transport := _text(lowered.get("transport"))) is not None:
        fields["transport"] = transport
    if (prio := _int(lowered.get("priority"))) is not None and "priority" not in fields:
        fields["priority"] = prio & 7
    if (mono := _int(lowered.get("source_monotonic_timestamp"))) is not None:
        fields["monotonic_usec"] = mono
    if (boot := _text(lowered.get("boot_id"))) is not None:
        fields["boot_id"] = boot
    if (seq := _int(record.get("__SEQNUM"))) is not None and "seq" not in fields:
        fields["journal_seqnum"] = seq
    if (cursor := _text(record.get("__CURSOR"))) is not None:
        fields["cursor"] = cursor
    if (facility := _int(lowered.get("syslog_facility"))) is not None:
        fields["facility"] = FACILITIES[facility] if facility < len(FACILITIES) else facility


def _syslog_fields(record: dict, tag: str | None, fields: dict) -> None:
    ident = _text(_lookup(record, IDENT_KEYS))
    if ident and "program" not in fields:
        fields["program"] = ident
    if (pid := _int(record.get("pid"))) is not None:
        fields["pid"] = pid
    if (pri := _int(record.get("pri"))) is not None:
        fields["priority"] = pri & 7
        fields.setdefault(
            "facility", FACILITIES[pri >> 3] if pri >> 3 < len(FACILITIES) else pri >> 3
        )
    elif tag:
        # Fluentd in_syslog tags records <tag>.<facility>.<severity> and drops `pri`.
        parts = tag.rsplit(".", 2)
        if len(parts) == 3 and parts[1] in FACILITIES and parts[2] in SEVERITIES:
            fields.setdefault("facility", parts[1])
            fields.setdefault("priority", SEVERITIES.index(parts[2]))
    if fields.get("facility") == "kern" and fields.get("program") in (None, "kernel"):
        fields.setdefault("transport", "kernel")
