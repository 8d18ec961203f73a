"""`oom-enricher serve` as a process: flags + TOML, --dry-run output, SIGTERM, bad config."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.fleet import CORPUS, projection
from tests.sources.corpus_stream import offline_documents

pytestmark = pytest.mark.integration


def test_dry_run_follows_a_file_prints_documents_and_stops_on_sigterm(tmp_path: Path):
    source = (CORPUS / "007-aks-k8s-memcg-v2-5.15-azure-syslog-interleaved.log").read_text()
    log = tmp_path / "kern.log"
    log.write_text(source)
    config = tmp_path / "serve.toml"
    config.write_text("tick_interval = 0.1\n[pipeline]\nmax_wall_age = 0.5\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "oom_enricher", "serve", "-c", str(config), "--follow", str(log),
         "--dry-run", "--no-http", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    lines: list[bytes] = []
    try:
        assert proc.stdout is not None
        for _ in range(2):
            lines.append(proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    docs = [json.loads(x) for x in lines + out.splitlines() if x.strip()]
    want = offline_documents(source.splitlines())
    for doc in docs:  # closed by the wall-clock bound instead of end of input
        if doc["oom"]["incomplete_reason"] == "max_wall_age":
            doc["oom"]["incomplete_reason"] = "end_of_input"
    assert projection(docs) == projection(want)
    assert not (tmp_path / "state" / "state.json").exists()  # a dry run changes no state


def test_bad_config_exits_2(tmp_path: Path):
    config = tmp_path / "bad.toml"
    config.write_text("[sources.carrier_pigeon]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "oom_enricher", "serve", "-c", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown source(s): carrier_pigeon" in proc.stderr
