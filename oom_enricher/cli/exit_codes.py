"""One table of exit codes for every command (shown in `--help` and in the README)."""

from __future__ import annotations

import textwrap

OK = 0
NONE_FOUND = 1
USAGE = 2
UNAVAILABLE = 3
REFUSED = 4
NOT_SAVED = 5

TABLE = (
    (OK, "success (parse, explain, ship: at least one OOM report found)"),
    (NONE_FOUND, "no OOM report in the input (parse, explain, ship)"),
    (USAGE, "usage error, invalid option or configuration, or an input that cannot be read"),
    (
        UNAVAILABLE,
        "Elasticsearch or Kibana unreachable or refused the request; "
        "ship and backfill keep the documents in the spool",
    ),
    (REFUSED, "some documents were refused (see the dead-letter file) or Kibana objects failed"),
    (NOT_SAVED, "ship: a document was neither indexed, spooled nor dead-lettered (disk full)"),
)


def epilog() -> str:
    rows = "\n".join(
        textwrap.fill(meaning, 78, initial_indent=f"  {code}  ", subsequent_indent="     ")
        for code, meaning in TABLE
    )
    return f"exit status:\n{rows}\n\nrun `oom-enricher COMMAND --help` for a command's options"
