"""`oom-enricher` command line: one module per subcommand, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from oom_enricher import __version__

# Each entry names a module in oom_enricher.cli that defines register(subparsers).
COMMAND_MODULES = [
    "parse_cmd",
    "explain_cmd",
    "report_cmd",
    "kibana_cmd",
    "setup_cmd",
    "ship_cmd",
    "backfill_cmd",
    "enrich_cmd",
    "serve_cmd",
]

EXIT_FOUND = 0
EXIT_NONE_FOUND = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep the message short
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand named on the command line, found without importing any command."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--log-level":
            next(tokens, None)
        elif not token.startswith("-"):
            return token if f"{token}_cmd" in COMMAND_MODULES else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """All subcommands, or just `only`: a command's module may import heavy libraries (the
    Elasticsearch client takes longer to import than `parse` takes on a small file)."""
    parser = _Parser(prog="oom-enricher", description=__doc__)
    parser.add_argument("--version", action="version", version=f"oom-enricher {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        if only is not None and name != f"{only}_cmd":
            continue
        importlib.import_module(f"oom_enricher.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args))
    except BrokenPipeError:
        return EXIT_FOUND
    except KeyboardInterrupt:
        return 130
