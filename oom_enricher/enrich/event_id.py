"""`event.id` of a report block: the rule is in `oom_enricher.reassembly.report_id`."""

from __future__ import annotations

from oom_enricher.model import ReportBlock
from oom_enricher.reassembly.report_id import compute_event_id


def event_id(block: ReportBlock) -> str:
    if block.event_id is not None:
        return block.event_id  # computed by reassembly from the same lines
    return compute_event_id(block.host, block.lines)


def superseded_ids(block: ReportBlock) -> list[str]:
    """Ids emitted before for this kill that its document replaces (never its own)."""
    if not block.supersedes:
        return []
    own = event_id(block)
    return [earlier for earlier in dict.fromkeys(block.supersedes) if earlier != own]
