"""The shipped pipelines/ configurations: the rsyslog snippet runs in a real rsyslogd; the
Fluent Bit and Fluentd files are checked for the settings the receiver relies on."""

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oom_enricher.sources.syslog_receiver import SyslogConfig, SyslogReceiver
from tests.sources.corpus_stream import kernel_lines

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "pipelines"


@pytest.mark.integration
def test_rsyslog_snippet_forwards_kernel_facility_only(tmp_path: Path):
    subprocess.run([str(REPO / "scripts" / "install-system-deps"), "rsyslog"], check=True)
    snippet = (PIPELINES / "rsyslog" / "60-oom-enricher.conf").read_text()
    lines = [msg for _, _, msg in kernel_lines("007")]
    kern, user = tmp_path / "kern.log", tmp_path / "user.log"
    kern.write_text("".join(m + "\n" for m in lines))
    user.write_text("not a kernel line\n")
    received: list = []

    async def main() -> str:
        receiver = SyslogReceiver(SyslogConfig(udp_port=None, tcp_port=0), _collect(received))
        await receiver.start()
        conf = tmp_path / "rsyslog.conf"
        conf.write_text(
            f'global(workDirectory="{tmp_path}")\n'
            'module(load="imfile" mode="polling" PollingInterval="1")\n'
            f'input(type="imfile" File="{kern}" Tag="kernel:" Facility="kern")\n'
            f'input(type="imfile" File="{user}" Tag="app:" Facility="user")\n'
            + snippet.replace("oom-enricher.example.internal", "127.0.0.1").replace(
                'port="5140"', f'port="{receiver.tcp_port}"'
            )
        )
        check = subprocess.run(
            [shutil.which("rsyslogd") or "/usr/sbin/rsyslogd", "-N1", "-f", str(conf)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr
        proc = await asyncio.create_subprocess_exec(
            shutil.which("rsyslogd") or "/usr/sbin/rsyslogd", "-n", "-f", str(conf),
            "-i", str(tmp_path / "pid"),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            for _ in range(600):
                if len(received) >= len(lines):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # a user-facility line would have arrived by now
        finally:
            proc.terminate()
            out, _ = await proc.communicate()
            await receiver.stop()
        return out.decode(errors="replace")

    output = asyncio.run(main())
    assert [r.message for r in received] == lines, output
    assert {r.fields["program"] for r in received} == {"kernel"}
    assert {r.fields["format"] for r in received} == {"rfc5424"}


def _collect(into: list):
    async def handler(records) -> None:
        into.extend(records)

    return handler


def classic_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := re.fullmatch(r"\[(\w+)\]", line):
            sections.append((m[1], {}))
        else:
            key, _, value = line.partition(" ")
            sections[-1][1][key.lower()] = value.strip()
    return sections


def test_fluent_bit_classic_forwards_kernel_with_ack_key_and_tls():
    sections = classic_sections((PIPELINES / "fluent-bit" / "fluent-bit.conf").read_text())
    inputs = [s for name, s in sections if name == "INPUT"]
    outputs = [s for name, s in sections if name == "OUTPUT"]
    assert {"name": "kmsg", "tag": "kernel"}.items() <= inputs[1].items()
    forward = next(s for s in outputs if s["name"] == "forward")
    assert forward["match"] == "kernel"
    assert forward["require_ack_response"] == "true"
    assert forward["shared_key"] == "${OOM_ENRICHER_SHARED_KEY}"
    assert forward["tls"] == "on" and forward["tls.verify"] == "on"
    assert any(s["match"] == "*" and s["name"] != "forward" for s in outputs)  # raw logs too


def test_fluent_bit_yaml_and_fluentd_carry_the_same_settings():
    yaml_text = (PIPELINES / "fluent-bit" / "fluent-bit.yaml").read_text()
    for setting in ("name: forward", "match: kernel", "require_ack_response: true",
                    "shared_key: ${OOM_ENRICHER_SHARED_KEY}", "tls: on", "name: kmsg"):  # fmt: skip
        assert setting in yaml_text
    fluentd = (PIPELINES / "fluentd" / "fluent.conf").read_text()
    for setting in ("@type forward", "require_ack_response true", "shared_key",
                    "transport tls", "@type copy", '"_TRANSPORT": "kernel"'):  # fmt: skip
        assert setting in fluentd
