"""A throwaway Elasticsearch node for a benchmark run, started with the project's scripts."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def es_for_bench(url: str | None) -> Iterator[str]:
    """The given URL, or a fresh node on loopback that is stopped and removed afterwards."""
    if url:
        yield url.rstrip("/")
        return
    cache = subprocess.run(
        [str(REPO / "scripts/es-node/cache-dir")], capture_output=True, text=True, check=True
    ).stdout.strip()
    node_dir = Path(tempfile.mkdtemp(prefix="bench-node-", dir=cache))
    started = subprocess.run(
        [str(REPO / "scripts/es-node/start"), "--dir", str(node_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    try:
        yield started.stdout.split()[-1]
    finally:
        subprocess.run([str(REPO / "scripts/es-node/stop"), str(node_dir), "--clean"], check=False)
