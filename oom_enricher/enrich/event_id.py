"""Deterministic event ids: the same report gets the same id on any machine, in any order.

The id hashes the host and the report's anchor lines (the header, the selection, kill,
summary and reaper lines) with their kernel stamps where the line carries one. Shipper
prefixes, arrival order and a missing or extra body line do not change it, so a report
delivered twice, or once complete and once cut short, is indexed once.
"""

from __future__ import annotations

import hashlib

from oom_enricher.model import LogLine, ReportBlock
from oom_enricher.reassembly.markers import Marker, classify

_ANCHORS = {
    Marker.START,
    Marker.SELECTED,
    Marker.KILLED,
    Marker.SUMMARY,
    Marker.REAPED,
    Marker.NO_KILLABLE,
}


def event_id(block: ReportBlock) -> str:
    anchors = sorted({_anchor_text(line) for line in block.lines if _is_anchor(line)})
    if not anchors:  # a report with no anchor line at all: fall back to every line
        anchors = sorted({_anchor_text(line) for line in block.lines})
    digest = hashlib.blake2b(digest_size=16)
    digest.update((block.host or "").encode())
    for text in anchors:
        digest.update(b"\n")
        digest.update(text.encode("utf-8", "replace"))
    return digest.hexdigest()


def _is_anchor(line: LogLine) -> bool:
    found = classify(line.message)
    return found is not None and found[0] in _ANCHORS


def _anchor_text(line: LogLine) -> str:
    # The monotonic stamp is the kernel's own; a syslog time may be the receiver's.
    stamp = f"{line.monotonic:.6f} " if line.monotonic is not None else ""
    return stamp + line.message.strip()
