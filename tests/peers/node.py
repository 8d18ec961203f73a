"""npm `fluent-logger` as a forward-protocol client, installed project-locally and idempotently."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

PEERS = Path(__file__).resolve().parent
SENDER = PEERS / "forward_send.js"


def ensure_node_modules() -> None:
    """`npm ci` into tests/peers/node_modules unless the lockfile's packages are already there."""
    marker = PEERS / "node_modules" / ".package-lock.json"
    lock = PEERS / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(PEERS)],
        check=True,
        capture_output=True,
        timeout=300,
    )


async def node_send(spec: dict, workdir: Path, timeout: float = 60.0) -> tuple[int, str]:
    """Run the sender with `spec`; returns (exit code, stderr)."""
    spec_file = workdir / f"spec-{id(spec)}.json"
    spec_file.write_text(json.dumps(spec))
    proc = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        str(SENDER),
        str(spec_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "timeout"
    return proc.returncode or 0, err.decode(errors="replace")
