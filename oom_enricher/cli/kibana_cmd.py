"""`oom-enricher kibana import`: upload the dashboards to Kibana."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oom_enricher.cli import exit_codes
from oom_enricher.dashboards.kibana_auth import (
    add_kibana_auth_arguments,
    authorization_header,
    ssl_context,
)
from oom_enricher.dashboards.kibana_import import import_ndjson, import_payload
from oom_enricher.dashboards.packaged import NDJSON_NAME, packaged_ndjson


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("kibana", help="Kibana saved objects (dashboards)")
    actions = parser.add_subparsers(dest="kibana_command", required=True)
    upload = actions.add_parser(
        "import",
        help="upload the dashboards with the saved objects import API",
        description="POST the NDJSON to /api/saved_objects/_import and report per-object "
        "errors. Credentials as for Elasticsearch (flags or OOM_ENRICHER_ES_* variables).",
    )
    upload.add_argument("--kibana", required=True, metavar="URL", help="e.g. http://kibana:5601")
    upload.add_argument(
        "--file",
        type=Path,
        help=f"NDJSON to upload (default: the dashboards shipped in the package, {NDJSON_NAME})",
    )
    upload.add_argument("--overwrite", action="store_true", help="replace objects with same id")
    upload.add_argument("--space", default=None, help="Kibana space id (default space if unset)")
    add_kibana_auth_arguments(upload)
    upload.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    options = {
        "overwrite": args.overwrite,
        "space": args.space,
        "headers": authorization_header(args),
        "ssl_context": ssl_context(args.kibana, args),
    }
    if args.file is not None and not args.file.is_file():
        print(f"oom-enricher kibana import: no such file: {args.file}", file=sys.stderr)
        return exit_codes.USAGE
    try:
        if args.file is None:
            result = import_payload(args.kibana, NDJSON_NAME, packaged_ndjson(), **options)
        else:
            result = import_ndjson(args.kibana, args.file, **options)
    except OSError as exc:
        from oom_enricher.cli.service_errors import describe

        print(
            f"oom-enricher kibana import: {describe('Kibana', args.kibana, exc)}", file=sys.stderr
        )
        return exit_codes.UNAVAILABLE
    for line in result.error_lines():
        print(f"error: {line}", file=sys.stderr)
    print(
        f"imported {result.success_count} objects into {args.kibana}"
        + ("" if result.success else f", {len(result.errors)} failed")
    )
    if result.success:
        return exit_codes.OK
    return exit_codes.UNAVAILABLE if result.message else exit_codes.REFUSED
