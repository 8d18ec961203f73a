"""Kafka record values as ShippedRecords: what each shipper writes to a topic.

Recognised without configuration (`ENCODINGS` says how a value is told apart, `ADAPTERS`
which shipper's map is read how; the map itself then goes through `record_shapes.from_record`):

* the receiving tier of `serve` (sinks/kafka_sink.py): a msgpack map {"oom_enricher": 1,
  "message", "host", "time", "tag", "fields"}, the ShippedRecord its forward or syslog
  receiver made (`envelope()`);
* Fluent Bit `out_kafka`, `format json` (the default) or `msgpack`: the record map plus the
  record time under `timestamp_key` (`@timestamp` by default) as epoch seconds (`double`) or
  ISO 8601 (`iso8601`, `iso8601_ns`); `format raw` sends one field's text;
* Fluentd `fluent-plugin-kafka` (`out_kafka2`, `rdkafka2`), `<format> @type json` or `msgpack`:
  the record map, with `time` / `tag` only where an `<inject>` section adds them;
* Vector's `kafka` sink, `encoding.codec = "json"`: the log event. From the `journald` source,
  the journal fields under their own names plus `message`, `host`, `timestamp` (RFC 3339); from
  the `syslog` source `appname`, `hostname`, `facility` / `severity` as names, and `host` is
  the sender's address; from `file`, `message` is the whole syslog line;
* rsyslog `omkafka`: with the template in pipelines/rsyslog a JSON map {host, programname, pri,
  timereported, message}; with a stock template (RSYSLOG_ForwardFormat, ..._FileFormat) the
  syslog line itself;
* anything else: the value is one line of text.

A record without a host of its own takes the Kafka key (the topic is keyed by host).
Undecodable bytes survive as lone surrogates (`surrogateescape`), replaced only where a
document is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack
import orjson

from oom_enricher.model import ShippedRecord
from oom_enricher.sources.forward_codec import FrameError, unpack_bounded
from oom_enricher.sources.record_shapes import (
    FACILITIES,
    SEVERITIES,
    ShapeOptions,
    from_record,
    parse_time,
)

SOURCE = "kafka"
ENVELOPE = "oom_enricher"  # the receiving tier's marker key; its value is the format version
# Where shippers put the record time in the map they write to Kafka.
TIME_KEYS = ("@timestamp", "timestamp", "time", "timereported", "date")
VECTOR_SEVERITIES = {"warning": "warn", "error": "err", "critical": "crit", "emergency": "emerg"}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _json_map(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        # orjson refuses invalid UTF-8; the stdlib parser keeps the bytes as surrogates
        try:
            return json.loads(_text(value))
        except ValueError:
            return None


def _msgpack_map(value: bytes) -> Any:
    """The map of a msgpack value; None (read as text) when it is not one, or would decode
    into more objects than a forward request may."""
    try:
        return unpack_bounded(value, raw=False, unicode_errors="surrogateescape")
    except (ValueError, msgpack.UnpackException, FrameError):
        return None


def _is_msgpack_map(value: bytes) -> bool:
    return 0x80 <= value[0] <= 0x8F or value[0] in (0xDE, 0xDF)  # fixmap, map 16, map 32


def decode_value(value: bytes) -> dict | str:
    """The map a shipper wrote (JSON or msgpack), else the value as one line of text."""
    if not value:
        return ""
    if _is_msgpack_map(value):
        found = _msgpack_map(value)
        if isinstance(found, dict):
            return found
    elif value.lstrip()[:1] == b"{":
        found = _json_map(value)
        if isinstance(found, dict):
            return found
    return _text(value).rstrip("\r\n")


# -- shipper adapters: (who writes it, does this map look like theirs, rewrite to a known shape)


def _is_vector_syslog(record: dict) -> bool:
    return record.get("source_type") == "syslog" and "appname" in record


def _vector_syslog(record: dict) -> dict:
    # Vector's `host` is the sender's address; `hostname` is the syslog HOSTNAME field.
    out = {k: v for k, v in record.items() if k not in ("host", "appname", "procid")}
    out["host"] = record.get("hostname") or record.get("host")
    out["ident"] = record.get("appname")
    if record.get("procid") is not None:
        out["pid"] = record["procid"]
    facility = record.get("facility")
    severity = VECTOR_SEVERITIES.get(record.get("severity"), record.get("severity"))
    if facility in FACILITIES and severity in SEVERITIES:
        out["pri"] = FACILITIES.index(facility) * 8 + SEVERITIES.index(severity)
    return out


@dataclass(frozen=True)
class Adapter:
    shipper: str
    matches: Callable[[dict], bool]
    rewrite: Callable[[dict], dict]


ADAPTERS = (Adapter("vector syslog source", _is_vector_syslog, _vector_syslog),)


def _event_time(record: dict) -> float | None:
    for key in TIME_KEYS:
        if key in record:
            when = parse_time(record[key])
            if when is not None:
                return when.timestamp()
    return None


def to_shipped(
    value: bytes | None,
    key: bytes | None,
    options: ShapeOptions | None = None,
) -> ShippedRecord | None:
    """One Kafka record as a ShippedRecord; None when it carries no message."""
    key_host = _text(key) if key else None
    decoded = decode_value(value or b"")
    opts = options or ShapeOptions()
    if isinstance(decoded, str):
        if not decoded.strip():
            return None
        return ShippedRecord(
            message=decoded, host=key_host, fields={"source": SOURCE, "peer": key_host}
        )
    if ENVELOPE in decoded:
        return _from_envelope(decoded, key_host)
    for adapter in ADAPTERS:
        if adapter.matches(decoded):
            decoded = adapter.rewrite(decoded)
            break
    return from_record(
        decoded, event_time=_event_time(decoded), peer=key_host, source=SOURCE, options=opts
    )


def _from_envelope(envelope: dict, key_host: str | None) -> ShippedRecord | None:
    message = envelope.get("message")
    if not isinstance(message, str):
        return None
    stamp = envelope.get("time")
    fields = envelope.get("fields")
    return ShippedRecord(
        message=message,
        host=envelope.get("host") or key_host,
        time=datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int | float) else None,
        tag=envelope.get("tag"),
        fields=dict(fields) if isinstance(fields, dict) else {"source": SOURCE},
    )


def envelope(record: ShippedRecord) -> bytes:
    """The receiving tier's value for one record: the ShippedRecord its receiver made, so a
    worker reads exactly what a single `serve` would have fed (bytes kept as surrogates)."""
    return msgpack.packb(
        {
            ENVELOPE: 1,
            "message": record.message,
            "host": record.host,
            "time": record.time.timestamp() if record.time is not None else None,
            "tag": record.tag,
            "fields": record.fields,
        },
        unicode_errors="surrogateescape",
        default=str,  # a field value msgpack has no type for keeps its text
    )
