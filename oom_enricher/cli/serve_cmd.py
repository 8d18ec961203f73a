"""`oom-enricher serve`: long-running sources -> reassembly -> enrichment -> sinks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oom_enricher.serve.config import ConfigError, ServeConfig, load_config, validate

EXIT_OK = 0
EXIT_CONFIG = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="receive kernel logs (forward, syslog, kmsg, journal, files) and emit OOM documents",
        description=__doc__,
    )
    p.add_argument("-c", "--config", type=Path, help="TOML configuration file")
    p.add_argument("--state-dir", type=Path, help="where reports in progress are persisted")
    p.add_argument("--forward-port", type=int, help="Fluent forward port (e.g. 24224)")
    p.add_argument("--forward-host", help="forward listen address (default 127.0.0.1)")
    p.add_argument("--shared-key-file", type=Path, help="forward shared key, first line of file")
    p.add_argument("--self-hostname", help="hostname sent in PONG (must differ from senders')")
    p.add_argument("--tls-cert", help="forward TLS certificate (PEM)")
    p.add_argument("--tls-key", help="forward TLS key (PEM)")
    p.add_argument("--syslog-port", type=int, help="syslog UDP and TCP port (e.g. 5140)")
    p.add_argument("--syslog-host", help="syslog listen address (default 127.0.0.1)")
    p.add_argument("--kmsg", metavar="PATH", help="read kernel records from PATH (/dev/kmsg)")
    p.add_argument("--journal", action="store_true", help="read kernel entries of the journal")
    p.add_argument("--follow", metavar="PATH", action="append", help="follow a log file")
    p.add_argument("--host", help="host name for kmsg / file records")
    p.add_argument("--stdout", action="store_true", help="also write documents as JSON Lines")
    p.add_argument("--es", metavar="URL", help="Elasticsearch sink URL")
    p.add_argument("--fluent", metavar="HOST:PORT", help="forward documents to this aggregator")
    p.add_argument("--fluent-tag", default="oom_enricher.oom", help="tag for --fluent")
    p.add_argument("--http-port", type=int, help="health/metrics port (default 8686, 0: any)")
    p.add_argument("--http-host", help="health/metrics address (default 127.0.0.1)")
    p.add_argument("--no-http", action="store_true", help="no health/metrics endpoint")
    p.add_argument("--timezone", help="zone of RFC 3164 / dmesg -T stamps (default UTC)")
    p.add_argument("--dry-run", action="store_true", help="print documents instead of indexing")
    p.add_argument("--log-json", action="store_true", help="structured logs: JSON per line")
    p.set_defaults(run=run)


def apply_flags(config: ServeConfig, args: argparse.Namespace) -> ServeConfig:
    if args.state_dir:
        config.state_dir = args.state_dir
    if args.timezone:
        config.timezone = args.timezone
    if args.forward_port is not None or args.shared_key_file or args.tls_cert:
        fwd = config.sources.setdefault("forward", {})
        if args.forward_port is not None:
            fwd["port"] = args.forward_port
        if args.forward_host:
            fwd["host"] = args.forward_host
        if args.shared_key_file:
            fwd["shared_key"] = args.shared_key_file.read_text().splitlines()[0].strip()
        if args.self_hostname:
            fwd["self_hostname"] = args.self_hostname
        if args.tls_cert:
            fwd["tls_cert"], fwd["tls_key"] = args.tls_cert, args.tls_key
    if args.syslog_port is not None:
        sys_opts = config.sources.setdefault("syslog", {})
        sys_opts["udp_port"] = sys_opts["tcp_port"] = args.syslog_port
        if args.syslog_host:
            sys_opts["host"] = args.syslog_host
    if args.kmsg:
        config.sources.setdefault("kmsg", {}).update(path=args.kmsg, host=args.host)
    if args.journal:
        config.sources.setdefault("journal", {})
    if args.follow:
        config.sources.setdefault("file", {}).update(paths=args.follow, host=args.host)
    if args.stdout:
        config.sinks.setdefault("stdout", {})
    if args.es:
        config.sinks.setdefault("elasticsearch", {})["url"] = args.es
    if args.fluent:
        host, _, port = args.fluent.rpartition(":")
        config.sinks["fluent"] = {
            "host": host or "127.0.0.1",
            "port": int(port),
            "tag": args.fluent_tag,
        }
    if args.http_port is not None:
        config.http_port = args.http_port
    if args.http_host:
        config.http_host = args.http_host
    if args.no_http:
        config.http_port = None
    config.dry_run = args.dry_run
    if not config.sinks and not config.dry_run:
        config.sinks["stdout"] = {}
    return config


def run(args: argparse.Namespace) -> int:
    from oom_enricher.serve.app import run_serve
    from oom_enricher.serve.logs import use_json_logs

    if args.log_json:
        use_json_logs()
    try:
        config = apply_flags(load_config(args.config), args)
        validate(config)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"oom-enricher serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    run_serve(config)
    return EXIT_OK
