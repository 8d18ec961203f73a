"""What one OOM report costs `oom-enricher parse`, against `grep -c` on the same files.

The CLI runs as a process (start-up included, output to a file) on two generated fleet
syslog files of the same size (cached under .cache/bench/, shared with bench.parse_cli), one
dense in reports and one sparse. The difference of their parse times over the difference of
their report counts is the cost of one report (its lines normalised, reassembled, parsed,
enriched and written); the same difference over their report lines is the cost of one
report line. Each is printed in milliseconds and as MiB of `grep -c` work (grep's time per
MiB measured in the same run), so that numbers from a busy machine still compare. Runs
alternate grep and parse; the best wall time of each is taken.

    .venv/bin/python -m bench.parse_per_report [--size-mib 128] [--repeat 5] [--command CMD]

Parse runs as one process (`--jobs 1`): the cost per report is CPU work, which a split over
processes spreads but does not shrink. `--command` runs another build (`"python -m
oom_enricher"` of another checkout) instead of this one's `oom-enricher`, to compare two
versions on the same machine in turn (`--parse-args ""` for a build without `--jobs`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
from pathlib import Path

import orjson

from bench.parse_cli import CLI, DENSITIES, ensure_file, timed


def measure(
    path: Path, repeat: int, workdir: Path, command: list[str], parse_args: list[str]
) -> dict:
    grep_out, parse_out = workdir / "grep.out", workdir / "parse.out"
    grep_s = parse_s = float("inf")
    for _ in range(repeat):
        grep_s = min(grep_s, timed(["grep", "-c", "invoked oom-killer", str(path)], grep_out))
        parse_s = min(parse_s, timed([*command, "parse", *parse_args, str(path)], parse_out))
    docs = [orjson.loads(line) for line in parse_out.read_bytes().splitlines()]
    return {
        "grep_s": grep_s,
        "parse_s": parse_s,
        "reports": len(docs),
        "report_lines": sum(doc["oom"]["lines_count"] for doc in docs),
        "mib": os.path.getsize(path) / 2**20,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--command", default=str(CLI), help="the CLI to run (default: this one)")
    parser.add_argument("--parse-args", default="--jobs 1", help="options given to parse")
    args = parser.parse_args(argv)
    command, parse_args = shlex.split(args.command), shlex.split(args.parse_args)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, share in DENSITIES.items():
            path = ensure_file(args.size_mib, args.hosts, share)
            results[name] = result = measure(path, args.repeat, Path(tmp), command, parse_args)
            ratio = result["parse_s"] / result["grep_s"]
            print(
                f"{name:<6} {result['mib']:6.0f} MiB  {result['reports']:5d} reports"
                f"  {result['report_lines']:7d} report lines  grep -c {result['grep_s']:6.3f} s"
                f"  parse {result['parse_s']:6.3f} s  ratio {ratio:5.2f}x",
                flush=True,
            )
    dense, sparse = results["dense"], results["sparse"]
    grep_s_per_mib = min(dense["grep_s"] / dense["mib"], sparse["grep_s"] / sparse["mib"])
    extra_s = dense["parse_s"] - sparse["parse_s"]
    per_report = extra_s / max(dense["reports"] - sparse["reports"], 1)
    per_line = extra_s / max(dense["report_lines"] - sparse["report_lines"], 1)
    print(
        f"per report {per_report * 1e3:6.3f} ms (grep -c on {per_report / grep_s_per_mib:5.2f} MiB)"
        f"  per report line {per_line * 1e6:6.2f} us"
        f" (grep -c on {per_line / grep_s_per_mib * 1024:5.2f} KiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
