"""`make demo`: what a newcomer sees first is readable, and says how to get the raw documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.corpus_cases import REPO

HEADER = "time (UTC)      host       killed        limit hit    usage  where"


def test_make_demo_is_readable_at_80_columns():
    # STAMP= skips building a virtualenv: the demo runs with the interpreter running the tests
    done = subprocess.run(
        ["make", "-s", "demo", "STAMP=", f"BIN={Path(sys.executable).parent}"],
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    hints = lines[-2:]  # they name the virtualenv, whose path is this machine's
    assert max(len(line) for line in lines[:-2]) <= 80
    assert lines[1] == "OOM report #1: killed sh (20977)"
    table = lines[lines.index(HEADER) :]
    assert table[1:5] == [
        "11-20 08:00:00  node-0005  xray          memory       102%   pod 089f25ee…",
        "11-20 08:00:01  node-0010  sh            memory+swap  100%   ctr a4d47fb7bbc8",
        "11-20 08:00:01  node-0000  stress-ng-vm  memory       100%   pod 5931aa75…",
        "11-20 08:00:02  node-0006  xray          memory       102%   pod 089f25ee…",
    ]
    assert table[6].startswith("The documents themselves, as JSON Lines")
    assert hints[0].endswith("/oom-enricher parse oom_enricher/samples/fleet-interleaved.log")
