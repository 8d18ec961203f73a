"""Syslog receiver against util-linux `logger` and a private rsyslogd, on loopback."""

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from oom_enricher.model import ShippedRecord
from oom_enricher.sources.syslog_receiver import SyslogConfig, SyslogReceiver
from tests.sources.corpus_stream import (
    SYSLOG_CASES,
    kernel_lines,
    offline_documents,
    pipeline_documents,
    projection,
)

pytestmark = pytest.mark.integration


class Collector:
    def __init__(self) -> None:
        self.records: list[ShippedRecord] = []

    async def __call__(self, records: list[ShippedRecord]) -> None:
        self.records.extend(records)


async def wait_for(predicate, limit: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def run_receiver(scenario) -> Collector:
    async def main() -> Collector:
        collector = Collector()
        receiver = SyslogReceiver(SyslogConfig(udp_port=0, tcp_port=0), collector)
        await receiver.start()
        try:
            await scenario(receiver, collector)
        finally:
            await receiver.stop()
        return collector

    return asyncio.run(main())


LOGGER_MODES = [
    ("--tcp", "--rfc3164", False),
    ("--tcp", "--rfc5424", False),
    ("--tcp", "--rfc5424", True),
    ("--tcp", "--rfc3164", True),
    ("--udp", "--rfc3164", False),
    ("--udp", "--rfc5424", False),
]


@pytest.mark.parametrize(("transport", "fmt", "octet"), LOGGER_MODES)
@pytest.mark.parametrize("case", SYSLOG_CASES)
def test_logger_delivers_corpus_reports(case, transport, fmt, octet):
    lines = kernel_lines(case)
    assert lines
    payload = "".join(msg + "\n" for _, _, msg in lines if msg.strip())

    async def scenario(receiver, collector):
        port = receiver.tcp_port if transport == "--tcp" else receiver.udp_port
        cmd = ["logger", transport, fmt, "-n", "127.0.0.1", "-P", str(port), "-t", "kernel",
               "-p", "kern.warning"] + (["--octet-count"] if octet else [])  # fmt: skip
        if transport == "--udp":
            # One datagram at a time so the test is not about loopback UDP buffer overruns.
            for _, _, msg in lines:
                if msg.strip():
                    proc = await asyncio.create_subprocess_exec(*cmd, msg)
                    assert await proc.wait() == 0
        else:
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=subprocess.PIPE)
            await proc.communicate(payload.encode())
            assert proc.returncode == 0
        expected = payload.count("\n")
        await wait_for(lambda: len(collector.records) >= expected)

    collector = run_receiver(scenario)
    sent = [msg for _, _, msg in lines if msg.strip()]
    assert [r.message.rstrip() for r in collector.records] == [m.rstrip() for m in sent]
    assert {r.host for r in collector.records} == {socket.gethostname()}
    # logger turns facility kern into user (userspace may not claim kern); the tag decides.
    assert all(r.fields["is_kernel"] and r.fields["priority"] == 4 for r in collector.records)
    assert projection(pipeline_documents(collector.records)) == projection(
        offline_documents([line for line, _, msg in lines if msg.strip()])
    )


RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imfile" mode="polling" PollingInterval="1")
input(type="imfile" File="{source}" Tag="kernel:" Facility="kern" Severity="warning")
action(type="omfwd" target="127.0.0.1" port="{port}" protocol="{protocol}"
       TCP_Framing="{framing}" template="{template}")
"""


@pytest.mark.parametrize(
    ("protocol", "framing", "template"),
    [
        ("tcp", "octet-counted", "RSYSLOG_SyslogProtocol23Format"),
        ("tcp", "traditional", "RSYSLOG_ForwardFormat"),
        ("udp", "traditional", "RSYSLOG_TraditionalForwardFormat"),
    ],
)
def test_rsyslog_forwards_a_followed_file(protocol, framing, template, tmp_path: Path):
    subprocess.run(
        ["scripts/install-system-deps", "rsyslog"], check=True, cwd=Path(__file__).parents[2]
    )
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    lines = kernel_lines("007")
    source = tmp_path / "kern.log"
    source.write_text("".join(msg + "\n" for _, _, msg in lines))
    work = tmp_path / "work"
    work.mkdir()

    async def scenario(receiver, collector):
        port = receiver.tcp_port if protocol == "tcp" else receiver.udp_port
        conf = tmp_path / "rsyslog.conf"
        values = {"protocol": protocol, "framing": framing, "template": template}
        conf.write_text(RSYSLOG_CONF.format(work=work, source=source, port=port, **values))
        pidfile = tmp_path / "rsyslogd.pid"
        proc = await asyncio.create_subprocess_exec(
            rsyslogd, "-n", "-f", str(conf), "-i", str(pidfile),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            await wait_for(lambda: len(collector.records) >= len(lines), limit=60)
        finally:
            proc.terminate()
            out, _ = await proc.communicate()
        assert len(collector.records) >= len(lines), out.decode(errors="replace")[-2000:]

    collector = run_receiver(scenario)
    assert [r.message.rstrip() for r in collector.records] == [m.rstrip() for _, _, m in lines]
    assert {r.host for r in collector.records} == {socket.gethostname()}
    assert all(r.fields["program"] == "kernel" for r in collector.records)
    assert projection(pipeline_documents(collector.records)) == projection(
        offline_documents([line for line, _, _ in lines])
    )
