"""`oom-enricher parse FILE` as a user runs it, against `grep -c` on the same 1 GiB file.

Both run as processes (start-up included) with their output written to a file: GNU grep
stops at the first match when its output is /dev/null, so the baseline must write its count
somewhere. Two generated fleet syslog files (cached under .cache/bench/), 500 hosts, noise
that includes kernel lines, at two report densities: dense (about 0.9 reports per MiB) and
sparse (about 0.13 per MiB). Runs alternate grep, `parse` as users run it (the default
`--jobs`: one process per CPU on a file this big) and `parse --jobs 1` (one process), so the
effect of splitting is visible; the best wall time of each is taken and the ratios to grep
printed. Both parse runs must write the same documents. The start-up line times the same
commands on an empty file. The interpreter line times a fixed pure-Python loop: grep is
bound by memory and parse by the interpreter, so between machines (or one machine under
neighbours' load) the ratios move with it; compare ratios only where it is close.

    .venv/bin/python -m bench.parse_cli [--size-mib 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.fleet_log import fleet_lines

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench"
CLI = Path(sys.executable).with_name("oom-enricher")
DENSITIES = {"dense": 0.0088, "sparse": 0.0013}  # share of lines that are report lines
LINE_BYTES = 104  # mean length of a generated line, to size a file before writing it


def ensure_file(size_mib: int, hosts: int, share: float) -> Path:
    path = CACHE / f"fleet-{size_mib}MiB-{hosts}h-{share}.log"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    lines = size_mib * 2**20 // LINE_BYTES
    print(f"generating {path.name} ({lines} lines, once)...", file=sys.stderr, flush=True)
    with partial.open("w", encoding="utf-8") as out:
        batch: list[str] = []
        for line in fleet_lines(lines, hosts, share):
            batch.append(line)
            if len(batch) == 10_000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        out.write("".join(line + "\n" for line in batch))
    partial.rename(path)
    return path


def timed(command: list[str], out: Path) -> float:
    with out.open("wb") as sink:
        start = time.perf_counter()
        subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - start


def _stable(path: Path) -> bytes:
    return re.sub(rb'"created":"[^"]*"', b"", path.read_bytes())  # the time of the run


def measure(path: Path, repeat: int, workdir: Path) -> dict:
    outs = {name: workdir / f"{name}.out" for name in ("grep", "parse", "jobs1")}
    commands = {
        "grep": ["grep", "-c", "invoked oom-killer", str(path)],
        "parse": [str(CLI), "parse", str(path)],
        "jobs1": [str(CLI), "parse", "--jobs", "1", str(path)],
    }
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(repeat):
        for name, command in commands.items():
            best[name] = min(best[name], timed(command, outs[name]))
    if path.stat().st_size and _stable(outs["parse"]) != _stable(outs["jobs1"]):
        raise SystemExit(f"{path.name}: parse and parse --jobs 1 wrote different documents")
    with outs["parse"].open("rb") as docs:
        documents = sum(1 for _ in docs)
    return {
        "grep_s": best["grep"],
        "parse_s": best["parse"],
        "jobs1_s": best["jobs1"],
        "headers": int(outs["grep"].read_text() or 0),
        "documents": documents,
    }


INTERPRETER_LOOPS = 5_000_000


def interpreter_seconds(loops: int = INTERPRETER_LOOPS) -> float:
    """The best of three runs of a fixed pure-Python loop (why: the module's docstring)."""
    best = float("inf")
    for _ in range(3):
        start, total = time.perf_counter(), 0
        for i in range(loops):
            total += i
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.log"
        empty.touch()
        start = measure(empty, max(args.repeat, 5), Path(tmp))
        print(
            f"start-up (empty file)  grep -c {start['grep_s']:6.3f} s"
            f"  parse {start['parse_s']:6.3f} s  parse --jobs 1 {start['jobs1_s']:6.3f} s",
            flush=True,
        )
        print(
            f"interpreter: a {INTERPRETER_LOOPS:,}-step Python loop {interpreter_seconds():6.3f} s",
            flush=True,
        )
        for name, share in DENSITIES.items():
            path = ensure_file(args.size_mib, args.hosts, share)
            size_mib = os.path.getsize(path) / 2**20
            result = measure(path, args.repeat, Path(tmp))
            print(
                f"{name:<6} {size_mib:6.0f} MiB  {result['documents'] / size_mib:5.2f} reports/MiB"
                f"  grep -c {result['grep_s']:6.3f} s ({result['headers']} headers)"
                f"  parse {result['parse_s']:6.3f} s ({result['documents']} documents)"
                f"  ratio {result['parse_s'] / result['grep_s']:5.2f}x"
                f"  (--jobs 1 {result['jobs1_s']:6.3f} s,"
                f" {result['jobs1_s'] / result['grep_s']:5.2f}x)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
