"""`oom-enricher setup --es URL`: install the ingest pipeline and templates (idempotent)."""

from __future__ import annotations

import argparse
import sys

from oom_enricher.cli import exit_codes
from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.auth import add_connection_arguments, connection_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "setup",
        help="install the Elasticsearch ingest pipeline and templates",
        description="Installs, idempotently, the ingest pipeline, component templates and the "
        f"index template of the data stream {names.DATA_STREAM_TYPE}-{names.DATASET}-<namespace>"
        " with its lifecycle retention. Re-running is a no-op; a newer oom-enricher upgrades "
        "in place.",
    )
    add_connection_arguments(parser)
    parser.add_argument("--namespace", default=names.DEFAULT_NAMESPACE)
    parser.add_argument(
        "--retention",
        default=names.DEFAULT_RETENTION,
        help=f"data stream lifecycle retention (default {names.DEFAULT_RETENTION})",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace objects even if a newer version is installed"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from elasticsearch import ApiError, TransportError

    from oom_enricher.sinks.elasticsearch.installer import UNCHANGED, install

    try:
        names.validate_namespace(args.namespace)
        names.validate_retention(args.retention)
    except ValueError as exc:
        print(f"oom-enricher setup: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    from oom_enricher.cli.service_errors import describe

    connection = connection_from_args(args)
    client = connection.client()
    try:
        steps = install(client, args.namespace, args.retention, force=args.force)
    except (ApiError, TransportError) as exc:
        print(
            f"oom-enricher setup: {describe('Elasticsearch', connection.url, exc)}", file=sys.stderr
        )
        return exit_codes.UNAVAILABLE
    finally:
        client.close()
    for step in steps:
        print(step)
    changed = sum(1 for s in steps if s.action != UNCHANGED)
    print(
        f"data stream {names.data_stream_name(args.namespace)}: "
        + ("up to date, nothing changed" if not changed else f"{changed} change(s)")
    )
    return 0
