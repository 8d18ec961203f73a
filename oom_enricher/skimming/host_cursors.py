"""Where the next line of each host with a report in progress starts, kept in a heap.

A host name stands in a syslog prefix as ` host `; searching for it finds that host's next
line without reading the lines of other hosts. With thousands of hosts mid-report the
nearest one is found in O(log n) instead of by asking each host.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable


class HostCursors:
    def __init__(self, is_open: Callable[[str], bool]) -> None:
        self._is_open = is_open
        self._needles: dict[str, tuple[bytes, int]] = {}  # key -> (needle, version)
        self._without_needle: set[str] = set()  # open hosts whose lines name no host
        self._heap: list[tuple[int, int, str]] = []  # (line start, version, key)
        self._version = 0

    def track(self, key: str, needle: bytes | None) -> None:
        """The host `key` has a report in progress; `needle` finds its lines, if any."""
        if needle is None:
            self._without_needle.add(key)
        elif key not in self._needles:
            self._version += 1
            self._needles[key] = (needle, self._version)
            heapq.heappush(self._heap, (-1, self._version, key))

    def needle(self, key: str) -> bytes | None:
        """The needle `key` is tracked by, if any (tracking it again changes nothing)."""
        tracked = self._needles.get(key)
        return None if tracked is None else tracked[0]

    def forget(self, key: str) -> None:
        self._needles.pop(key, None)
        self._without_needle.discard(key)

    def new_buffer(self) -> None:
        """Offsets of the previous buffer mean nothing in the next one."""
        self._heap = [(-1, version, key) for key, (_, version) in self._needles.items()]
        heapq.heapify(self._heap)

    def every_line_needed(self) -> bool:
        if not self._without_needle:
            return False  # the usual case: every open host's lines name it
        for key in [key for key in self._without_needle if not self._is_open(key)]:
            self._without_needle.discard(key)
        return bool(self._without_needle)

    def nearest(self, data, position: int, end: int) -> int:
        """The start of the nearest line at or after `position` that may be an open host's."""
        heap, needles = self._heap, self._needles
        checked = None  # the key last found open: nothing closes a report during this call
        while heap:
            start, version, key = heap[0]
            current = needles.get(key)
            if current is None or current[1] != version:
                heapq.heappop(heap)  # an entry left from before the host was tracked anew
                continue
            if key != checked:
                if not self._is_open(key):
                    heapq.heappop(heap)  # its report ended while other hosts' lines were read
                    del needles[key]
                    continue
                checked = key
            if start >= position:
                return start
            found = _find(data, current[0], position, end)
            found = end if found == -1 else data.rfind(b"\n", position, found) + 1 or position
            heapq.heapreplace(heap, (found, version, key))
        return end


NEAR_BYTES = 4096  # a report's next line is usually within a few lines


def _find(data, needle: bytes, start: int, end: int) -> int:
    """`data.find(needle, start, end)`, first within NEAR_BYTES: over a short span the search
    skips the set-up it makes for a long one (the rest of a buffer)."""
    near = start + NEAR_BYTES
    if near >= end:
        return data.find(needle, start, end)
    found = data.find(needle, start, near)
    if found == -1:
        # an occurrence may straddle `near`: start the rest where it could begin
        found = data.find(needle, max(start, near - len(needle) + 1), end)
    return found
