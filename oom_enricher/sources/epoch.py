"""Epoch times from shippers, checked: whatever a sender puts in a time field yields a
plausible number of seconds or None, never an exception or a loop."""

from __future__ import annotations

import math

# Later than this is not a log time but a unit mistake or garbage (2200-01-01T00:00:00Z).
LATEST = 7_258_118_400.0
# Seconds since the epoch stay below this until the year 5138; above it a value is in ms,
# µs or ns since the epoch (npm fluent-logger `milliseconds`, journald µs, Go ns).
SECONDS_MAX = 1e11
SUBUNIT_STEPS = 3


def epoch_seconds(value: object) -> float | None:
    """`value` (int, float) as epoch seconds, scaling ms/µs/ns by magnitude; None when it is
    not finite, negative, or out of range after at most three scalings."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int of hundreds of digits
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    for _ in range(SUBUNIT_STEPS):
        if seconds <= SECONDS_MAX:
            break
        seconds /= 1000.0
    return seconds if seconds <= LATEST else None
