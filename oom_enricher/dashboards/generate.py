"""Writes the Kibana saved objects from the spec (python -m oom_enricher.dashboards.generate).

Two copies of one text: `oom_enricher/dashboards/oom_enricher.ndjson`, shipped inside the
package (what `oom-enricher kibana import` uploads by default), and
`dashboards/oom_enricher.ndjson` at the repository root, for users who import it by hand.
`--check` exits 1 when either committed copy differs from what the spec generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oom_enricher.dashboards.packaged import NDJSON_NAME
from oom_enricher.dashboards.saved_objects import all_objects, to_ndjson

PACKAGE_PATH = Path(__file__).resolve().parent / NDJSON_NAME
REPO = Path(__file__).resolve().parents[2]
NDJSON_PATH = REPO / "dashboards" / NDJSON_NAME
OUTPUTS = (PACKAGE_PATH, NDJSON_PATH)


def generated() -> str:
    return to_ndjson(all_objects())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, help="write (or check) only this file")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = generated()
    outputs = [args.output] if args.output else list(OUTPUTS)
    if args.check:
        stale = [p for p in outputs if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"{path} is out of date; regenerate it", file=sys.stderr)
        return 1 if stale else 0
    for path in outputs:
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
