"""Session fixtures for the real peers (npm fluent-logger, throwaway TLS files)."""

import pytest

from tests.peers.node import ensure_node_modules
from tests.peers.tls import make_tls_files


@pytest.fixture(scope="session")
def node_peer():
    ensure_node_modules()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"))
