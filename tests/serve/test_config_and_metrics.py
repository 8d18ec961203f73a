import pytest

from oom_enricher.cli.main import build_parser
from oom_enricher.cli.serve_cmd import apply_flags
from oom_enricher.serve.config import ConfigError, from_dict, load_config
from oom_enricher.serve.metrics import OVERFLOW_LABEL, Metrics
from oom_enricher.serve.processor import kill_labels

TOML = """
state_dir = "/var/lib/oom"
timezone = "Europe/Berlin"
[http]
port = 9999
[records]
host_key = "hostname"
host_fallback = "tag"
[sources.forward]
port = 24225
shared_key = "k"
users = { ops = "pw" }
[sources.syslog]
udp_port = 5514
[sinks.fluent]
host = "agg"
port = 24224
tag = "oom.docs"
"""


def test_toml_config_is_read(tmp_path):
    path = tmp_path / "serve.toml"
    path.write_text(TOML)
    cfg = load_config(path)
    assert str(cfg.journal_dir) == "/var/lib/oom/journal"
    assert (cfg.http_port, cfg.timezone) == (9999, "Europe/Berlin")
    assert cfg.sources["forward"] == {"port": 24225, "shared_key": "k", "users": {"ops": "pw"}}
    assert cfg.records == {"host_key": "hostname", "host_fallback": "tag"}
    assert cfg.sinks["fluent"]["tag"] == "oom.docs"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sources": {"nope": {}}}, "unknown source"),
        ({"sources": {"forward": {}}, "sinks": {"nope": {}}}, "unknown sink"),
        ({"sources": {"forward": {"users": {"a": "b"}}}}, "needs sources.forward.shared_key"),
        ({"sources": {"forward": {"tls_cert": "c"}}}, "both tls_cert and tls_key"),
        ({"sources": {"forward": {}}, "records": {"host_fallback": "x"}}, "host_fallback"),
        ({}, "no source configured"),
    ],
)
def test_invalid_configs_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(data)


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "serve.toml"
    path.write_text(TOML)
    key = tmp_path / "key"
    key.write_text("from-file\n")
    args = build_parser().parse_args(
        ["serve", "-c", str(path), "--forward-port", "1", "--shared-key-file", str(key),
         "--syslog-port", "2", "--dry-run", "--http-port", "0", "--follow", "/var/log/kern.log"]
    )  # fmt: skip
    cfg = apply_flags(load_config(args.config), args)
    assert cfg.sources["forward"]["port"] == 1
    assert cfg.sources["forward"]["shared_key"] == "from-file"
    assert cfg.sources["syslog"]["udp_port"] == cfg.sources["syslog"]["tcp_port"] == 2
    assert cfg.sources["file"]["paths"] == ["/var/log/kern.log"]
    assert cfg.dry_run and cfg.http_port == 0


def test_prometheus_text_and_cardinality_cap():
    m = Metrics(max_series=2)
    m.inc("records_in", {"source": "forward"}, 3, help="Records received")
    m.set("reports_in_progress", 2)
    for host in ("a", "b", "c", "d"):
        m.inc("oom_kills", {"host": host, "victim": "java"})
    m.observe("ack_latency_seconds", 0.5)
    m.observe("ack_latency_seconds", 1.5)
    text = m.render()
    assert "# HELP oom_enricher_records_in_total Records received\n" in text
    assert "# TYPE oom_enricher_records_in_total counter\n" in text
    assert 'oom_enricher_records_in_total{source="forward"} 3\n' in text
    assert "oom_enricher_reports_in_progress 2\n" in text
    assert 'oom_enricher_oom_kills_total{host="a",victim="java"} 1\n' in text
    assert (
        f'oom_enricher_oom_kills_total{{host="{OVERFLOW_LABEL}",victim="{OVERFLOW_LABEL}"}} 2\n'
        in text
    )
    assert 'oom_enricher_ack_latency_seconds{quantile="0.5"} 0.5\n' in text
    assert "oom_enricher_ack_latency_seconds_count 2\n" in text


def test_kill_labels_one_per_victim_with_container():
    doc = {
        "host": {"name": "n1"},
        "kubernetes": {"pod": {"uid": "5931aa75-4603"}},
        "oom": {"scope": "memcg", "limit_hit": "memory",
                "victims": [{"pid": 1, "name": "sh"}, {"pid": 2, "name": "x" * 100}]},
    }  # fmt: skip
    assert kill_labels(doc) == [
        {"host": "n1", "scope": "memcg", "limit_hit": "memory", "container": "5931aa75-4603",
         "victim": "sh"},
        {"host": "n1", "scope": "memcg", "limit_hit": "memory", "container": "5931aa75-4603",
         "victim": "x" * 64},
    ]  # fmt: skip


def test_json_log_lines_carry_extra_fields():
    import json
    import logging

    from oom_enricher.serve.logs import JsonFormatter

    record = logging.LogRecord("oom", logging.WARNING, __file__, 1, "closing %s", ("x",), None)
    record.__dict__["error.type"] = "oversized"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "closing x"
    assert entry["log.level"] == "warning" and entry["error.type"] == "oversized"


def test_series_of_equal_but_differently_typed_labels_stay_apart():
    # Label sets are cached by their items: True == 1 must not reuse the series of "1".
    metrics = Metrics()
    metrics.inc("requests", {"mode": "1"})
    metrics.inc("requests", {"mode": True})
    metrics.inc("requests", {"mode": 1})
    metrics.inc("requests", {"mode": "1"}, 2)
    assert metrics.get("requests", {"mode": "1"}) == 4
    assert metrics.get("requests", {"mode": True}) == 1
    assert 'oom_enricher_requests_total{mode="True"} 1' in metrics.render()


def test_summary_keeps_the_latest_samples_only():
    metrics = Metrics()
    for n in range(25_000):
        metrics.observe("ack_latency_seconds", float(n), {"source": "forward"})
    text = metrics.render()
    assert 'oom_enricher_ack_latency_seconds_count{source="forward"} 10000' in text
    assert 'oom_enricher_ack_latency_seconds{source="forward",quantile="0.5"} 19999' in text


def test_serve_runs_on_uvloop_unless_asyncio_is_chosen():
    import uvloop

    from oom_enricher.serve.app import loop_factory

    assert loop_factory("auto") is uvloop.new_event_loop
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None
    with pytest.raises(ConfigError, match="event_loop"):
        from_dict({"event_loop": "trio", "sources": {"forward": {}}})
