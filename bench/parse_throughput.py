"""`parse` throughput against `grep -c 'invoked oom-killer'` on the same generated file.

Generates (once, cached under .cache/bench/) a fleet syslog file: noise from hundreds of
hosts with about 0.1% of lines in real OOM reports. Then, in this one run, times grep and
the full parse (skimming reader -> reassembly -> parsing -> enrichment -> JSON) several
times each and prints the best times and their ratio. The line-by-line reader runs once as
a second baseline.

    .venv/bin/python -m bench.parse_throughput [--lines 2000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import orjson

from bench.fleet_log import fleet_lines
from oom_enricher.pipeline import documents_from_lines
from oom_enricher.skimming.marker_finder import MarkerFinder
from oom_enricher.skimming.skim_files import skim_documents
from oom_enricher.sources.file_reader import read_lines

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench"


def ensure_file(lines: int, hosts: int) -> Path:
    path = CACHE / f"fleet-{lines}-{hosts}.log"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        with partial.open("w", encoding="utf-8") as out:
            for line in fleet_lines(lines, hosts, 0.001):
                out.write(line + "\n")
        partial.rename(path)
    return path


def best_of(repeat: int, action) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def grep_count(path: Path) -> int:
    done = subprocess.run(
        ["grep", "-c", "invoked oom-killer", str(path)], capture_output=True, check=False
    )
    return int(done.stdout or 0)


def parse_all(path: Path, finder: MarkerFinder) -> int:
    return sum(len(orjson.dumps(doc)) > 0 for doc in skim_documents([str(path)], finder=finder))


def parse_line_by_line(path: Path) -> int:
    return sum(1 for _ in documents_from_lines(read_lines([str(path)])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    path = ensure_file(args.lines, args.hosts)
    size = path.stat().st_size
    grep_s, grep_n = best_of(args.repeat, lambda: grep_count(path))
    finder = MarkerFinder()
    parse_s, docs = best_of(args.repeat, lambda: parse_all(path, finder))
    fallback_s, _ = best_of(args.repeat, lambda: parse_all(path, MarkerFinder(use_hyperscan=False)))
    lines_s, line_docs = best_of(1, lambda: parse_line_by_line(path))
    print(f"file: {path.name}, {args.lines} lines, {size / 2**20:.0f} MiB, {args.hosts} hosts")
    print(f"grep -c 'invoked oom-killer'  {grep_s:8.3f} s  ({grep_n} headers)")
    print(
        f"parse ({finder.engine:<10})      {parse_s:8.3f} s  ({docs} documents)"
        f"  ratio to grep {parse_s / grep_s:5.2f}x  {size / parse_s / 2**20:7.0f} MiB/s"
    )
    print(
        f"parse (bytes.find)          {fallback_s:8.3f} s"
        f"  ratio to grep {fallback_s / grep_s:5.2f}x"
    )
    print(
        f"parse (line by line)        {lines_s:8.3f} s  ({line_docs} documents)"
        f"  ratio to grep {lines_s / grep_s:5.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
