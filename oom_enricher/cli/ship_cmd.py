"""`oom-enricher ship [FILE ...|-] --es URL`: parse kernel logs and index the OOM documents."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from oom_enricher.cli import exit_codes
from oom_enricher.cli.common_args import add_input_args, pipeline_options, report_read_problems
from oom_enricher.sinks.elasticsearch import names
from oom_enricher.sinks.elasticsearch.auth import add_connection_arguments, connection_from_args
from oom_enricher.state_paths import user_state_dir

log = logging.getLogger(__name__)

EXIT_OK = exit_codes.OK
EXIT_NONE_FOUND = exit_codes.NONE_FOUND
EXIT_READ_ERROR = exit_codes.USAGE
EXIT_UNAVAILABLE = exit_codes.UNAVAILABLE
EXIT_SPOOL_PENDING = exit_codes.UNAVAILABLE
EXIT_DEAD_LETTERED = exit_codes.REFUSED
EXIT_NOT_SAVED = exit_codes.NOT_SAVED


def state_dir() -> Path:
    return user_state_dir()


def add_sink_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("indexing")
    group.add_argument("--namespace", default=names.DEFAULT_NAMESPACE)
    group.add_argument(
        "--spool-dir",
        type=Path,
        help="documents wait here while Elasticsearch is unreachable "
        "(default $XDG_STATE_HOME/oom-enricher/spool-<namespace>)",
    )
    group.add_argument("--spool-max-mb", type=int, default=256, help="spool bound (default 256)")
    group.add_argument(
        "--dead-letter",
        type=Path,
        help="refused documents with the reason, JSON Lines "
        "(default $XDG_STATE_HOME/oom-enricher/dead-letter-<namespace>.jsonl)",
    )
    group.add_argument("--chunk-size", type=int, default=500, help="documents per bulk request")
    group.add_argument(
        "--flush-after", type=float, default=1.0, help="send a partial batch after this many s"
    )
    group.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="at the end, keep trying this long to empty the spool (default 30)",
    )
    group.add_argument(
        "--no-setup", action="store_true", help="do not install or check the templates first"
    )


def sink_config(args: argparse.Namespace):
    from oom_enricher.sinks.elasticsearch.bulk_sink import SinkConfig

    base = state_dir()
    return SinkConfig(
        connection=connection_from_args(args),
        namespace=args.namespace,
        spool_dir=args.spool_dir or base / f"spool-{args.namespace}",
        spool_max_bytes=args.spool_max_mb << 20,
        dead_letter_path=args.dead_letter or base / f"dead-letter-{args.namespace}.jsonl",
        chunk_size=args.chunk_size,
        flush_after_seconds=args.flush_after,
    )


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ship",
        help="parse kernel logs and index the OOM documents into Elasticsearch",
        description="Parses like `parse` and indexes each report into the data stream "
        f"{names.DATA_STREAM_TYPE}-{names.DATASET}-<namespace>, once: a re-run counts "
        "duplicates instead of indexing them again.",
    )
    add_input_args(parser)
    add_connection_arguments(parser)
    add_sink_arguments(parser)
    parser.set_defaults(run=run)


def ensure_setup(sink, namespace: str) -> str | None:
    """Installs the templates (a no-op when current) so the stream never gets default ones;
    returns what went wrong, in one line, when Elasticsearch could not be asked."""
    from elasticsearch import ApiError, TransportError

    from oom_enricher.cli.service_errors import describe
    from oom_enricher.sinks.elasticsearch.installer import install

    try:
        install(sink.client, namespace)
    except (ApiError, TransportError) as exc:
        problem = describe("Elasticsearch", sink.config.connection.url, exc)
        log.debug("could not check the templates: %s", problem)
        return problem
    return None


def summary_line(reports: int, stats) -> str:
    return (
        f"reports {reports}, indexed {stats.indexed}, duplicates {stats.duplicates}, "
        f"dead-lettered {stats.dead_lettered}, spooled {stats.spooled} "
        f"(still in spool {stats.spool_pending})"
        + (f", not saved {stats.unsaved}" if stats.unsaved else "")
    )


def run(args: argparse.Namespace) -> int:
    from oom_enricher.sinks.elasticsearch.bulk_sink import ElasticsearchSink
    from oom_enricher.sinks.elasticsearch.spool import SpoolLockedError
    from oom_enricher.skimming.skim_files import skim_documents
    from oom_enricher.sources.file_reader import ReadStats
    from oom_enricher.sources.progress import TerminalProgress

    try:
        config = sink_config(args)
        sink = ElasticsearchSink(config)
    except (ValueError, SpoolLockedError, OSError) as exc:
        print(f"oom-enricher ship: {exc}", file=sys.stderr)
        return EXIT_READ_ERROR
    problem = None if args.no_setup else ensure_setup(sink, args.namespace)
    stats = ReadStats()
    progress = TerminalProgress("shipping")
    reports = 0
    try:
        for doc in skim_documents(
            args.files, pipeline_options(args), stats, progress, max_line_bytes=args.max_line_bytes
        ):
            sink.send(doc)
            reports += 1
    finally:
        progress.close()
        sink.close(drain_timeout=args.drain_timeout)
    print(summary_line(reports, sink.stats))
    if sink.stats.dead_lettered:
        print(
            f"oom-enricher ship: refused documents are in {config.dead_letter_path}",
            file=sys.stderr,
        )
    if sink.stats.unsaved:
        print(
            f"oom-enricher ship: {sink.stats.unsaved} document(s) were neither indexed nor "
            f"spooled (spool {config.spool_dir} not writable or full); run ship again",
            file=sys.stderr,
        )
        return EXIT_NOT_SAVED
    if report_read_problems(stats):
        return EXIT_READ_ERROR
    if sink.stats.spool_pending:
        problem = problem or f"Elasticsearch at {config.connection.url} unreachable"
        print(
            f"oom-enricher ship: {problem}; {sink.stats.spool_pending} document(s) "
            f"wait in {config.spool_dir} and go out with the next run",
            file=sys.stderr,
        )
        return EXIT_SPOOL_PENDING
    if sink.stats.dead_lettered:
        return EXIT_DEAD_LETTERED
    if problem:
        print(f"oom-enricher ship: {problem}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if not reports:
        print("oom-enricher ship: no OOM report found", file=sys.stderr)
        return EXIT_NONE_FOUND
    return EXIT_OK
