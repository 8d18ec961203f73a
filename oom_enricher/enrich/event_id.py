"""`event.id` of a report block: the rule is in `oom_enricher.reassembly.report_id`."""

from __future__ import annotations

from oom_enricher.model import ReportBlock
from oom_enricher.reassembly.report_id import compute_event_id


def event_id(block: ReportBlock) -> str:
    if block.event_id:  # an amended report keeps the id it was first emitted under
        return block.event_id
    return compute_event_id(block.host, block.lines)
