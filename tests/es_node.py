"""A real Elasticsearch node for tests: the session fixture `es_url` and the `EsNode` helper.

`es_url` uses $OOM_ENRICHER_ES_URL when set; otherwise it starts one node with
scripts/es-node/start (which fetches Elasticsearch from Maven Central into .cache/ on first use)
and stops it at the end of the session. If the node cannot start, the fixture raises: the
tests that need it fail, they never skip.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts" / "es-node"
START_TIMEOUT_S = 300


def nodes_dir() -> Path:
    """Where node directories go: one that the node's user can reach (see cache-dir)."""
    cache = subprocess.run(
        [str(SCRIPTS / "cache-dir")], capture_output=True, text=True, check=True
    ).stdout.strip()
    path = Path(cache) / "es-nodes"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class EsNode:
    """One single-node cluster in its own directory; stop() and start() keep its data and port."""

    directory: Path
    url: str = ""
    port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # e.g. --user NAME:PW --tls C K CA

    @classmethod
    def create(cls) -> EsNode:
        return cls(Path(tempfile.mkdtemp(prefix="node-", dir=nodes_dir())))

    def start(self) -> str:
        cmd = [str(SCRIPTS / "start"), "--dir", str(self.directory)]
        if self.port is not None:
            cmd += ["--port", str(self.port)]
        cmd += self.extra_args
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S + 60,
            env={**os.environ, **self.extra_env},
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"Elasticsearch node did not start (exit {proc.returncode}):\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
            )
        self.url = proc.stdout.strip().splitlines()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self.url

    def stop(self, clean: bool = False) -> None:
        args = [str(SCRIPTS / "stop"), str(self.directory)] + (["--clean"] if clean else [])
        subprocess.run(args, check=False, timeout=120)


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    given = os.environ.get("OOM_ENRICHER_ES_URL")
    if given:
        yield given.rstrip("/")
        return
    node = EsNode.create()
    try:
        yield node.start()
    finally:
        node.stop(clean=True)


@pytest.fixture()
def es_node_factory() -> Iterator[type[EsNode]]:
    """For destructive tests: separate nodes that the test may stop and restart."""
    started: list[EsNode] = []

    class _Tracked(EsNode):
        @classmethod
        def create(cls) -> EsNode:
            node = super().create()
            started.append(node)
            return node

    yield _Tracked
    for node in started:
        node.stop(clean=True)
