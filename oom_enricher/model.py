"""Values that cross stage boundaries: shipped records, normalised lines, report blocks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime


@dataclass(slots=True)
class ShippedRecord:
    """One record as a shipper delivered it, before line normalisation.

    Sources (forward, syslog, kmsg, files) produce these; `message` may still carry a
    syslog/dmesg prefix and escaped newlines.
    """

    message: str
    host: str | None = None
    time: datetime | None = None  # shipper's event time, UTC
    tag: str | None = None
    fields: dict = field(default_factory=dict)


@dataclass(slots=True)
class LogLine:
    """One kernel message line with its prefix taken apart."""

    message: str
    host: str | None = None
    timestamp: datetime | None = None  # wall clock, UTC
    monotonic: float | None = None  # seconds since boot, from `[ 123.456789]`
    is_kernel: bool | None = (
        None  # True: kernel transport; False: a userspace program; None: unknown
    )
    program: str | None = None  # syslog tag / identifier when not the kernel
    raw: str = ""
    seq: int | None = None  # /dev/kmsg sequence number
    rule: str | None = None  # the prefix rule that matched; None for bare or continuation lines
    # Where the line is kept durably (a journal position, a Kafka offset): opaque to reassembly,
    # which only reports the lowest position it still needs (`Assembler.low_water`).
    position: int | None = None
    # Reassembly's marker classification of `message`, kept so that no stage classifies a
    # line twice (reassembly.markers.classify_line); None until classified.
    marker: object = field(default=None, compare=False, repr=False)

    def __reduce__(self):
        # pickled without the cached classification (a regex match does not pickle)
        values = tuple(getattr(self, item.name) for item in fields(self) if item.name != "marker")
        return (LogLine, values)


@dataclass(slots=True)
class ReportBlock:
    """The lines of one OOM event of one host, in arrival order."""

    host: str | None
    lines: list[LogLine]
    complete: bool = True
    incomplete_reason: str | None = None
    unit_notice: str | None = (
        None  # systemd `<unit>: A process of this unit has been killed by the OOM killer.`
    )
    # Ids of documents emitted before for this same kill under other ids (a version without
    # its kill line, a fragment), which this block's document replaces.
    supersedes: list[str] = field(default_factory=list)
    # `event.id` of these lines, when reassembly computed it already (the lines of a closed
    # report never change): the document takes it instead of computing it again.
    event_id: str | None = field(default=None, compare=False, repr=False)
