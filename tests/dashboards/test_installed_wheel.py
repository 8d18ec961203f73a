"""The package as users install it: a wheel built from the sources alone, in a fresh virtualenv.

Nothing of the checkout is on the path of the installed commands (they run from an empty
directory), so a file the wheel does not carry fails here as it fails for users.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from oom_enricher.dashboards.generate import NDJSON_PATH, PACKAGE_PATH
from tests.corpus_cases import REPO
from tests.dashboards.fake_kibana import FakeKibana, start
from tests.dashboards.ndjson import load_objects

pytestmark = pytest.mark.integration


def _check(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh virtualenv with the wheel installed (dependencies from the same index
    as the Makefile's, usually straight from pip's cache)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "oom_enricher", source / "oom_enricher", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = base / "wheels"
    _check(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), "."], source
    )
    (wheel,) = wheels.glob("oom_enricher-*.whl")
    venv = base / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], base)
    _check([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], base)
    return venv / "bin"


def test_the_repository_copy_of_the_dashboards_is_the_packaged_one():
    assert PACKAGE_PATH.read_bytes() == NDJSON_PATH.read_bytes()


def test_kibana_import_from_an_installed_wheel_uploads_the_packaged_dashboards(installed, tmp_path):
    kibana = FakeKibana()
    server, thread = start(kibana)
    try:
        done = _check(
            [str(installed / "oom-enricher"), "kibana", "import", "--kibana", kibana.url], tmp_path
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
    count = len(load_objects())
    assert done.stdout.decode() == f"imported {count} objects into {kibana.url}\n"
    (request,) = kibana.requests
    name, filename, content = request.form_file()
    assert (name, filename) == ("file", "oom_enricher.ndjson")
    assert content == NDJSON_PATH.read_bytes()


def test_parse_and_help_from_an_installed_wheel(installed, tmp_path):
    sample = tmp_path / "sample.log"
    shutil.copy(REPO / "oom_enricher" / "samples" / "seed-docker-beam.log", sample)
    done = _check([str(installed / "oom-enricher"), "parse", str(sample)], tmp_path)
    (doc,) = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert doc["oom"]["victims"][0]["pid"] == 20977
    assert doc["oom"]["limit_hit"] == "memory+swap"
    helped = _check([str(installed / "oom-enricher"), "kibana", "import", "--help"], tmp_path)
    assert b"default: the dashboards shipped in" in helped.stdout
