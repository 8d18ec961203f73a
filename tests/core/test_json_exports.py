"""Kernel lines inside JSON: Elasticsearch / Kibana / Loki exports, journald, Kubernetes
events from node-problem-detector; JSON Lines or pretty-printed, one record or many."""

from __future__ import annotations

import csv
import io
import json

import pytest

from oom_enricher.normalize.pasted_text import PasteReader
from tests.core.pasted_reports import FACTS, REPORT, facts, read_every_way, stamped

EPOCH = 1795600805  # 2026-11-25T10:00:05Z


def es_hit(n: int, line: str) -> dict:
    return {
        "_index": ".ds-logs-system.syslog-default-2026.11.25-000001",
        "_id": f"id{n}",
        "_source": {
            "@timestamp": f"2026-11-25T10:00:05.{n:03d}Z",
            "host": {"name": "web1", "hostname": "web1"},
            "process": {"name": "kernel"},
            "message": line,
        },
    }


def only_facts(docs: list[dict]) -> dict:
    assert len(docs) == 1
    return facts(docs[0])


def test_elasticsearch_json_lines_with_bare_message(tmp_path, monkeypatch):
    text = "".join(json.dumps(es_hit(n, line)) + "\n" for n, line in enumerate(REPORT))
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == FACTS  # host from host.name, the line from message
    assert docs[0]["@timestamp"] == "2026-11-25T10:00:05.000000Z"


def test_ecs_documents_with_the_line_only_in_event_original(tmp_path, monkeypatch):
    """Elastic Agent / Filebeat with `preserve_original_event`, the message dropped or
    renamed by a pipeline: the line is in `event.original`. No report came out."""
    hits = []
    for n, line in enumerate(stamped()):
        hit = es_hit(n, line)
        source = hit["_source"]
        source["event"] = {"original": source.pop("message"), "dataset": "system.syslog"}
        hits.append(hit)
    docs = read_every_way(tmp_path, "".join(json.dumps(hit) + "\n" for hit in hits), monkeypatch)
    assert only_facts(docs) == FACTS


def test_kibana_search_response_pretty_printed(tmp_path, monkeypatch):
    hits = [es_hit(n, line) for n, line in enumerate(stamped())]
    response = {"took": 4, "timed_out": False, "hits": {"total": {"value": 13}, "hits": hits}}
    docs = read_every_way(tmp_path, json.dumps(response, indent=2) + "\n", monkeypatch)
    assert only_facts(docs) == FACTS


def test_loki_query_range_result(tmp_path, monkeypatch):
    values = [[str(EPOCH * 10**9 + n * 1000), line] for n, line in enumerate(REPORT)]
    result = {"stream": {"host": "web1", "job": "kernel"}, "values": values}
    body = {"status": "success", "data": {"resultType": "streams", "result": [result]}}
    docs = read_every_way(tmp_path, json.dumps(body, indent=1), monkeypatch)
    assert only_facts(docs) == FACTS
    assert docs[0]["@timestamp"] == "2026-11-25T10:00:05.000000Z"


def test_logcli_json_lines_with_line_field(tmp_path, monkeypatch):
    records = [{"labels": {"job": "syslog"}, "line": line} for line in stamped()]
    text = "".join(json.dumps(record) + "\n" for record in records)
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_journalctl_json_pretty_entries(tmp_path, monkeypatch):
    entries = [
        {
            "__REALTIME_TIMESTAMP": str(EPOCH * 10**6 + n),
            "_SOURCE_MONOTONIC_TIMESTAMP": str(5 * 10**6 + n * 1000),
            "_TRANSPORT": "kernel",
            "_HOSTNAME": "web1",
            "SYSLOG_IDENTIFIER": "kernel",
            "MESSAGE": line,
        }
        for n, line in enumerate(REPORT)
    ]
    text = "".join(json.dumps(entry, indent=8) + "\n" for entry in entries)
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_container_log_json_lines_with_log_field(tmp_path, monkeypatch):
    records = [{"log": line + "\n", "stream": "stdout"} for line in stamped()]
    text = "".join(json.dumps(record) + "\n" for record in records)
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_node_problem_detector_events(tmp_path, monkeypatch):
    kill = REPORT[-1]
    event = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": "node-1.187a", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "node-1"},
        "reason": "OOMKilling",
        "message": kill,
        "source": {"component": "kernel-monitor", "host": "node-1"},
        "firstTimestamp": "2026-11-25T10:00:05Z",
        "lastTimestamp": "2026-11-25T10:00:05Z",
        "count": 1,
        "type": "Warning",
    }
    listing = {"apiVersion": "v1", "kind": "List", "items": [event]}
    docs = read_every_way(tmp_path, json.dumps(listing, indent=4), monkeypatch)
    assert len(docs) == 1
    doc = docs[0]
    assert doc["host"]["name"] == "node-1"
    assert (doc["process"]["pid"], doc["process"]["name"]) == (101, "stress")
    assert doc["oom"]["victims"][0]["anon_rss_bytes"] == 93176 * 1024
    assert doc["oom"]["complete"] is False
    assert doc["@timestamp"] == "2026-11-25T10:00:05.000000Z"


KUBECTL_EVENTS = {
    "get events": (
        "LAST SEEN   TYPE      REASON       OBJECT        MESSAGE\n"
        "12m         Warning   OOMKilling   node/node-1   {kill}\n",
        "node-1",
    ),
    "get events -A": (
        "NAMESPACE   LAST SEEN   TYPE      REASON       OBJECT        MESSAGE\n"
        "default     3m (x2 over 5m)   Warning   OOMKilling   node/node-1   {kill}\n",
        "node-1",
    ),
    "describe node, before 1.20": (
        "Events:\n  Type     Reason      Age   From                    Message\n"
        "  ----     ------      ----  ----                    -------\n"
        "  Warning  OOMKilling  12m   kernel-monitor, node-1  {kill}\n",
        "node-1",
    ),
    "describe node": (
        "Events:\n  Type     Reason      Age   From            Message\n"
        "  ----     ------      ----  ----            -------\n"
        "  Warning  OOMKilling  12m   kernel-monitor  {kill}\n",
        None,
    ),
}


@pytest.mark.parametrize("printed", KUBECTL_EVENTS, ids=KUBECTL_EVENTS.keys())
def test_node_problem_detector_events_as_kubectl_prints_them(printed, tmp_path, monkeypatch):
    """The kill line an OOMKilling event copied, from kubectl's tables: the kill, and the
    node it names as the host (`node/node-1`, an old describe's `kernel-monitor, node-1`).
    The event's columns stood in front of the kill line, and the node was not the host."""
    table, host = KUBECTL_EVENTS[printed]
    (doc,) = read_every_way(tmp_path, table.format(kill=REPORT[-1]), monkeypatch)
    assert (doc["process"]["pid"], doc["process"]["name"]) == (101, "stress")
    assert doc["oom"]["victims"][0]["anon_rss_bytes"] == 93176 * 1024
    assert doc.get("host", {}).get("name") == host


def test_one_json_record_with_the_whole_report_in_message(tmp_path, monkeypatch):
    record = {"@timestamp": "2026-11-25T10:00:05Z", "message": "\n".join(stamped())}
    assert only_facts(read_every_way(tmp_path, json.dumps(record), monkeypatch)) == FACTS


def test_json_value_over_the_bound_is_refused_and_counted(monkeypatch):
    from oom_enricher.normalize import pasted_text

    monkeypatch.setattr(pasted_text, "MAX_JSON_CHARS", 200)
    reader = PasteReader()
    lines = ["[", *(json.dumps({"message": line}) + "," for line in stamped()), "{}", "]"]
    shape = reader.sniff(lines)
    assert shape.json
    assert list(reader.records(iter(lines), shape)) == []
    assert reader.stats.json_values_refused == 1


@pytest.mark.parametrize(
    "first",
    [
        '{"MESSAGE": "x", "_HOSTNAME": "a"}',  # journalctl -o json: read by the journal rule
        "[  123.456789] x invoked oom-killer: gfp_mask=0x0",  # dmesg, not a JSON array
    ],
)
def test_lines_that_only_look_like_json_are_not_json(first):
    assert not PasteReader().sniff([first]).json


def kibana_csv(rows: list[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    out.write('"@timestamp","host.name",message\n')  # Discover quotes the names it must
    writer.writerows(rows)
    return out.getvalue()


def test_kibana_discover_csv_export(tmp_path, monkeypatch):
    """Kibana Discover's CSV export: a row per document, the line in `message` (quoted where
    it holds commas or quotes), the host in `host.name`, the time as Kibana shows it."""
    rows = [(f"Nov 25, 2026 @ 10:00:05.{n:03d}", "web1", line) for n, line in enumerate(REPORT)]
    other = ("Nov 25, 2026 @ 10:00:05.500", "db2", 'systemd[1]: Started "backup", job 7.')
    docs = read_every_way(tmp_path, kibana_csv(rows[:4] + [other] + rows[4:]), monkeypatch)
    assert only_facts(docs) == FACTS
    assert docs[0]["@timestamp"] == "2026-11-25T10:00:05.000000Z"


def test_kibana_discover_rows_copied_as_tab_separated_text_newest_first(tmp_path, monkeypatch):
    """Discover's `Copy selection as text`: the column names, then a row per document with
    its values between tabs, unquoted (a kernel line's `"` is its own), newest first. It was
    no table: every row came out as text with the date in front, and no report."""
    rows = [(f"Nov 25, 2026 @ 10:00:05.{n:03d}", "web1", line) for n, line in enumerate(REPORT)]
    other = ("Nov 25, 2026 @ 10:00:05.500", "db2", 'systemd[1]: Started "backup", job 7.')
    rows = list(reversed(rows[:4] + [other] + rows[4:]))
    text = "@timestamp\thost.name\tmessage\n" + "".join("\t".join(row) + "\n" for row in rows)
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    assert facts(doc) == dict(FACTS, host="web1")
    assert doc["@timestamp"] == "2026-11-25T10:00:05.000000Z"


@pytest.mark.parametrize(
    "first",
    [
        "Nov 25 10:00:05 web1 kernel: [ 5.0] x, log, y",  # a kernel line with commas
        "Nov 25 10:00:05 web1 kernel: [ 5.0] x\tlog\ty",  # and with tabs
        "a,b,c",  # a table without a message column
    ],
)
def test_lines_that_only_look_like_csv_are_not_csv(first):
    assert not PasteReader().sniff([first]).csv


@pytest.mark.parametrize("mark", [",", "\t"])
def test_a_first_line_with_a_field_longer_than_csv_allows_is_no_table(mark):
    """A field over the csv module's limit (131,072 characters) in the first line raised
    out of the sniff: `parse` stopped with a traceback."""
    shape = PasteReader().sniff(["message" + mark + "x" * 200_000])
    assert not shape.csv


def _cursor(n: int) -> str:
    return f"s=6f1c0a2b9d8e4f7a8b1c2d3e4f5a6b7c;i={n + 4096:x};b=9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"


def test_journalctl_verbose_entries(tmp_path, monkeypatch):
    """journalctl -o verbose: a head line with the entry's time and cursor, then its fields
    indented; the host from _HOSTNAME, the kernel's stamp from _SOURCE_MONOTONIC_TIMESTAMP."""
    text = ""
    for n, line in enumerate(REPORT):
        text += f"Wed 2026-11-25 10:00:05.{n:06d} UTC [{_cursor(n)};m=4c4b40;t=5f0a;x=1f2e]\n"
        text += "    _TRANSPORT=kernel\n    PRIORITY=4\n    SYSLOG_IDENTIFIER=kernel\n"
        text += f"    _SOURCE_MONOTONIC_TIMESTAMP={5 * 10**6 + n * 1000}\n"
        text += "    _BOOT_ID=9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d\n    _HOSTNAME=web1\n"
        text += f"    MESSAGE={line}\n"
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == FACTS
    assert docs[0]["@timestamp"] == "2026-11-25T10:00:05.000000Z"


def test_journalctl_verbose_in_a_named_zone_keeps_every_fact(tmp_path, monkeypatch):
    """A zone abbreviation names no offset: the entries keep every fact but that time."""
    text = "".join(
        f"Wed 2026-11-25 11:00:05.{n:06d} CET [{_cursor(n)}]\n"
        f"    _TRANSPORT=kernel\n    _HOSTNAME=web1\n    MESSAGE={line}\n"
        for n, line in enumerate(REPORT)
    )
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_journalctl_export_entries(tmp_path, monkeypatch):
    """journalctl -o export: FIELD=value lines, a blank line after each entry, a binary
    field as its name alone on a line."""
    text = "".join(
        f"__CURSOR={_cursor(n)}\n__REALTIME_TIMESTAMP={EPOCH * 10**6 + n}\n"
        f"__MONOTONIC_TIMESTAMP={5 * 10**6 + n}\n_BOOT_ID=9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d\n"
        f"_TRANSPORT=kernel\nSYSLOG_IDENTIFIER=kernel\n_HOSTNAME=web1\nMESSAGE={line}\n"
        + ("COREDUMP_BLOB\n" if n == 3 else "")
        + "\n"
        for n, line in enumerate(REPORT)
    )
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == FACTS
    assert docs[0]["@timestamp"] == "2026-11-25T10:00:05.000000Z"


FLUENT_BIT_BANNER = (
    "Fluent Bit v4.2.0\n* Copyright (C) 2015-2025 The Fluent Bit Authors\n\n"
    "[2026/11/25 10:00:00] [ info] [engine] started (pid=4242)\n"
    "[2026/11/25 10:00:00] [ info] [output:stdout:stdout.0] worker #0 started\n"
)


def test_fluent_bit_stdout_of_kmsg_records(tmp_path, monkeypatch):
    """Fluent Bit's stdout output (format msgpack) of kmsg records, 2.1+ layout with the
    event's metadata: each printed map read as the record, sec/usec as the kernel stamp."""
    text = FLUENT_BIT_BANNER + "".join(
        f'[{n}] kern: [[{EPOCH}.{n:09d}, {{}}], {{"priority"=>4, "sequence"=>{700 + n}, '
        f'"sec"=>5, "usec"=>{n * 1000}, "msg"=>"{line}"}}]\n'
        for n, line in enumerate(REPORT)
    )
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert len(docs) == 1
    assert facts(docs[0]) == dict(FACTS, host=None)  # kmsg records name no host
    assert docs[0]["@timestamp"] == "2026-11-25T10:00:05.000000Z"


def test_fluent_bit_stdout_of_tail_records(tmp_path, monkeypatch):
    """The 1.x layout, `[0] tag: [time, {map}]`, of tail records holding syslog lines."""
    text = FLUENT_BIT_BANNER + "".join(
        f'[{n}] syslog: [{EPOCH}.{n:09d}, {{"log"=>"{line}"}}]\n'
        for n, line in enumerate(stamped())
    )
    assert only_facts(read_every_way(tmp_path, text, monkeypatch)) == FACTS


def test_a_journal_entry_that_never_ends_stays_bounded():
    """`-o export` fields with no blank line between entries: one entry takes at most
    MAX_JOURNAL_FIELDS of them (a hostile file cannot grow it), and its message is kept."""
    from oom_enricher.normalize import pasted_text

    lines = [f"__CURSOR={_cursor(0)}", "MESSAGE=" + REPORT[0]]
    lines += [f"FIELD_{n}=x" for n in range(100_000)]
    reader = PasteReader()
    (record,) = list(reader.records(lines, reader.sniff(lines)))
    entry = json.loads(record.message)
    assert len(entry) == pasted_text.MAX_JOURNAL_FIELDS
    assert entry["MESSAGE"] == REPORT[0]


def test_fluent_bit_json_lines_of_kmsg_records(tmp_path, monkeypatch):
    """Fluent Bit's stdout or file output as JSON Lines, of kmsg records: the line is in
    `msg`, the kernel stamp in `sec`/`usec` (no message key was found: nothing was read)."""
    text = "".join(
        json.dumps(
            {
                "date": EPOCH + n / 1000,
                "priority": 4,
                "sequence": 700 + n,
                "sec": 5,
                "usec": n * 1000,
                "msg": line,
            }
        )
        + "\n"  # fmt: skip
        for n, line in enumerate(REPORT)
    )
    (doc,) = read_every_way(tmp_path, text, monkeypatch)
    assert facts(doc) == dict(FACTS, host=None)


def _iso(n: int) -> str:
    return f"2026-11-25T10:00:05.{n:03d}Z"


EXPORTS = {
    "splunk json (newest first)": lambda lines: "".join(
        json.dumps({"preview": False, "result": {"_raw": x, "host": "web1", "_time": _iso(n)}})
        + "\n"
        for n, x in reversed(list(enumerate(lines)))
    ),
    "cloudwatch logs insights": lambda lines: json.dumps(
        [
            {"@timestamp": _iso(n), "@message": x, "@logStream": "i-0abc"}
            for n, x in enumerate(lines)
        ],
        indent=2,
    ),
    "google cloud logging": lambda lines: "".join(
        json.dumps(
            {
                "textPayload": x,
                "timestamp": _iso(n),
                "resource": {"type": "gce_instance", "labels": {"instance_id": "4711"}},
                "labels": {"compute.googleapis.com/resource_name": "web1"},
            }
        )
        + "\n"
        for n, x in enumerate(lines)
    ),
    "azure monitor syslog": lambda lines: json.dumps(
        [
            {"TimeGenerated": _iso(n), "Computer": "web1", "Facility": "kern", "SyslogMessage": x}
            for n, x in enumerate(lines)
        ]
    ),
    "graylog": lambda lines: "".join(
        json.dumps({"full_message": x, "source": "web1", "timestamp": _iso(n)}) + "\n"
        for n, x in enumerate(lines)
    ),
}


# (export, its lines as syslog wrote them or bare, the host the export names)
EXPORT_CASES = {
    "splunk json (newest first)": ("splunk json (newest first)", True, "web1"),
    "cloudwatch logs insights": ("cloudwatch logs insights", False, None),
    "google cloud logging": ("google cloud logging", False, "web1"),
    "azure monitor syslog": ("azure monitor syslog", False, "web1"),
    "graylog": ("graylog", False, "web1"),  # its `source`
}


@pytest.mark.parametrize(("export", "syslog", "host"), EXPORT_CASES.values(), ids=EXPORT_CASES)
def test_exports_of_log_platforms_keep_every_fact(export, syslog, host, tmp_path, monkeypatch):
    """Where a fleet's kernel lines end up: Splunk keeps the whole line in `_raw` (newest
    first), CloudWatch in `@message`, Google Cloud in `textPayload`, Azure in
    `SyslogMessage` (the host in `Computer`), Graylog in `full_message`: none was read."""
    text = EXPORTS[export](stamped() if syslog else REPORT)
    docs = read_every_way(tmp_path, text, monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=host)
    assert docs[0]["@timestamp"] == "2026-11-25T10:00:05.000000Z"


def test_a_splunk_csv_export_with_its_raw_column(tmp_path, monkeypatch):
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["_time", "host", "_raw"])
    for n, line in reversed(list(enumerate(stamped()))):
        writer.writerow([_iso(n), "web1", line])
    docs = read_every_way(tmp_path, out.getvalue(), monkeypatch)
    assert only_facts(docs) == FACTS


@pytest.mark.parametrize("stamps", [True, False], ids=["kernel stamps", "bare lines"])
def test_an_azure_monitor_csv_export_newest_first(stamps, tmp_path, monkeypatch):
    """Log Analytics' CSV export: a zone after the time column's name (`TimeGenerated [UTC]`),
    which hid the whole export, the host in `Computer`, the line in `SyslogMessage`, the time
    as en-US shows it, newest first (its default sort): read back by that time."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["TenantId", "TimeGenerated [UTC]", "Computer", "Facility", "SyslogMessage"])
    lines = stamped() if stamps else [f"Nov 25 10:00:05 web1 kernel: {line}" for line in REPORT]
    for n, line in reversed(list(enumerate(lines))):
        shown = f"11/25/2026, 10:{n // 60:02d}:{n % 60:02d}.000 AM"
        writer.writerow(["0f1e", shown, "web1", "kern", line.split(" kernel: ", 1)[1]])
    assert only_facts(read_every_way(tmp_path, out.getvalue(), monkeypatch)) == FACTS


def test_a_source_that_is_a_file_is_no_host(tmp_path, monkeypatch):
    """Graylog keeps the sender as `source`, a host's name; Splunk's `source` is the file
    the line came from: no host."""
    rows = [
        {"_time": _iso(n), "source": "/var/log/kern.log", "_raw": line}
        for n, line in enumerate(REPORT)
    ]
    docs = read_every_way(tmp_path, "".join(json.dumps(row) + "\n" for row in rows), monkeypatch)
    assert only_facts(docs) == dict(FACTS, host=None)


def test_a_csv_export_whose_columns_are_capitalised(tmp_path, monkeypatch):
    """Datadog's log explorer exports `Date,Host,Service,Message`, newest first: no column was
    taken for the message, so the whole export was read as bare text."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(["Date", "Host", "Service", "Message"])
    for n, line in reversed(list(enumerate(REPORT))):
        writer.writerow([_iso(n), "web1", "kernel", line])
    assert only_facts(read_every_way(tmp_path, out.getvalue(), monkeypatch)) == FACTS
