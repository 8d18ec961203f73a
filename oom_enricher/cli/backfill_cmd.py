"""`oom-enricher backfill --es URL --source 'logs-*'`: enrich syslog already in Elasticsearch."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from oom_enricher.cli.common_args import positive_int, zone_name
from oom_enricher.cli.ship_cmd import (
    EXIT_DEAD_LETTERED,
    EXIT_OK,
    EXIT_READ_ERROR,
    EXIT_SPOOL_PENDING,
    EXIT_UNAVAILABLE,
    add_sink_arguments,
    ensure_setup,
    sink_config,
    state_dir,
    summary_line,
)
from oom_enricher.sinks.elasticsearch.auth import add_connection_arguments
from oom_enricher.sinks.elasticsearch.k8s_lookup import DEFAULT_LOGS_INDEX


def register(subparsers) -> None:
    from oom_enricher.jobs.es_backfill import PRESETS

    parser = subparsers.add_parser(
        "backfill",
        help="enrich raw syslog documents that are already in Elasticsearch",
        description="Reads kernel lines from --source with a point in time and search_after, "
        "in time order, reassembles and enriches the OOM reports and indexes them like `ship`. "
        "Resumable: a re-run continues from the last checkpoint.",
    )
    add_connection_arguments(parser)
    parser.add_argument("--source", default="logs-*", help="index pattern to read (logs-*)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="fluent-bit")
    parser.add_argument("--time-field", help="time of a line (default @timestamp)")
    parser.add_argument("--message-field", help="the line (default: message, log or msg)")
    parser.add_argument("--host-field", help="host name (default: host, hostname, host.name...)")
    parser.add_argument("--program-field", help="syslog ident (ident; process.name for filebeat)")
    parser.add_argument("--since", help="oldest time to read, e.g. now-30d or 2026-01-01")
    parser.add_argument("--until", help="read up to this time (exclusive)")
    parser.add_argument("--query", help="JSON query selecting kernel lines (replaces default)")
    parser.add_argument("--page-size", type=positive_int, default=1000)
    parser.add_argument(
        "--state",
        type=Path,
        help="checkpoint file (default $XDG_STATE_HOME/oom-enricher/backfill-<job>.json)",
    )
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument(
        "--timezone", default="UTC", type=zone_name, help="zone of RFC 3164 stamps in raw lines"
    )
    parser.add_argument("--year", type=positive_int, help="year of RFC 3164 stamps in raw lines")
    parser.add_argument(
        "--kubernetes-logs-index",
        default=DEFAULT_LOGS_INDEX,
        help="container-log indices to look Kubernetes names up in afterwards",
    )
    parser.add_argument(
        "--no-kubernetes-names", action="store_true", help="skip filling Kubernetes names in"
    )
    add_sink_arguments(parser)
    parser.set_defaults(run=run)


def options_from_args(args: argparse.Namespace):
    from oom_enricher.jobs.es_backfill import PRESETS, BackfillOptions, SourceFields
    from oom_enricher.normalize.line_normalizer import NormalizeOptions
    from oom_enricher.pipeline import PipelineOptions

    preset = PRESETS[args.preset]
    fields = SourceFields(
        time=args.time_field or preset.time,
        message=args.message_field or preset.message,
        host=args.host_field or preset.host,
        program=args.program_field or preset.program,
    )
    reference = datetime(args.year, 12, 31, tzinfo=UTC) if args.year else None
    options = BackfillOptions(
        source=args.source,
        fields=fields,
        since=args.since,
        until=args.until,
        query=json.loads(args.query) if args.query else None,
        page_size=args.page_size,
        restart=args.restart,
        pipeline=PipelineOptions(
            normalize=NormalizeOptions(timezone=args.timezone, reference_time=reference)
        ),
    )
    if args.state:
        options.state_path = args.state
    else:
        job = hashlib.sha256(f"{args.es}|{args.source}|{args.namespace}".encode()).hexdigest()
        options.state_path = state_dir() / f"backfill-{job[:12]}.json"
    return options


class _Progress:
    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def __call__(self, stats) -> None:
        if self.enabled and stats.scanned % 5000 == 0:
            sys.stderr.write(f"\rbackfill: scanned {stats.scanned}, reports {stats.reports}")
            sys.stderr.flush()
            self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")


def run(args: argparse.Namespace) -> int:
    from elasticsearch import ApiError, TransportError

    from oom_enricher.jobs.es_backfill import Backfill
    from oom_enricher.sinks.elasticsearch.bulk_sink import ElasticsearchSink

    try:
        options = options_from_args(args)
        sink = ElasticsearchSink(sink_config(args))
    except (ValueError, OSError) as exc:
        print(f"oom-enricher backfill: {exc}", file=sys.stderr)
        return EXIT_READ_ERROR
    if not args.no_setup:
        ensure_setup(sink, args.namespace)
    progress = _Progress()

    def emit(doc: dict) -> None:
        sink.send(doc)
        progress(job.stats)

    job = Backfill(sink.client, emit, sink.flush, options)
    try:
        stats = job.run()
    except (ApiError, TransportError) as exc:
        from oom_enricher.cli.service_errors import describe

        problem = describe("Elasticsearch", sink.config.connection.url, exc)
        print(f"oom-enricher backfill: {problem} (re-run to resume)", file=sys.stderr)
        sink.close(drain_timeout=args.drain_timeout)
        return EXIT_UNAVAILABLE
    except ValueError as exc:
        print(f"oom-enricher backfill: {exc} (re-run to resume)", file=sys.stderr)
        sink.close(drain_timeout=args.drain_timeout)
        return EXIT_READ_ERROR
    finally:
        progress.close()
    sink.close(drain_timeout=args.drain_timeout)
    if stats.already_done:
        print(f"backfill already complete per {options.state_path} (use --restart to redo)")
        return EXIT_OK
    resumed = f", resumed at {stats.resumed_from}" if stats.resumed_from is not None else ""
    print(
        f"scanned {stats.scanned} raw documents{resumed}; "
        + summary_line(stats.reports, sink.stats)
    )
    if sink.stats.spool_pending:
        return EXIT_SPOOL_PENDING
    if not args.no_kubernetes_names and stats.reports:
        _fill_kubernetes_names(args)
    return EXIT_DEAD_LETTERED if sink.stats.dead_lettered else EXIT_OK


def _fill_kubernetes_names(args: argparse.Namespace) -> None:
    from elasticsearch import ApiError, TransportError

    from oom_enricher.cli.enrich_cmd import enrich_pass
    from oom_enricher.sinks.elasticsearch import names
    from oom_enricher.sinks.elasticsearch.auth import connection_from_args

    client = connection_from_args(args).client()
    args.logs_index, args.batch, args.since = args.kubernetes_logs_index, 500, None
    try:
        stats = enrich_pass(client, names.data_stream_name(args.namespace), args)
    except (ApiError, TransportError) as exc:
        print(f"Kubernetes names not filled in ({exc}); run `oom-enricher enrich`", file=sys.stderr)
        return
    finally:
        client.close()
    if stats["candidates"]:
        print(f"Kubernetes names: {stats['enriched']} of {stats['candidates']} kills named")
