"""`oom-enricher` command line."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from oom_enricher import __version__
from oom_enricher.cli import exit_codes

DESCRIPTION = """\
Reassemble Linux kernel OOM-killer reports from logs into structured, explained
documents; index them into Elasticsearch, and report fleet-wide trends."""

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

EXIT_FOUND = exit_codes.OK
EXIT_NONE_FOUND = exit_codes.NONE_FOUND
EXIT_USAGE = exit_codes.USAGE
NOISY_LOGGERS = ("elasticsearch", "elastic_transport", "urllib3")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 already; keep the message short
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _finish_commands(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command: --verbose, the exit-code table, and a pointer to itself for errors."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sub in action.choices.values():
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            sub.epilog = sub.epilog or exit_codes.epilog()
            sub.add_argument(
                "-v",
                "--verbose",
                action="store_true",
                default=argparse.SUPPRESS,
                help="show details of errors (tracebacks, client logs)",
            )
            sub.set_defaults(command_parser=sub)
            _finish_commands(sub)


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
    parser = _Parser(
        prog="oom-enricher",
        description=DESCRIPTION,
        epilog=exit_codes.epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oom-enricher {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show details of errors")
    subparsers = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )
    for name in COMMAND_MODULES:
        if only is not None and name != f"{only}_cmd":
            continue
        importlib.import_module(f"oom_enricher.cli.{name}").register(subparsers)
    _finish_commands(parser)
    return parser


def _configure_logging(args: argparse.Namespace) -> dict[str, int]:
    """Logging for this run; returns the client loggers' previous levels to restore."""
    level = "DEBUG" if args.verbose else args.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    previous = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    if not args.verbose:
        # the clients log every retry with a traceback; commands print one line instead
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    return previous


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(chosen_command(argv))
    args, extra = parser.parse_known_args(argv)
    if extra:
        # an unknown option belongs to the command's usage, not the top level's
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not isinstance(logging.getLevelName(args.log_level.upper()), int):
        parser.error(f"--log-level: not a logging level: {args.log_level!r}")
    previous = _configure_logging(args)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        return EXIT_FOUND
    except KeyboardInterrupt:
        return 130
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
