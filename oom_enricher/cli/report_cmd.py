"""`oom-enricher report`: fleet-wide OOM-kill trends as HTML, Markdown or JSON."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from oom_enricher.cli import exit_codes
from oom_enricher.report import sources
from oom_enricher.report.render import render_html, render_json, render_markdown
from oom_enricher.report.trends import ReportOptions, build_report
from oom_enricher.sinks.elasticsearch.auth import add_connection_arguments, connection_from_args

log = logging.getLogger(__name__)
RENDERERS = {"html": render_html, "md": render_markdown, "json": render_json}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="fleet-wide OOM-kill trends (HTML, Markdown or JSON)",
        description="Kills per day and week, rankings, repeat offenders, cgroups dying at "
        "their limit and the worst incidents, from JSON Lines files or Elasticsearch.",
    )
    parser.add_argument(
        "--from",
        dest="from_files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="JSON Lines documents (oom-enricher parse output); - for stdin. Or use --es.",
    )
    parser.add_argument(
        "--index", default=sources.DEFAULT_INDEX_PATTERN, help="index pattern for --es"
    )
    parser.add_argument(
        "--since",
        default=None,
        help="look back this far from --until or now, e.g. 30d, 2w, 12h "
        "(default: 30d with --es, everything with --from)",
    )
    parser.add_argument(
        "--until", default=None, help="end of the period, ISO 8601 (default: now with --es)"
    )
    parser.add_argument("--format", choices=sorted(RENDERERS), default="html")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    parser.add_argument("--top", type=int, default=10, help="rows per ranking (default 10)")
    add_connection_arguments(parser, required=False)
    parser.set_defaults(run=run)


def _window(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    until = None
    if args.until:
        until = datetime.fromisoformat(args.until.replace("Z", "+00:00"))
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
    since_text = args.since or ("30d" if args.es else None)
    if since_text is None:
        return None, until
    end = until or datetime.now(UTC)
    return end - sources.parse_duration(since_text), until


def run(args: argparse.Namespace) -> int:
    if bool(args.from_files) == bool(args.es):
        print("oom-enricher report: give either --from FILE... or --es URL", file=sys.stderr)
        return 2
    try:
        since, until = _window(args)
    except ValueError as exc:
        print(f"oom-enricher report: {exc}", file=sys.stderr)
        return 2
    if args.es:
        connection = connection_from_args(args)
        docs = sources.search_elasticsearch(connection.client(), since, until, args.index)
    else:
        docs = sources.read_jsonl(args.from_files)
    try:
        report = build_report(docs, ReportOptions(since=since, until=until, top=args.top))
    except (OSError, ValueError) as exc:
        print(f"oom-enricher report: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # elasticsearch errors: one line instead of a traceback
        from oom_enricher.cli.service_errors import describe, is_service_error

        if not args.es or not is_service_error(exc):
            raise
        print(f"oom-enricher report: {describe('Elasticsearch', args.es, exc)}", file=sys.stderr)
        return exit_codes.UNAVAILABLE
    text = RENDERERS[args.format](report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        log.info("wrote %s (%d kills)", args.output, report["totals"]["kills"])
    else:
        sys.stdout.write(text)
    return 0
