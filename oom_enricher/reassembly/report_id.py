"""Deterministic event ids: one id per kill, whatever the transport and the arrival order.

`event.id` is the 128-bit BLAKE2b hex digest of exactly two things:

1. the host name of the report (empty when no host is known);
2. its *key line*: the first line of the highest-ranked kind the report holds, in this
   order: `Killed process` > `oom-kill:` summary > `oom_reaper: reaped` > `Out of memory and
   no killable processes` > `Kill process ... or sacrifice child` > `invoked oom-killer:`.
   The key line is its message text (prefixes stripped) preceded by its stamp:
   * the kernel's monotonic stamp to the microsecond when the line carries one: `[ s.us]`
     of dmesg and syslog, `usec` of /dev/kmsg, `sec`/`usec` of Fluent Bit kmsg records,
     `_SOURCE_MONOTONIC_TIMESTAMP` of journal records; the same kill read through any of
     these, or by `backfill` from their stored records, gets the same id;
   * otherwise the line's wall-clock time to the second (RFC 3164 / RFC 5424 / ISO syslog
     without the bracketed stamp, `dmesg -T`): a different id from the stamped shapes of the
     same kill, since they carry different information;
   * otherwise nothing (bare pasted text): two pastes of the identical kill line of one host
     are the same report, which is what replaying a paste needs.

Two kills that differ in any stamp therefore differ in id, even when their text is equal (a
kill repeated minutes later on a kernel without the pid-bearing summary). The kill is the
key because it identifies the event and arrives with it: a report emitted before its
header or body lines came (a shipper retried them later) keeps its id when they amend it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC

from oom_enricher.model import LogLine
from oom_enricher.reassembly.markers import Marker, classify

_KEY_RANK = (
    Marker.KILLED,
    Marker.SUMMARY,
    Marker.REAPED,
    Marker.NO_KILLABLE,
    Marker.SELECTED,
    Marker.START,
)


def compute_event_id(host: str | None, lines: list[LogLine]) -> str:
    key = key_line(lines)
    texts = [key_text(key)] if key is not None else sorted({key_text(line) for line in lines})
    digest = hashlib.blake2b(digest_size=16)
    digest.update((host or "").encode("utf-8", "surrogateescape"))
    for text in texts:
        digest.update(b"\n")
        digest.update(text.encode("utf-8", "replace"))
    return digest.hexdigest()


def key_line(lines: list[LogLine]) -> LogLine | None:
    """The line the id is a function of (see the module docstring); None when no anchor."""
    best: tuple[int, LogLine] | None = None
    for line in lines:
        found = classify(line.message)
        if found is None or found[0] not in _KEY_RANK:
            continue
        rank = _KEY_RANK.index(found[0])
        if best is None or rank < best[0]:
            best = (rank, line)
    return best[1] if best else None


def kill_keyed(lines: list[LogLine]) -> bool:
    """Whether the id rests on a line of the kill itself, so lines added later keep it."""
    key = key_line(lines)
    found = classify(key.message) if key is not None else None
    return found is not None and _KEY_RANK.index(found[0]) < _KEY_RANK.index(Marker.SELECTED)


def key_text(line: LogLine) -> str:
    if line.monotonic is not None:
        stamp = f"{line.monotonic:.6f} "
    elif line.timestamp is not None:
        stamp = line.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ ")
    else:
        stamp = ""
    return stamp + line.message.strip()
