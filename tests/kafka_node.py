"""A real Apache Kafka broker for tests: the session fixture `kafka_bootstrap` and `KafkaNode`.

`kafka_bootstrap` uses $OOM_ENRICHER_KAFKA_BOOTSTRAP when set; otherwise it starts one KRaft
broker with scripts/kafka-node/start (which fetches the Kafka jars from Maven Central into
.cache/ on first use) and stops it at the end of the session. If the broker cannot start, the
fixture raises: the tests that need it fail, they never skip.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts" / "kafka-node"
START_TIMEOUT_S = 240


@dataclass
class KafkaNode:
    """One broker in its own directory; stop() and start() keep its data, topics and port."""

    directory: Path
    bootstrap: str = ""
    port: int | None = None

    @classmethod
    def create(cls) -> KafkaNode:
        base = REPO / ".cache" / "kafka-nodes"
        base.mkdir(parents=True, exist_ok=True)
        return cls(Path(tempfile.mkdtemp(prefix="node-", dir=base)))

    def start(self) -> str:
        cmd = [str(SCRIPTS / "start"), "--dir", str(self.directory)]
        if self.port is not None:
            cmd += ["--port", str(self.port)]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=START_TIMEOUT_S + 60, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"Kafka broker did not start (exit {proc.returncode}):\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
            )
        self.bootstrap = proc.stdout.strip().splitlines()[-1]
        self.port = int(self.bootstrap.rsplit(":", 1)[1])
        return self.bootstrap

    def stop(self, clean: bool = False) -> None:
        args = [str(SCRIPTS / "stop"), str(self.directory)] + (["--clean"] if clean else [])
        subprocess.run(args, check=False, timeout=120)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("OOM_ENRICHER_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    node = KafkaNode.create()
    try:
        yield node.start()
    finally:
        node.stop(clean=True)


@pytest.fixture()
def kafka_node_factory() -> Iterator[type[KafkaNode]]:
    """For destructive tests: separate brokers that the test may stop and restart."""
    started: list[KafkaNode] = []

    class _Tracked(KafkaNode):
        @classmethod
        def create(cls) -> KafkaNode:
            node = super().create()
            started.append(node)
            return node

    yield _Tracked
    for node in started:
        node.stop(clean=True)
