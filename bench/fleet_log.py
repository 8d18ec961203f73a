"""Generate a fleet's interleaved syslog: noise from many hosts with real OOM reports inside.

The reports are the kernel messages of the real corpus reports, re-hosted; each report's
lines arrive within a second of each other, interleaved with other hosts' lines, the way a
central syslog file receives them.

    python bench/fleet_log.py OUT.log --lines 2000000 --hosts 400 --oom-share 0.001
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.reassembly.assembler import Assembler

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = REPO / "tests" / "corpus"

NOISE = (
    ("sshd[{pid}]", "Accepted publickey for deploy from 10.0.{a}.{b} port {port} ssh2"),
    ("sshd[{pid}]", "pam_unix(sshd:session): session closed for user deploy"),
    ("systemd[1]", "Started Session {n} of user root."),
    ("CRON[{pid}]", "(root) CMD (/usr/local/bin/rotate --quiet)"),
    ("kernel", "[{mono:12.6f}] IPv6: ADDRCONF(NETDEV_CHANGE): veth{b}{a}: link becomes ready"),
    ("kernel", "[{mono:12.6f}] eth0: renamed from veth{a}{b}"),
    ("containerd[{pid}]", 'level=info msg="shim disconnected" id={n}'),
    ("kubelet[{pid}]", 'I1128 "SyncLoop (PLEG): event for pod" pod="default/web-{n}"'),
    ("dockerd[{pid}]", 'level=info msg="ignoring event" topic=/tasks/delete'),
    ("kernel", '[{mono:12.6f}] audit: type=1400 apparmor="STATUS" operation="profile_load"'),
)


def report_templates(folder: Path = TEMPLATE_DIR) -> list[list[str]]:
    """Kernel messages of every complete corpus report."""
    templates = []
    for log in sorted(folder.glob("*.log")):
        normalizer, assembler = LineNormalizer(), Assembler()
        blocks = []
        for raw in log.read_text(encoding="utf-8", errors="replace").split("\n"):
            for line in normalizer.normalize(raw):
                blocks += assembler.feed(line)
        blocks += assembler.finish()
        templates += [[line.message for line in block.lines] for block in blocks if block.complete]
    return templates


def _syslog(stamp: datetime, host: str, tag: str, message: str) -> str:
    return f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} {host} {tag}: {message}"


def fleet_lines(
    total: int, hosts: int, oom_share: float, seed: int = 7, start: datetime | None = None
) -> Iterator[str]:
    rng = random.Random(seed)
    templates = report_templates()
    names = [f"node-{index:04d}.fleet.example" for index in range(hosts)]
    stamp = start or datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
    mean_report = sum(map(len, templates)) / len(templates)
    report_every = max(int(mean_report / oom_share), 1)
    pending: list[tuple[str, list[str]]] = []  # (host, remaining report lines)
    emitted = 0
    while emitted < total:
        stamp += timedelta(microseconds=rng.randrange(200, 2000))
        if rng.randrange(report_every) < 1 and len(pending) < 4:
            pending.append((rng.choice(names), list(rng.choice(templates))))
        if pending and rng.random() < 0.6:
            host, remaining = pending[0] if rng.random() < 0.8 else rng.choice(pending)
            mono = 1000 + (stamp.timestamp() % 86400)
            yield _syslog(stamp, host, "kernel", f"[{mono:12.6f}] {remaining.pop(0)}")
            pending = [item for item in pending if item[1]]
        else:
            yield _noise(rng, stamp, rng.choice(names))
        emitted += 1


def _noise(rng: random.Random, stamp: datetime, host: str) -> str:
    tag, text = rng.choice(NOISE)
    values = {
        "pid": rng.randrange(300, 60000),
        "a": rng.randrange(256),
        "b": rng.randrange(256),
        "port": rng.randrange(1024, 65535),
        "n": rng.randrange(1, 99999),
        "mono": 1000 + (stamp.timestamp() % 86400),
    }
    return _syslog(stamp, host, tag.format(**values), text.format(**values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="file to write ('-' for stdout)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--oom-share", type=float, default=0.001, help="share of lines in reports")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    with out:
        for line in fleet_lines(args.lines, args.hosts, args.oom_share, args.seed):
            out.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
