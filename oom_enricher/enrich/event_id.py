"""Deterministic event ids: the same report gets the same id on any machine, in any order."""

from __future__ import annotations

import hashlib

from oom_enricher.model import ReportBlock


def event_id(block: ReportBlock) -> str:
    # Kernel messages, not shipper prefixes (they differ by path); sorted, so arrival order
    # does not matter. Pids and sizes in the messages keep distinct events apart.
    digest = hashlib.blake2b(digest_size=16)
    digest.update((block.host or "").encode())
    for message in sorted(line.message.strip() for line in block.lines):
        digest.update(b"\n")
        digest.update(message.encode("utf-8", "replace"))
    return digest.hexdigest()
