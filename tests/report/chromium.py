"""Headless Chromium as a real browser peer: screenshots and rendered DOM of report pages."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def ensure_chromium() -> str:
    """Installs the Debian package when missing; returns the binary path."""
    subprocess.run([str(REPO / "scripts" / "install-system-deps"), "chromium"], check=True)
    binary = shutil.which("chromium")
    if binary is None:
        raise RuntimeError("chromium is not on PATH after installing it")
    return binary


def _run(binary: str, page: Path, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )


def screenshot(binary: str, page: Path, out: Path, size: tuple[int, int] = (1300, 2600)) -> Path:
    _run(binary, page, f"--window-size={size[0]},{size[1]}", f"--screenshot={out}")
    return out


def dump_dom(binary: str, page: Path) -> str:
    return _run(binary, page, "--dump-dom").stdout
