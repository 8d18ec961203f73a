"""Deterministic event ids: one id per kill, whatever the transport and the arrival order.

`event.id` is the 128-bit BLAKE2b hex digest of exactly two things:

1. the host name of the report (empty when no host is known);
2. its *key*:
   * when the report holds its kill (an `oom-kill:` summary or a `Killed process` line): the
     victim's pid (the summary's `pid=`, else the first `Killed process` pid) and the
     10-second window of the earliest such line's stamp. Summary and kill line are printed
     microseconds apart and may travel in different chunks: either gives the same key.
   * otherwise the first line of the highest-ranked kind it holds (`oom_reaper: reaped` >
     `Out of memory and no killable processes` > `Kill process ... or sacrifice child` >
     `invoked oom-killer:`), as its text preceded by its stamp.
   The stamp is the kernel's monotonic stamp when the line carries one: `[ s.us]` of dmesg
   and syslog, `usec` of /dev/kmsg, `sec`/`usec` of Fluent Bit kmsg records,
   `_SOURCE_MONOTONIC_TIMESTAMP` of journal records; the same kill read through any of these,
   or by `backfill` from their stored records, gets the same id. Otherwise it is the line's
   wall-clock time (RFC 3164 / RFC 5424 / ISO syslog without the bracketed stamp, `dmesg -T`),
   which gives a different id from the stamped shapes of the same kill, since they carry
   different information. Bare pasted text has no stamp: two pastes of the same kill of one
   host are one report, which is what replaying a paste needs.

Two kills that differ in any stamp by more than the window therefore differ in id even when
their text is equal (a kill repeated minutes later on a kernel without the pid-bearing
summary); two kills of one pid within 10 s cannot happen (the first one ended it). The kill
is the key because it identifies the event: a report emitted before its header or body lines
came (a shipper retried them later) keeps its id when they amend it.

The id is always this function of the lines a document was built from, so the last version
of a report carries the id `parse` gives its complete text. When a late line changes the key
(the kill line of a report emitted without one, after `hold_unkilled`; a higher-ranked anchor
line), or joins fragments emitted on their own, the new version names the ids it replaces in
`event.supersedes`; sinks and metrics treat those as the same kill.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC

from oom_enricher.model import LogLine
from oom_enricher.reassembly.markers import Marker, classify_line

_SUMMARY_PID = re.compile(r"[,:]pid=(\d+)")
_KEY_RANK = (
    Marker.REAPED,
    Marker.NO_KILLABLE,
    Marker.SELECTED,
    Marker.START,
)


def compute_event_id(host: str | None, lines: list[LogLine]) -> str:
    key = kill_key(lines)
    if key is None:
        line = key_line(lines)
        key = key_text(line) if line is not None else None
    texts = [key] if key is not None else sorted({key_text(line) for line in lines})
    digest = hashlib.blake2b(digest_size=16)
    digest.update((host or "").encode("utf-8", "surrogateescape"))
    for text in texts:
        digest.update(b"\n")
        digest.update(text.encode("utf-8", "replace"))
    return digest.hexdigest()


KILL_WINDOW = 10  # seconds: summary and kill line of one kill fall in the same window


def kill_key(lines: list[LogLine]) -> str | None:
    """`kill <pid> @<window>` of the report's kill, or None when it holds no kill line."""
    summary_pid = killed_pid = None
    stamps: dict[int, list[float | None]] = {}
    for line in lines:
        found = classify_line(line)
        if found is None or found[0] not in (Marker.SUMMARY, Marker.KILLED):
            continue
        if found[0] is Marker.SUMMARY:
            pid_match = _SUMMARY_PID.search(line.message)
            if pid_match is None:
                continue
            pid = int(pid_match.group(1))
            summary_pid = pid if summary_pid is None else summary_pid
        else:
            pid = int(found[1]["pid"])
            killed_pid = pid if killed_pid is None else killed_pid
        stamps.setdefault(pid, []).append(_seconds(line))
    pid = summary_pid if summary_pid is not None else killed_pid
    if pid is None:
        return None
    known = [stamp for stamp in stamps[pid] if stamp is not None]
    window = f" @{int(min(known) // KILL_WINDOW)}" if known else ""
    return f"kill {pid}{window}"


def _seconds(line: LogLine) -> float | None:
    if line.monotonic is not None:
        return line.monotonic
    return line.timestamp.timestamp() if line.timestamp is not None else None


def key_line(lines: list[LogLine]) -> LogLine | None:
    """The line the id rests on when the report holds no kill; None when no anchor."""
    best: tuple[int, LogLine] | None = None
    for line in lines:
        found = classify_line(line)
        if found is None or found[0] not in _KEY_RANK:
            continue
        rank = _KEY_RANK.index(found[0])
        if best is None or rank < best[0]:
            best = (rank, line)
    return best[1] if best else None


def kill_keyed(lines: list[LogLine]) -> bool:
    """Whether the id rests on the kill itself, so lines added later keep it."""
    return kill_key(lines) is not None


def key_text(line: LogLine) -> str:
    if line.monotonic is not None:
        stamp = f"{line.monotonic:.6f} "
    elif line.timestamp is not None:
        stamp = line.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ ")
    else:
        stamp = ""
    return stamp + line.message.strip()
