"""Limits that keep reassembly memory bounded whatever the input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bounds:
    max_lines: int = 20_000  # lines in one report (task tables of big hosts run to thousands)
    max_open_hosts: int = 10_000  # hosts with a report in progress at once
    max_stream_age: float = 120.0  # seconds of stream time from a report's first line
    max_wall_age: float = 60.0  # seconds of wall-clock time since a report's last line
    tail_grace: float = 2.0  # seconds (stream or wall) a killed report waits for reaper lines
    tail_max_lines: int = 50  # other kernel lines of the host before a killed report closes
    lookback_lines: int = 512  # recent lines kept (all hosts together) to recover a report head
    lookback_gap: float = 5.0  # seconds between lines beyond which look-back stops
    # seconds between two lines of a report's body beyond which the report has ended: the
    # kernel prints one in a burst (a slow console spreads it, a line at a time)
    body_gap: float = 10.0
    # A report stays open to late lines (a shipper's retry, a racing connection) this many
    # wall-clock seconds after it was emitted; a line this far behind its host's newest
    # kernel stamp starts a new stream instead (a reboot).
    amend_window: float = 120.0
    hold_unkilled: float = 60.0  # wall seconds a stamped report without its kill waits for it
    amend_max_lines: int = 200_000  # lines of emitted reports kept for amending, all hosts
    recent_victim_hosts: int = 4096  # hosts whose last victims are remembered for late reaper lines
