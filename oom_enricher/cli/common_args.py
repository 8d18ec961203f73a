"""Options shared by the commands that read kernel logs."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from oom_enricher.normalize.line_normalizer import NormalizeOptions
from oom_enricher.pipeline import PipelineOptions
from oom_enricher.reassembly.bounds import Bounds
from oom_enricher.sources.file_reader import ReadStats


def add_input_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="log files; '-' or none reads stdin"
    )
    parser.add_argument("--host", help="host name for lines that carry none (raw dmesg, bare text)")
    parser.add_argument(
        "--timezone",
        default="UTC",
        help="zone of RFC 3164 and `dmesg -T` stamps, e.g. Europe/Berlin (default UTC)",
    )
    parser.add_argument(
        "--year",
        type=int,
        help="year of the newest RFC 3164 stamps, which carry none (default: inferred from today)",
    )
    parser.add_argument(
        "--max-report-lines", type=int, default=Bounds().max_lines, help="lines kept per report"
    )


def pipeline_options(args: argparse.Namespace) -> PipelineOptions:
    reference = datetime(args.year, 12, 31, tzinfo=UTC) if args.year else None
    return PipelineOptions(
        normalize=NormalizeOptions(
            timezone=args.timezone, reference_time=reference, default_host=args.host
        ),
        bounds=Bounds(max_lines=args.max_report_lines),
    )


def report_read_problems(stats: ReadStats) -> bool:
    """Print read errors and replaced bytes to stderr; True when a file could not be read."""
    for error in stats.errors:
        print(f"oom-enricher: cannot read {error}", file=sys.stderr)
    if stats.replaced_chars:
        print(
            f"oom-enricher: {stats.replaced_chars} undecodable byte sequence(s) "
            "replaced with U+FFFD",
            file=sys.stderr,
        )
    return bool(stats.errors)
