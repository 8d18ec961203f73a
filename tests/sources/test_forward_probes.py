"""Connections to the TLS forward port that never become forward clients: a TCP health probe
is debug noise, a client that never completes the handshake is told apart with its causes."""

import asyncio
import logging
import ssl

import pytest

from oom_enricher.sources.forward_handshake import HandshakeConfig
from oom_enricher.sources.forward_server import ForwardServer, ForwardServerConfig

pytestmark = pytest.mark.integration
LOGGER = "oom_enricher.sources.forward_server"


async def _ignore(batch) -> None:
    return None


def _config(tls_files) -> ForwardServerConfig:
    return ForwardServerConfig(
        port=0,
        handshake=HandshakeConfig(shared_key="k", self_hostname="enricher"),
        tls_cert=str(tls_files.server_cert),
        tls_key=str(tls_files.server_key),
        handshake_timeout=0.5,
    )


async def _until(server: ForwardServer, name: str, labels: dict) -> None:
    for _ in range(250):
        if server.metrics.get(name, labels):
            return
        await asyncio.sleep(0.02)


def test_a_tcp_probe_on_the_tls_port_is_counted_and_logged_at_debug(tls_files, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    async def scenario() -> ForwardServer:
        server = ForwardServer(_config(tls_files), _ignore)
        await server.start()
        try:
            for _ in range(3):  # kubelet tcpSocket: connect, then close
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.close()
                await writer.wait_closed()
            for _ in range(250):
                if server.metrics.get("probes", {"source": "forward"}) == 3:
                    break
                await asyncio.sleep(0.02)
        finally:
            await server.stop()
        return server

    server = asyncio.run(scenario())
    assert server.metrics.get("probes", {"source": "forward"}) == 3
    assert not server.metrics.get("errors", {"source": "forward", "kind": "tls_handshake"})
    records = [r for r in caplog.records if r.name == LOGGER and "probe" in r.getMessage()]
    assert len(records) == 3 and {r.levelno for r in records} == {logging.DEBUG}
    assert "health checks belong on the HTTP port" in records[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_client_that_never_completes_the_handshake_is_named_with_likely_causes(tls_files, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    context = ssl.create_default_context(cafile=str(tls_files.ca_cert))

    async def scenario() -> ForwardServer:
        server = ForwardServer(_config(tls_files), _ignore)
        await server.start()
        try:
            # TLS completes, then nothing: what Fluentd does when its host name check crashes
            _, writer = await asyncio.open_connection(
                "127.0.0.1", server.port, ssl=context, server_hostname="localhost"
            )
            await _until(server, "errors", {"source": "forward", "kind": "auth"})
            writer.close()
        finally:
            await server.stop()
        return server

    server = asyncio.run(scenario())
    assert server.metrics.get("errors", {"source": "forward", "kind": "auth"}) == 1
    (record,) = [r for r in caplog.records if "closing connection" in r.getMessage()]
    message = record.getMessage()
    assert "client connected but sent no PING within 0.5 s" in message
    assert "never completed the forward handshake" in message
    assert "needs <server> name" in message and "probes belong on the HTTP port" in message


def test_the_shipped_fluentd_config_names_the_server_for_tls():
    from tests.corpus_cases import REPO

    conf = (REPO / "pipelines" / "fluentd" / "fluent.conf").read_text(encoding="utf-8")
    server = conf[conf.index("<server>") : conf.index("</server>")]
    assert "tls_verify_hostname true" in conf
    assert "name \"#{ENV['OOM_ENRICHER_TLS_NAME'] || ENV['OOM_ENRICHER_HOST']}\"" in server
    readme = (REPO / "pipelines" / "README.md").read_text(encoding="utf-8")
    assert "`<server> name`" in readme and "ascii_only?" in readme
