"""`oom-enricher explain`: a readable summary per OOM report."""

from __future__ import annotations

import argparse
import shutil
import sys

from oom_enricher.cli.common_args import (
    add_input_args,
    pipeline_options,
    positive_int,
    report_read_problems,
)
from oom_enricher.sinks.explain_text import WIDTH, render
from oom_enricher.sources.file_reader import ReadStats
from oom_enricher.sources.progress import TerminalProgress


def register(subparsers) -> None:
    parser = subparsers.add_parser("explain", help="print a readable summary of each OOM report")
    add_input_args(parser)
    parser.add_argument(
        "--width",
        type=positive_int,
        metavar="COLUMNS",
        help=f"line width (default: the terminal's, {WIDTH} when not a terminal)",
    )
    parser.set_defaults(run=run)


def _width(args: argparse.Namespace) -> int:
    if args.width:
        return args.width
    if sys.stdout.isatty():
        return shutil.get_terminal_size((WIDTH, 24)).columns
    return WIDTH


def run(args: argparse.Namespace) -> int:
    from oom_enricher.skimming.skim_files import skim_documents  # the pipeline, when it runs

    stats = ReadStats()
    progress = TerminalProgress("reading")
    found, width = 0, _width(args)
    for doc in skim_documents(
        args.files, pipeline_options(args), stats, progress, max_line_bytes=args.max_line_bytes
    ):
        found += 1
        sys.stdout.write(("\n" if found > 1 else "") + render(doc, found, width))
    sys.stdout.flush()
    progress.close()
    if report_read_problems(stats):
        return 2
    if not found:
        print("oom-enricher: no OOM report found", file=sys.stderr)
    return 0 if found else 1
