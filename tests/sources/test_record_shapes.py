from datetime import UTC, datetime

from oom_enricher.sources.record_shapes import ShapeOptions, from_record

T = 1700000000.5


def test_fluent_bit_kmsg_record():
    rec = {"priority": 3, "sequence": 1814, "sec": 11706, "usec": 732233,
           "msg": "Out of memory: Killed process 1 (x)\n SUBSYSTEM=memory"}  # fmt: skip
    r = from_record(rec, event_time=T, tag="kmsg", peer="10.0.0.5")
    assert r.message == "Out of memory: Killed process 1 (x)"
    assert r.host == "10.0.0.5"
    assert r.time == datetime.fromtimestamp(T, UTC)
    assert r.fields["seq"] == 1814 and r.fields["priority"] == 3
    assert r.fields["monotonic_usec"] == 11706732233
    assert r.fields["is_kernel"] is True


def test_fluent_bit_systemd_record_plain_and_stripped_and_lowercased():
    base = {"_TRANSPORT": "kernel", "PRIORITY": "3", "SYSLOG_IDENTIFIER": "kernel",
            "_HOSTNAME": "node1", "_SOURCE_MONOTONIC_TIMESTAMP": "108101136410",
            "_BOOT_ID": "b" * 32, "MESSAGE": "oom-kill:constraint=CONSTRAINT_MEMCG"}  # fmt: skip
    stripped = {k[1:] if k.startswith("_") else k: v for k, v in base.items()}
    lowered = {k.lower(): v for k, v in base.items()}
    for rec in (base, stripped, lowered):
        r = from_record(rec, event_time=T, tag="host.unknown")
        assert (r.message, r.host) == ("oom-kill:constraint=CONSTRAINT_MEMCG", "node1"), rec
        assert r.fields["is_kernel"] is True
        assert r.fields["priority"] == 3
        assert r.fields["monotonic_usec"] == 108101136410
        assert r.fields["boot_id"] == "b" * 32


def test_journalctl_json_binary_message_and_realtime():
    rec = {"MESSAGE": list(b"caf\xc3\xa9"), "_HOSTNAME": "n", "_TRANSPORT": "kernel",
           "__REALTIME_TIMESTAMP": "1700000001000000", "__CURSOR": "s=1"}  # fmt: skip
    r = from_record(rec, source="journal")
    assert r.message == "café"
    assert r.time == datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC)
    assert r.fields["cursor"] == "s=1"


def test_fluentd_in_syslog_record_uses_tag_for_facility():
    rec = {"host": "web-1", "ident": "kernel", "message": "[ 12.5] oom_reaper: reaped"}
    r = from_record(rec, event_time=T, tag="system.kern.warn")
    assert r.host == "web-1"
    assert r.fields["facility"] == "kern" and r.fields["priority"] == 4
    assert r.fields["is_kernel"] is True


def test_fluent_bit_rfc3164_parser_misparse_and_userspace():
    rec = {"pri": "13", "host": "edsiper:", "ident": "my_ident", "pid": "", "message": "m"}
    r = from_record(rec, event_time=T)
    assert r.host == "edsiper"
    assert r.fields["program"] == "my_ident" and r.fields["is_kernel"] is False
    assert r.fields["facility"] == "user" and r.fields["priority"] == 5


def test_plain_log_and_host_fallbacks():
    rec = {"log": "Oct 12 19:00:20 h kernel: x"}
    assert from_record(rec, tag="t", peer="p").host == "p"
    assert (
        from_record(rec, tag="t", peer="p", options=ShapeOptions(host_fallback="tag")).host == "t"
    )
    assert (
        from_record(rec, tag="t", peer="p", options=ShapeOptions(host_fallback="none")).host is None
    )
    assert from_record(rec).fields["is_kernel"] is None


def test_user_overridden_keys():
    rec = {"payload": {"text": "hello"}, "node": "n7", "ts": "2024-05-01T10:00:00.5+02:00"}
    opts = ShapeOptions(message_key="payload.text", host_key="node", time_key="ts")
    r = from_record(rec, event_time=T, options=opts)
    assert (r.message, r.host) == ("hello", "n7")
    assert r.time == datetime(2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC)
    assert from_record({"log": "x"}, options=opts) is None


def test_ecs_host_object_and_epoch_millis_time_key():
    rec = {"message": "m", "host": {"name": "h1"}, "t": 1700000000123}
    r = from_record(rec, options=ShapeOptions(time_key="t"))
    assert r.host == "h1"
    assert r.time == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
