"""`serve` configuration: a TOML file (tomllib), then command-line flags on top.

Example (every key optional):

    state_dir = "/var/lib/oom-enricher"   # the journal (journal/) and the Elasticsearch spool
    commit_window = 0.002          # seconds requests wait to share one journal fsync
    event_loop = "auto"            # auto (uvloop where installed) | uvloop | asyncio
    max_journal_bytes = 1073741824 # journal on disk before requests are refused (503)
    timezone = "UTC"               # zone of RFC 3164 / dmesg -T stamps

    [pipeline]                     # reassembly bounds (oom_enricher.reassembly.bounds)
    max_wall_age = 60.0            # seconds without a line before a report is closed

    [http]
    host = "127.0.0.1"
    port = 8686

    [limits]                       # what network clients can make serve hold (sources.limits)
    max_connections = 4096         # forward + syslog TCP; lowered to RLIMIT_NOFILE - 64
    max_connections_per_peer = 256
    idle_timeout = 300.0           # seconds without a byte
    request_deadline = 60.0        # a started request / syslog frame must end within this
    max_frame_bytes = 33554432     # one forward request on the wire
    max_entries_per_request = 200000
    max_decompressed_bytes = 67108864
    max_decompression_ratio = 200.0
    max_line_bytes = 65536         # one syslog message
    max_buffered_bytes = 134217728 # unparsed bytes across all connections

    [records]                      # how shipper records map to lines
    host_key = "hostname"          # override the recognised shapes
    message_key = "log"
    time_key = "time"
    host_fallback = "peer"         # peer | tag | none, for records without a host

    [sources.forward]
    host = "0.0.0.0"
    port = 24224
    shared_key = "secret"
    self_hostname = "oom-enricher"
    users = { fluent = "password" }
    tls_cert = "/etc/oom-enricher/tls.crt"
    tls_key = "/etc/oom-enricher/tls.key"

    [sources.syslog]
    udp_port = 5140
    tcp_port = 5140

    [sources.kmsg]
    path = "/dev/kmsg"

    [sources.journal]
    command = ["journalctl", "-o", "json", "-f", "-k"]

    [sources.file]
    paths = ["/var/log/kern.log"]

    [sources.kafka]                # a worker of a consumer group (alone: no other source)
    bootstrap = "kafka:9092"
    topic = "oom-enricher-lines"
    group = "oom-enricher"
    client = { "security.protocol" = "SSL" }   # more librdkafka settings

    [sinks.stdout]

    [sinks.elasticsearch]
    url = "https://es:9200"
    username = "oom"
    password_file = "/run/secrets/es-password"
    ca_file = "/etc/ssl/es-ca.pem"
    kubernetes_names = true        # fill namespace/pod/container/workload names in later
    kubernetes_logs_index = "logs-*,filebeat-*,logstash-*,fluent-bit*,fluentd*,-logs-oom_enricher.*"
    kubernetes_interval = 30.0     # seconds between background passes
    kubernetes_cache_ttl = 600.0   # seconds a pod's names are reused; a miss: kubernetes_miss_ttl
    kubernetes_miss_ttl = 60.0
    kubernetes_max_attempts = 10   # passes before kubernetes.names.status = "not_found"

    [sinks.fluent]
    host = "aggregator"
    port = 24224
    tag = "oom_enricher.oom"

    [sinks.kafka]                  # receiving tier: forward / syslog records go to the topic
    bootstrap = "kafka:9092"       # (alone: no other sink; workers reassemble)
    topic = "oom-enricher-lines"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oom_enricher.sources.limits import SourceLimits, from_table


class ConfigError(ValueError):
    pass


@dataclass
class ServeConfig:
    state_dir: Path | None = None
    tick_interval: float = 1.0  # accepted for old configs; reports close at their own deadline
    timezone: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int | None = 8686
    records: dict[str, Any] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)  # reassembly Bounds overrides
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: SourceLimits = field(default_factory=SourceLimits)
    dry_run: bool = False
    fsync: bool = True
    commit_window: float = 0.002
    event_loop: str = "auto"
    max_journal_bytes: int = 1 << 30

    @property
    def journal_dir(self) -> Path | None:
        return self.state_dir / "journal" if self.state_dir else None


EVENT_LOOPS = ("auto", "uvloop", "asyncio")
KNOWN_SOURCES = {"forward", "syslog", "kmsg", "journal", "file", "kafka"}
KNOWN_SINKS = {"stdout", "elasticsearch", "fluent", "kafka"}


def load_config(path: Path | None) -> ServeConfig:
    if path is None:
        return ServeConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return from_dict(data, check=False)  # flags may still add sources; validated after them


def from_dict(data: dict[str, Any], check: bool = True) -> ServeConfig:
    http = data.get("http", {})
    try:
        limits = from_table(dict(data.get("limits", {})))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    config = ServeConfig(
        state_dir=Path(data["state_dir"]) if data.get("state_dir") else None,
        tick_interval=float(data.get("tick_interval", 1.0)),
        timezone=data.get("timezone"),
        http_host=http.get("host", "127.0.0.1"),
        http_port=http.get("port", 8686),
        records=dict(data.get("records", {})),
        pipeline=dict(data.get("pipeline", {})),
        sources={k: dict(v) for k, v in data.get("sources", {}).items()},
        sinks={k: dict(v) for k, v in data.get("sinks", {}).items()},
        limits=limits,
        fsync=bool(data.get("fsync", True)),
        commit_window=float(data.get("commit_window", 0.002)),
        event_loop=str(data.get("event_loop", "auto")),
        max_journal_bytes=_positive_int(
            data.get("max_journal_bytes", 1 << 30), "max_journal_bytes"
        ),
    )
    if check:
        validate(config)
    return config


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    return value


def validate(config: ServeConfig) -> None:
    unknown = set(config.sources) - KNOWN_SOURCES
    if unknown:
        raise ConfigError(f"unknown source(s): {', '.join(sorted(unknown))}")
    unknown = set(config.sinks) - KNOWN_SINKS
    if unknown:
        raise ConfigError(f"unknown sink(s): {', '.join(sorted(unknown))}")
    if config.event_loop not in EVENT_LOOPS:
        raise ConfigError(f"event_loop must be auto, uvloop or asyncio, not {config.event_loop!r}")
    fallback = config.records.get("host_fallback", "peer")
    if fallback not in ("peer", "tag", "none"):
        raise ConfigError(f"records.host_fallback must be peer, tag or none, not {fallback!r}")
    forward = config.sources.get("forward", {})
    if forward.get("users") and not forward.get("shared_key"):
        raise ConfigError("sources.forward.users needs sources.forward.shared_key")
    if bool(forward.get("tls_cert")) != bool(forward.get("tls_key")):
        raise ConfigError("sources.forward needs both tls_cert and tls_key")
    _validate_kafka(config)
    if config.timezone:
        _check_zone(config.timezone)
    if "elasticsearch" in config.sinks and not config.sinks["elasticsearch"].get("url"):
        raise ConfigError("sinks.elasticsearch.url is required")
    from dataclasses import fields as dataclass_fields

    from oom_enricher.reassembly.bounds import Bounds

    known = {f.name for f in dataclass_fields(Bounds)}
    unknown = set(config.pipeline) - known
    if unknown:
        raise ConfigError(f"unknown pipeline setting(s): {', '.join(sorted(unknown))}")
    if not config.sources:
        raise ConfigError("no source configured (e.g. --forward-port or [sources.forward])")


def _validate_kafka(config: ServeConfig) -> None:
    for kind, table in (("sources", config.sources), ("sinks", config.sinks)):
        if "kafka" not in table:
            continue
        if len(table) > 1:
            raise ConfigError(f"{kind}.kafka cannot be combined with other {kind}")
        for key in ("bootstrap", "topic"):
            if not table["kafka"].get(key):
                raise ConfigError(f"{kind}.kafka.{key} is required")
    _known_keys(config.sources.get("kafka"), "oom_enricher.serve.kafka_worker", "KafkaSourceConfig")
    _known_keys(config.sinks.get("kafka"), "oom_enricher.sinks.kafka_sink", "KafkaSinkConfig")
    if "kafka" in config.sources and "kafka" in config.sinks:
        raise ConfigError("a worker reads the topic the receiving tier writes: not both")
    if "kafka" in config.sinks and not {"forward", "syslog"} & set(config.sources):
        raise ConfigError("sinks.kafka relays forward and syslog records: configure one of them")


def _known_keys(table: dict[str, Any] | None, module: str, name: str) -> None:
    if table is None:
        return
    import importlib
    from dataclasses import fields as dataclass_fields

    known = {f.name for f in dataclass_fields(getattr(importlib.import_module(module), name))}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"unknown kafka setting(s): {', '.join(sorted(unknown))}")


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(f"timezone: unknown time zone {name!r} (e.g. Europe/Berlin)") from None
