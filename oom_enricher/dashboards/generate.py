"""Writes dashboards/oom_enricher.ndjson from the spec (python -m oom_enricher.dashboards.generate).

`--check` exits 1 when the committed file differs from what the spec generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oom_enricher.dashboards.saved_objects import all_objects, to_ndjson

REPO = Path(__file__).resolve().parents[2]
NDJSON_PATH = REPO / "dashboards" / "oom_enricher.ndjson"


def generated() -> str:
    return to_ndjson(all_objects())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=NDJSON_PATH)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = generated()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; regenerate it", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
