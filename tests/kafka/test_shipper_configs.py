"""The Kafka configurations in pipelines/kafka/: rsyslog's runs in a real rsyslogd (omkafka)
against the real broker; the others are checked for the settings the workers rely on (their
record shapes are read in test_kafka_records.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from oom_enricher.normalize.line_normalizer import LineNormalizer
from oom_enricher.sources.kafka_records import to_shipped
from tests.kafka.cluster import create_topic
from tests.kafka.test_relay import _read_topic
from tests.sources.corpus_stream import kernel_lines
from tests.sources.test_pipeline_configs import classic_sections

REPO = Path(__file__).resolve().parents[2]
KAFKA = REPO / "pipelines" / "kafka"
TOPIC = "oom-enricher-lines"


@pytest.mark.integration
def test_rsyslog_omkafka_writes_kernel_lines_keyed_by_host_as_the_workers_read(
    kafka_bootstrap, tmp_path
):
    subprocess.run(
        [str(REPO / "scripts" / "install-system-deps"), "rsyslog", "rsyslog-kafka"], check=True
    )
    topic = f"rsyslog-{os.getpid()}"
    create_topic(kafka_bootstrap, topic, partitions=6)
    snippet = (KAFKA / "61-oom-enricher-kafka.conf").read_text()
    lines = [msg for _, _, msg in kernel_lines("007")]
    kern, user = tmp_path / "kern.log", tmp_path / "user.log"
    kern.write_text("".join(m + "\n" for m in lines))
    user.write_text("not a kernel line\n")
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{tmp_path}")\n'
        'module(load="imfile" mode="polling" PollingInterval="1")\n'
        f'input(type="imfile" File="{kern}" Tag="kernel:" Facility="kern")\n'
        f'input(type="imfile" File="{user}" Tag="app:" Facility="user")\n'
        + snippet.replace('"kafka-0.kafka.example.internal:9092"', f'"{kafka_bootstrap}"')
        .replace(f'topic="{TOPIC}"', f'topic="{topic}"')
        .replace("/var/spool/rsyslog/", f"{tmp_path}/")
    )
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    check = subprocess.run([rsyslogd, "-N1", "-f", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(conf), "-i", str(tmp_path / "pid")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        records = _read_topic(kafka_bootstrap, topic, len(lines))
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    host = socket.gethostname()
    assert {r.key() for r in records} == {host.encode()}
    assert len({r.partition() for r in records}) == 1
    shipped = [to_shipped(r.value(), r.key()) for r in records]
    normalizer = LineNormalizer()
    got = [line for record in shipped for line in normalizer.normalize_record(record)]
    bare = [line for m in lines for line in LineNormalizer().normalize(m)]
    assert [(g.message, g.monotonic) for g in got] == [(b.message, b.monotonic) for b in bare]
    assert got[0].monotonic == 8523.347168
    assert {(r.host, r.fields["program"], r.fields["facility"]) for r in shipped} == {
        (host, "kernel", "kern")
    }
    assert all(line.is_kernel for line in got)


def test_fluent_bit_classic_and_yaml_key_by_host_with_idempotent_acks_all():
    [(_, out)] = [
        s
        for s in classic_sections((KAFKA / "fluent-bit.conf").read_text())
        if s[1].get("name") == "kafka"
    ]
    assert (out["topics"], out["format"], out["message_key_field"]) == (TOPIC, "json", "hostname")
    assert (out["rdkafka.enable.idempotence"], out["rdkafka.acks"]) == ("true", "all")
    modifier = [
        s
        for s in classic_sections((KAFKA / "fluent-bit.conf").read_text())
        if s[1].get("name") == "record_modifier"
    ]
    assert modifier[0][1]["record"] == "hostname ${HOSTNAME}"
    doc = yaml.safe_load((KAFKA / "fluent-bit.yaml").read_text())
    [kafka] = [o for o in doc["pipeline"]["outputs"] if o["name"] == "kafka"]
    assert (kafka["topics"], kafka["format"], kafka["message_key_field"]) == (
        TOPIC,
        "json",
        "hostname",
    )
    assert (kafka["rdkafka.enable.idempotence"], kafka["rdkafka.acks"]) == (True, "all")
    assert doc["pipeline"]["filters"][0]["record"] == "hostname ${HOSTNAME}"


def test_fluentd_and_vector_key_by_host_with_idempotent_acks_all():
    fluentd = (KAFKA / "fluentd.conf").read_text()
    for setting in ("@type kafka2", f"default_topic {TOPIC}", "message_key_key _HOSTNAME",
                    "required_acks -1", "idempotent true", "@type json"):  # fmt: skip
        assert setting in fluentd
    vector = tomllib.loads((KAFKA / "vector.toml").read_text())
    sink = vector["sinks"]["oom_enricher"]
    assert (sink["type"], sink["topic"], sink["key_field"], sink["encoding"]["codec"]) == (
        "kafka",
        TOPIC,
        "host",
        "json",
    )
    assert sink["librdkafka_options"] == {"enable.idempotence": "true", "acks": "all"}
