from datetime import UTC, datetime, timedelta, timezone

import pytest

from oom_enricher.sources.syslog_framing import (
    FramingError,
    StreamSplitter,
    parse_message,
    to_record,
)

NOW = datetime(2024, 1, 3, 12, 0, tzinfo=UTC)


def test_rfc3164_kernel_line_with_printk_stamp():
    m = parse_message(
        "<4>Oct 12 19:00:20 aks-1 kernel: [ 8523.347168] x invoked oom-killer:", now=NOW
    )
    assert (m.pri, m.host, m.app, m.procid, m.format) == (4, "aks-1", "kernel", None, "rfc3164")
    assert m.msg == "[ 8523.347168] x invoked oom-killer:"
    assert m.timestamp == datetime(2023, 10, 12, 19, 0, 20, tzinfo=UTC)  # year rolled back
    r = to_record(m, peer="10.1.1.1")
    assert r.fields["is_kernel"] is True and r.fields["facility"] == "kern"
    assert (r.host, r.tag) == ("aks-1", "kernel")


def test_rfc3164_space_padded_day_zone_and_pid():
    m = parse_message("<30>Jan  2 10:00:00 h1 systemd[1]: foo.service: killed", now=NOW,
                      zone=timezone(timedelta(hours=2)))  # fmt: skip
    assert m.timestamp == datetime(2024, 1, 2, 8, 0, tzinfo=UTC)
    assert (m.app, m.procid, m.msg) == ("systemd", "1", "foo.service: killed")
    r = to_record(m, peer=None)
    assert r.fields["is_kernel"] is False and r.fields["pid"] == 1


def test_rsyslog_forward_format_high_precision_stamp():
    m = parse_message("<6>2024-01-03T11:59:59.123456+01:00 node9 kernel: Out of memory", now=NOW)
    assert m.timestamp == datetime(2024, 1, 3, 10, 59, 59, 123456, tzinfo=UTC)
    assert (m.host, m.app, m.msg) == ("node9", "kernel", "Out of memory")


def test_rfc3164_without_host():
    m = parse_message("<13>Jan  3 11:00:00 my_ident: my_message", now=NOW)
    assert (m.host, m.app, m.msg) == (None, "my_ident", "my_message")


def test_rfc5424_with_structured_data_and_bom():
    sd = '[meta x="a\\]b" y="2"][o k="v"]'
    raw = f"<4>1 2024-01-03T10:00:00.5Z web-2 kernel - - {sd} \ufeffOOM here"
    m = parse_message(raw, now=NOW)
    assert (m.format, m.host, m.app, m.procid, m.msg) == (
        "rfc5424",
        "web-2",
        "kernel",
        None,
        "OOM here",
    )
    assert m.timestamp == datetime(2024, 1, 3, 10, 0, 0, 500000, tzinfo=UTC)
    nil = parse_message("<14>1 - - app 42 ID47 - hello", now=NOW)
    assert (nil.timestamp, nil.host, nil.app, nil.procid, nil.msg) == (
        None,
        None,
        "app",
        "42",
        "hello",
    )


def test_splitter_mixes_octet_counting_and_newlines_across_reads():
    s = StreamSplitter()
    wire = b"10 <4>a\nb c d" + b"<4>line one\n" + b"6 <4>xyz" + b"<4>tail\r\n"
    out = []
    for i in range(0, len(wire), 3):
        out += s.feed(wire[i : i + 3])
    assert out == [b"<4>a\nb c d", b"<4>line one", b"<4>xyz", b"<4>tail"]
    assert s.pending() == b""


def test_splitter_refuses_oversized():
    with pytest.raises(FramingError):
        StreamSplitter(max_message=100).feed(b"1000 <4>x")
    with pytest.raises(FramingError):
        StreamSplitter(max_message=100).feed(b"<4>" + b"x" * 200)
