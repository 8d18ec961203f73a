"""Kafka record values shaped exactly as each shipper writes them, read without configuration."""

from datetime import UTC, datetime

import msgpack
import orjson
import pytest

from oom_enricher.model import ShippedRecord
from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.serve.config import ConfigError, from_dict
from oom_enricher.sources.kafka_records import decode_value, envelope, to_shipped

KILL = "Out of memory: Killed process 4242 (java) total-vm:123kB"
STAMPED = "[ 5000.123456] " + KILL
AT = datetime(2026, 9, 21, 10, 0, 0, 500000, tzinfo=UTC)

# Fluent Bit `kmsg` input + record_modifier hostname, out_kafka `format json` (the default):
# the record plus `@timestamp` (timestamp_key) as a double.
FLUENT_BIT_KMSG = {
    "@timestamp": AT.timestamp(),
    "priority": 6,
    "sequence": 1234,
    "sec": 5000,
    "usec": 123456,
    "msg": KILL,
    "hostname": "node-1",
}
# Fluent Bit `systemd` input (journald fields as named), timestamp_format iso8601_ns.
FLUENT_BIT_SYSTEMD = {
    "@timestamp": "2026-09-21T10:00:00.500000000Z",
    "_TRANSPORT": "kernel",
    "PRIORITY": "3",
    "SYSLOG_IDENTIFIER": "kernel",
    "_HOSTNAME": "node-1",
    "MESSAGE": KILL,
    "_SOURCE_MONOTONIC_TIMESTAMP": "5000123456",
    "_BOOT_ID": "b1",
}
# Fluentd in_tail with `<parse> @type syslog`, out_kafka2 `<format> @type json`, `<inject>`
# time_key time, time_type string, time_format %Y-%m-%dT%H:%M:%S.%NZ.
FLUENTD = {
    "host": "node-1",
    "ident": "kernel",
    "message": STAMPED,
    "time": "2026-09-21T10:00:00.500000Z",
}
# rsyslog omkafka with the template of pipelines/rsyslog/oom-enricher-kafka.conf.
RSYSLOG_JSON = {
    "timereported": "2026-09-21T10:00:00.500000+00:00",
    "host": "node-1",
    "programname": "kernel",
    "pri": "3",
    "message": " " + STAMPED,
}
# rsyslog omkafka with the stock RSYSLOG_SyslogProtocol23Format-like forward template.
RSYSLOG_LINE = ("<3>2026-09-21T10:00:00.500000+00:00 node-1 kernel: " + STAMPED).encode()
# Vector kafka sink, encoding.codec = "json", from the journald source.
VECTOR_JOURNALD = {
    "host": "node-1",
    "message": KILL,
    "timestamp": "2026-09-21T10:00:00.500Z",
    "source_type": "journald",
    "_TRANSPORT": "kernel",
    "PRIORITY": "3",
    "SYSLOG_IDENTIFIER": "kernel",
    "_BOOT_ID": "b1",
    "_SOURCE_MONOTONIC_TIMESTAMP": "5000123456",
}
# ... from the syslog source: `host` is the sender's address, `hostname` the syslog host.
VECTOR_SYSLOG = {
    "appname": "kernel",
    "facility": "kern",
    "host": "10.0.0.5",
    "hostname": "node-1",
    "message": STAMPED,
    "severity": "err",
    "source_type": "syslog",
    "timestamp": "2026-09-21T10:00:00.500Z",
}
# ... from the file source reading /var/log/kern.log.
VECTOR_FILE = {
    "file": "/var/log/kern.log",
    "host": "node-1",
    "message": "Sep 21 10:00:00 node-1 kernel: " + STAMPED,
    "source_type": "file",
    "timestamp": "2026-09-21T10:00:00.500Z",
}

# name: (the value as the shipper writes it, the record time, fields it must carry)
CASES = {
    "fluent_bit_kmsg_json": (orjson.dumps(FLUENT_BIT_KMSG), AT, {"seq": 1234, "priority": 6}),
    "fluent_bit_kmsg_msgpack": (msgpack.packb(FLUENT_BIT_KMSG), AT, {"seq": 1234}),
    "fluent_bit_systemd": (orjson.dumps(FLUENT_BIT_SYSTEMD), AT, {"boot_id": "b1"}),
    "fluentd_kafka2_json": (orjson.dumps(FLUENTD), AT, {"program": "kernel"}),
    "fluentd_kafka2_msgpack": (msgpack.packb(FLUENTD), AT, {"program": "kernel"}),
    "rsyslog_omkafka_json": (orjson.dumps(RSYSLOG_JSON), AT, {"facility": "kern", "priority": 3}),
    "rsyslog_omkafka_line": (RSYSLOG_LINE, None, {}),
    "vector_journald": (orjson.dumps(VECTOR_JOURNALD), AT, {"transport": "kernel"}),
    "vector_syslog": (orjson.dumps(VECTOR_SYSLOG), AT, {"facility": "kern", "priority": 3}),
    "vector_file": (orjson.dumps(VECTOR_FILE), AT, {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_shipper_value_becomes_one_kernel_line_of_its_host(name):
    value, when, fields = CASES[name]
    record = to_shipped(value, b"node-1")
    assert record is not None
    assert record.host == "node-1"
    assert record.time == when
    assert fields.items() <= record.fields.items()
    [line] = LineNormalizer().normalize_record(record)
    assert (line.host, line.message, line.is_kernel) == ("node-1", KILL, True)
    if value is RSYSLOG_LINE:
        assert line.timestamp == AT


def test_vector_syslog_takes_the_syslog_hostname_not_the_senders_address():
    record = to_shipped(orjson.dumps(VECTOR_SYSLOG), None)
    assert record.host == "node-1"


def test_plain_text_value_takes_its_host_from_the_key():
    record = to_shipped(b"[ 12.5] " + KILL.encode() + b"\n", b"node-7")
    assert (record.host, record.message) == ("node-7", "[ 12.5] " + KILL)


def test_non_utf8_bytes_survive_as_surrogates_in_json_msgpack_and_text():
    raw = b"comm \xff\xfe end"
    as_json = b'{"host":"h","log":"' + raw + b'"}'
    as_msgpack = msgpack.packb(
        {"host": "h", "log": raw.decode("utf-8", "surrogateescape")},
        unicode_errors="surrogateescape",
    )
    assert raw in as_msgpack
    for value in (as_json, as_msgpack, raw):
        record = to_shipped(value, b"h")
        assert record.message.encode("utf-8", "surrogateescape") == raw, value


def test_receiving_tier_envelope_round_trips_the_shipped_record():
    original = ShippedRecord(
        message="kernel: [ 1.0] bad \udcff byte",
        host="node-3",
        time=AT,
        tag="kern.oom",
        fields={"source": "forward", "peer": "10.1.1.1", "is_kernel": None, "priority": 3},
    )
    assert to_shipped(envelope(original), b"node-3") == original


def test_empty_and_messageless_values_are_not_records():
    assert to_shipped(b"", b"h") is None
    assert to_shipped(b"{}", b"h") is None
    assert decode_value(b"{not json") == "{not json"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sources": {"kafka": {"topic": "t"}}}, "sources.kafka.bootstrap is required"),
        (
            {"sources": {"kafka": {"bootstrap": "b", "topic": "t"}, "forward": {}}},
            "cannot be combined",
        ),
        ({"sources": {"kafka": {"bootstrap": "b", "topic": "t", "grup": "g"}}}, "grup"),
        ({"sources": {"kmsg": {}}, "sinks": {"kafka": {"bootstrap": "b", "topic": "t"}}}, "relays"),
        (
            {
                "sources": {"forward": {}},
                "sinks": {"kafka": {"bootstrap": "b", "topic": "t"}, "stdout": {}},
            },
            "cannot be combined",
        ),  # fmt: skip
    ],
)
def test_kafka_configs_that_cannot_work_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(data)


def test_worker_and_receiving_tier_configs_are_accepted():
    worker = from_dict({"sources": {"kafka": {"bootstrap": "b:9092", "topic": "t", "group": "g"}}})
    assert worker.sources["kafka"]["group"] == "g"
    relay = from_dict(
        {"sources": {"forward": {}}, "sinks": {"kafka": {"bootstrap": "b:9092", "topic": "t"}}}
    )
    assert set(relay.sinks) == {"kafka"}


def test_msgpack_value_that_decodes_into_millions_of_objects_is_read_as_text():
    """A 2.5 MB msgpack map holding 2.5 million empty arrays would become 140 MB of lists:
    past the object budget it is not taken as a map (the value is one line of text, which
    the line limit then caps), and the record after it is read as before."""
    count = 2_500_000
    value = b"\x81\xa3msg\xdd" + count.to_bytes(4, "big") + b"\x90" * count
    assert isinstance(decode_value(value), str)
    assert decode_value(msgpack.packb(FLUENT_BIT_KMSG)) == FLUENT_BIT_KMSG
