"""`oom-enricher parse`: one JSON document per OOM report, as JSON Lines on stdout."""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from oom_enricher.cli.common_args import (
    add_input_args,
    pipeline_options,
    positive_int,
    report_read_problems,
)
from oom_enricher.sources.file_reader import ReadStats
from oom_enricher.sources.progress import TerminalProgress

# Below this a file is read by one process: starting workers costs more than they save.
SPLIT_MIN_BYTES = 64 << 20


def register(subparsers) -> None:
    parser = subparsers.add_parser("parse", help="print one JSON document per OOM report")
    add_input_args(parser)
    parser.add_argument("--pretty", action="store_true", help="indent the JSON")
    parser.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="processes reading one big regular file (default: the CPUs available, at most "
        "8; 1 reads in this process); stdin, pipes and several files are read by one",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from oom_enricher.skimming.skim_files import skim_documents  # the pipeline, when it runs

    stats = ReadStats()
    progress = TerminalProgress("parsing")
    option = orjson.OPT_APPEND_NEWLINE | (orjson.OPT_INDENT_2 if args.pretty else 0)
    out = sys.stdout.buffer
    found = _split(args, out, option, stats, progress)
    if found is None:
        found = 0
        for doc in skim_documents(
            args.files, pipeline_options(args), stats, progress, max_line_bytes=args.max_line_bytes
        ):
            out.write(orjson.dumps(doc, option=option))
            found += 1
    out.flush()
    progress.close()
    if report_read_problems(stats):
        return 2
    return 0 if found else 1


def _split(args: argparse.Namespace, out, option: int, stats, progress) -> int | None:
    """Documents of one big regular file read by several processes; None when the input is
    read by this one."""
    if len(args.files) != 1 or args.jobs == 1 or not _big(args.files[0]):
        return None
    from oom_enricher.skimming import split_file  # multiprocessing only when it is used

    jobs = args.jobs or split_file.default_jobs()
    if not split_file.splittable(args.files[0], jobs, SPLIT_MIN_BYTES):
        return None
    try:
        return split_file.split_documents(
            args.files[0],
            out,
            jobs,
            pipeline_options(args),
            stats,
            progress,
            max_line_bytes=args.max_line_bytes,
            json_option=option,
        )
    except split_file.SplitError as error:
        stats.errors.append(f"{args.files[0]}: {error}")
        return 0


def _big(path: str) -> bool:
    try:
        return path != "-" and os.stat(path).st_size >= SPLIT_MIN_BYTES
    except OSError:
        return False  # reported when it is read
