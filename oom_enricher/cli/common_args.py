"""Options shared by the commands that read kernel logs."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from oom_enricher.reassembly.bounds import Bounds
from oom_enricher.sources.file_reader import MAX_LINE_BYTES, ReadStats

if TYPE_CHECKING:
    from oom_enricher.pipeline import PipelineOptions


def zone_name(text: str) -> str:
    """An IANA time zone name (argparse type): a usage error, not a traceback, when unknown."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(text)
    except (KeyError, ValueError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r} (e.g. Europe/Berlin)"
        ) from exc
    return text


def positive_int(text: str) -> int:
    """An integer of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_input_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="log files; '-' or none reads stdin"
    )
    parser.add_argument("--host", help="host name for lines that carry none (raw dmesg, bare text)")
    parser.add_argument(
        "--timezone",
        default="UTC",
        type=zone_name,
        help="zone of RFC 3164 and `dmesg -T` stamps, e.g. Europe/Berlin (default UTC)",
    )
    parser.add_argument(
        "--year",
        type=positive_int,
        help="year of the newest RFC 3164 stamps, which carry none (default: inferred from today)",
    )
    parser.add_argument(
        "--max-report-lines",
        type=positive_int,
        default=Bounds().max_lines,
        metavar="N",
        help=f"lines kept per report (default {Bounds().max_lines})",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=positive_int,
        default=MAX_LINE_BYTES,
        metavar="N",
        help=f"longer lines are cut to N bytes and counted (default {MAX_LINE_BYTES})",
    )


def pipeline_options(args: argparse.Namespace) -> PipelineOptions:
    # imported when a command runs, not when its options are declared (`--help`, usage errors)
    from oom_enricher.normalize.line_normalizer import NormalizeOptions
    from oom_enricher.pipeline import PipelineOptions

    reference = datetime(args.year, 12, 31, tzinfo=UTC) if args.year else None
    return PipelineOptions(
        normalize=NormalizeOptions(
            timezone=args.timezone, reference_time=reference, default_host=args.host
        ),
        bounds=Bounds(max_lines=args.max_report_lines),
    )


def report_read_problems(stats: ReadStats) -> bool:
    """Print read errors, cut lines and replaced bytes to stderr; True when a file could not be
    read."""
    for error in stats.errors:
        print(f"oom-enricher: cannot read {error}", file=sys.stderr)
    if stats.lines_cut:
        print(
            f"oom-enricher: {stats.lines_cut} line(s) longer than the line cap "
            f"(--max-line-bytes) cut; {stats.bytes_cut} byte(s) dropped",
            file=sys.stderr,
        )
    if stats.replaced_chars:
        print(
            f"oom-enricher: {stats.replaced_chars} undecodable byte sequence(s) "
            "replaced with U+FFFD",
            file=sys.stderr,
        )
    return bool(stats.errors)
