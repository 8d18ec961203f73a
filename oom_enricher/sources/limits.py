"""Bounds on what network clients can make the server hold, with safe defaults.

One `SourceLimits` (the serve TOML's `[limits]` table) is shared by the forward and syslog
listeners: the connection gate and the buffer budget count across both, because descriptors
and memory are the process's, not a port's.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

log = logging.getLogger(__name__)

KiB = 1024
MiB = 1024 * KiB

# Descriptors kept free of client connections: listening sockets, /health, state and spool
# files, the Elasticsearch connection pool, followed files.
RESERVED_DESCRIPTORS = 64
# A fleet reconnecting at once (after a restart) should queue, not see refused SYNs; the
# kernel caps this at net.core.somaxconn.
LISTEN_BACKLOG = 1024


@dataclass
class SourceLimits:
    max_connections: int = 4096  # lowered to the descriptor limit minus a reserve at start
    max_connections_per_peer: int = 256  # per source address
    idle_timeout: float = 300.0  # seconds without a byte before a connection is closed
    request_deadline: float = 60.0  # a started request (or syslog frame) must end within this
    max_frame_bytes: int = 32 * MiB  # one forward request on the wire
    max_entries_per_request: int = 200_000  # decoded log entries (Fluentd 8 MB chunks fit)
    # decoded array and map elements per request: at most ~130 MB of objects, however they
    # nest (a Forward-mode frame of 200,000 two-field records holds 1.6 million)
    max_decoded_objects: int = 2_000_000
    max_decompressed_bytes: int = 64 * MiB  # one CompressedPackedForward request, inflated
    max_decompression_ratio: float = 200.0  # inflated / compressed (kernel text gzips ~10-30x)
    max_line_bytes: int = 64 * KiB  # a syslog message; printk lines are at most 1 KiB
    max_buffered_bytes: int = 128 * MiB  # unparsed bytes across all connections (MemoryMax=512M)
    offload_bytes: int = 256 * KiB  # requests at least this large are decoded off the loop
    decode_threads: int = 2  # the pool that decodes them
    log_interval: float = 10.0  # at most one log line per error kind per interval

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"limits.{f.name} must be a positive number, not {value!r}")


def from_table(table: dict) -> SourceLimits:
    """The `[limits]` table of the serve TOML; unknown keys are an error, not ignored."""
    known = {f.name: f.type for f in fields(SourceLimits)}
    unknown = set(table) - set(known)
    if unknown:
        raise ValueError(f"unknown limits setting(s): {', '.join(sorted(unknown))}")
    values = {}
    for name, value in table.items():
        kind = int if known[name] in (int, "int") else float
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"limits.{name} must be a number, not {value!r}")
        values[name] = kind(value)
    return SourceLimits(**values)


def descriptor_cap(configured: int, reserve: int = RESERVED_DESCRIPTORS) -> int:
    """`configured`, lowered so that accepted connections can never exhaust RLIMIT_NOFILE."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    cap = max(1, min(configured, soft - reserve))
    if cap < configured:
        log.warning(
            "connection cap %d (descriptor limit %d minus %d reserved; raise LimitNOFILE for more)",
            cap,
            soft,
            reserve,
        )
    return cap


class BufferBudget:
    """Bytes held unparsed by all connections together; a connection that would exceed the
    budget is refused, so many slow senders cannot add up to unbounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0

    def resize(self, held: int, now_held: int) -> bool:
        """Move one connection's share from `held` to `now_held`; False (unchanged) if over."""
        grown = self.used - held + now_held
        if now_held > held and grown > self.limit:
            return False
        self.used = grown
        self.peak = max(self.peak, grown)
        return True


@dataclass(eq=False)
class Slot:
    """One admitted connection: when it last sent a byte, whether a request is in progress."""

    peer: str
    close: Callable[[], None]
    last_active: float = 0.0
    busy: bool = False


class ConnectionGate:
    """Connections in total and per peer. At the total cap a new connection takes the place
    of the one idle longest (idle sockets must not lock senders out); with none idle, or at
    a peer's own cap, the new connection is the one refused."""

    def __init__(
        self, max_total: int, max_per_peer: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_total = max_total
        self.max_per_peer = max_per_peer
        self.clock = clock
        self._slots: set[Slot] = set()
        self._per_peer: dict[str, int] = {}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._slots)

    def admit(self, peer: str, close: Callable[[], None]) -> tuple[Slot | None, str | None]:
        """(slot, None) when admitted, else (None, the refusal's kind); `evicted` counts the
        idle connections closed to make room."""
        if self._per_peer.get(peer, 0) >= self.max_per_peer:
            return None, "too_many_connections_per_peer"
        if len(self._slots) >= self.max_total:
            idle = [s for s in self._slots if not s.busy]
            if not idle:
                return None, "too_many_connections"
            oldest = min(idle, key=lambda s: s.last_active)
            self.release(oldest)
            oldest.close()
            self.evicted += 1
        slot = Slot(peer, close, self.clock())
        self._slots.add(slot)
        self._per_peer[peer] = self._per_peer.get(peer, 0) + 1
        return slot, None

    def release(self, slot: Slot) -> None:
        if slot not in self._slots:
            return
        self._slots.discard(slot)
        left = self._per_peer.get(slot.peer, 1) - 1
        if left:
            self._per_peer[slot.peer] = left
        else:
            self._per_peer.pop(slot.peer, None)

    def touch(self, slot: Slot) -> None:
        slot.last_active = self.clock()
