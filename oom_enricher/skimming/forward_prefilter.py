"""Which entries of a forward request can matter, found on the request's raw bytes.

Most kernel-log records belong to no OOM report. An entry can matter only when its bytes
hold a marker needle (every marker line and unit notice has one, see `SKIM_NEEDLES`) or the
name of a host that has a report in progress, or when it is a record of a host named in a
marker entry of the same request (the rest of a report that opens here). A host whose reports
are all emitted and only open to late lines ("only amendable") has only the entries read
that may hold a report line (`AMEND_PATTERNS`, a superset searched on the entry's bytes):
its ordinary kernel lines are acked unread as an idle host's. One multi-literal
pass (Hyperscan, bytes.find elsewhere) over the decompressed PackedForward entries answers
this; a request with no hit is acked without decoding any entry. msgpack entries are found
with `Unpacker.skip()`, which builds no objects, so only the entries that can matter are
decoded.

A record carries its host as a string (the host key, or the syslog prefix inside the
message), so a host's name is in the bytes of each of its records. Records without one take
the connection's fallback host: when that host can matter, every entry is decoded.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import msgpack

from oom_enricher.reassembly.markers import (
    AMEND_MAYBE,
    AMEND_MAYBE_CASELESS,
    AMEND_PATTERNS,
    SKIM_NEEDLES,
)
from oom_enricher.skimming.marker_finder import hyperscan, hyperscan_literal
from oom_enricher.sources.forward_codec import (
    DEFAULT_MAX_OBJECTS,
    FrameError,
    ext_hook,
    unpack_bounded,
)

SURROGATE = "surrogateescape"
REBUILD_AFTER = 16  # hosts searched one by one before the host database is rebuilt
LOOKBACK_BYTES = 256 << 10  # raw entries kept for a report whose header was lost
SMALL_PAYLOAD = 64 << 10  # payloads counted with a reused unpacker (its buffer stays this size)


# A request kept for look-back: (payload, tag, peer); a tuple as one is kept per request.
_RawRequest = tuple[bytes, str, str]


@dataclass(slots=True)
class Selection:
    """Entries of one request to decode, as byte spans in order."""

    spans: list[tuple[int, int]]
    unread: int = 0  # entries left undecoded
    kept: _RawRequest | None = None  # this request in the look-back ring


# The hosts named by a decoded record: its record host and any host in its line prefix.
HostsOf = Callable[[dict, str, str], Iterable[str | None]]


class EntryCounter:
    """Counts the msgpack objects of small payloads with reused unpackers: making one costs
    more than skipping the few entries of a Fluent Bit `Flush 1` chunk."""

    def __init__(self) -> None:
        self._idle: list[msgpack.Unpacker] = []  # pop/append are atomic: safe across threads

    def count(self, payload: bytes) -> int:
        if len(payload) > SMALL_PAYLOAD:
            return len(entry_spans(payload))
        unpacker = (
            self._idle.pop() if self._idle else msgpack.Unpacker(max_buffer_size=SMALL_PAYLOAD)
        )
        end = unpacker.tell() + len(payload)
        unpacker.feed(payload)
        count = 0
        skip, tell = unpacker.skip, unpacker.tell
        try:
            while tell() < end:  # no OutOfData raised for a whole payload
                skip()
                count += 1
        except msgpack.OutOfData:
            return count  # a partial entry is left in the unpacker: not reused
        # anything else (malformed bytes) leaves with the unpacker, which is not reused
        self._idle.append(unpacker)
        return count


def entry_spans(payload: bytes) -> list[tuple[int, int]]:
    """(start, end) of each msgpack object in payload, without building any of them."""
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(payload), 1))
    unpacker.feed(payload)
    spans: list[tuple[int, int]] = []
    start = 0
    skip, tell = unpacker.skip, unpacker.tell
    while True:
        try:
            skip()
        except msgpack.OutOfData:
            return spans
        end = tell()
        spans.append((start, end))
        start = end


class _Needles:
    """Marker needles and host names in one database; ids below `markers` are markers."""

    def __init__(self, markers: tuple[bytes, ...], hosts: list[str], use_hyperscan: bool):
        self.markers = len(markers)
        self.hosts = hosts
        self.literals = list(markers) + [host.encode("utf-8", SURROGATE) for host in hosts]
        self._db = None
        self._scratch = threading.local()
        self._handler = self._on_match  # bound once: every request is scanned
        if use_hyperscan and hyperscan is not None:
            self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._db.compile(
                expressions=[hyperscan_literal(literal) for literal in self.literals],
                ids=list(range(len(self.literals))),
                elements=len(self.literals),
            )

    def scan(self, data: bytes) -> tuple[list[int], list[tuple[int, str]]]:
        """Offsets of marker hits and (offset, host) of host hits."""
        found: tuple[list[int], list[tuple[int, str]]] = ([], [])
        if self._db is not None:
            scratch = getattr(self._scratch, "space", None) or self._thread_scratch()
            self._db.scan(data, match_event_handler=self._handler, context=found, scratch=scratch)
            return found
        markers, hosts = found
        for ident, literal in enumerate(self.literals):
            for found in _find_all(data, literal):
                if ident < self.markers:
                    markers.append(found)
                else:
                    hosts.append((found, self.hosts[ident - self.markers]))
        return markers, hosts

    def _thread_scratch(self):
        # Large requests are scanned on decoding threads while the loop scans small ones, and
        # a Hyperscan scratch serves one scan at a time (ScratchInUseError otherwise).
        scratch = getattr(self._scratch, "space", None)
        if scratch is None:
            scratch = self._scratch.space = hyperscan.Scratch(self._db)
        return scratch

    def _on_match(self, ident: int, _from: int, to: int, _flags: int, found) -> None:
        if ident < self.markers:
            found[0].append(to - 1)
        else:
            found[1].append((to - 1, self.hosts[ident - self.markers]))


def _find_all(data: bytes, literal: bytes) -> Iterable[int]:
    position = data.find(literal)
    while position != -1:
        yield position
        position = data.find(literal, position + 1)


class _AmendFinder:
    """Which entries may hold a line that amends an emitted report: an AMEND_PATTERNS hit
    reads the entry; an AMEND_MAYBE hit (often a number's bytes) has its text looked at."""

    def __init__(
        self,
        message_keys: tuple[str, ...],
        use_hyperscan: bool,
        max_objects: int = DEFAULT_MAX_OBJECTS,
    ) -> None:
        self._max_objects = max_objects
        keys = [key.encode("utf-8", SURROGATE).lower() for key in message_keys]
        names = (b"message", b"msg", b"log", b"unmatched_line", *keys)
        self._message_key = re.compile(b"|".join(re.escape(name) for name in names), re.I)
        caseless = list(AMEND_MAYBE_CASELESS) + [
            hyperscan_literal(key) + rb"[^\xa0-\xbf\xd9]" for key in keys
        ]
        self._strong = len(AMEND_PATTERNS)
        self._db = None
        self._regex: tuple[re.Pattern[bytes], re.Pattern[bytes]] | None = None
        self._scratch = threading.local()
        if use_hyperscan and hyperscan is not None:
            expressions = [*AMEND_PATTERNS, *AMEND_MAYBE, *caseless]
            flags = [0] * (len(expressions) - len(caseless))
            flags += [hyperscan.HS_FLAG_CASELESS] * len(caseless)
            self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._db.compile(
                expressions=expressions,
                ids=list(range(len(expressions))),
                elements=len(expressions),
                flags=flags,
            )
        else:
            maybe = [b"(?:%s)" % pattern for pattern in AMEND_MAYBE]
            maybe += [b"(?i:%s)" % pattern for pattern in caseless]
            self._regex = (
                re.compile(b"|".join(b"(?:%s)" % pattern for pattern in AMEND_PATTERNS)),
                re.compile(b"|".join(maybe)),
            )

    def entries(self, data: bytes, spans: list[tuple[int, int]], among: set[int]) -> set[int]:
        """The indexes in `among` of entries that may hold a line that amends a report."""
        order = sorted(among)
        if self._regex is not None:
            strong, maybe = self._regex
            found = {i for i in order if strong.search(data, *spans[i]) is not None}
            return found | {
                i
                for i in order
                if i not in found
                and maybe.search(data, *spans[i]) is not None
                and self._text_may_amend(data[spans[i][0] : spans[i][1]])
            }
        # Only these entries are searched, one after the other: the patterns are slow to run
        # (character classes), and most entries of a request belong to other hosts.
        if len(order) == 1:
            start, end = spans[order[0]]
            chosen: bytes | memoryview = memoryview(data)[start:end]
            starts = [0]
        else:
            chosen = b"".join(data[spans[i][0] : spans[i][1]] for i in order)
            starts, at = [], 0
            for i in order:
                starts.append(at)
                at += spans[i][1] - spans[i][0]
        hits: tuple[list[int], list[int]] = ([], [])
        self._scan(chosen, (hits, self._strong))
        read = {order[k] for k in _entries_at(hits[0], starts)}
        maybe = {order[k] for k in _entries_at(hits[1], starts)} - read
        for i in sorted(maybe):
            if self._text_may_amend(data[spans[i][0] : spans[i][1]]):
                read.add(i)
        return read

    def _text_may_amend(self, raw: bytes) -> bool:
        """The patterns on the entry's strings alone (not its numbers' bytes); True also when
        a message key holds no short string, whose lines the bytes do not show."""
        try:
            entry = unpack_bounded(raw, self._max_objects, raw=True, strict_map_key=False)
        except (msgpack.UnpackException, ValueError, FrameError):
            return True  # read: decoding it refuses what cannot be read
        texts: list[bytes] = []
        if not self._texts(entry, texts):
            return True
        # A line break between two strings ends a line as their ends do.
        joined = b"\n".join(texts)
        if self._regex is not None:
            return any(regex.search(joined) is not None for regex in self._regex)
        hits: tuple[list[int], list[int]] = ([], [])
        self._scan(joined, (hits, self._strong))
        return bool(hits[0] or hits[1])

    def _texts(self, value, texts: list[bytes]) -> bool:
        """Collects the strings in value; False when a message key holds anything else than
        a string of at most 255 bytes."""
        if type(value) is bytes:
            texts.append(value)
        elif type(value) is dict:
            message_key = self._message_key.search
            for key, item in value.items():
                kind = type(item)
                if kind is bytes and len(item) <= 255:
                    texts.append(item)
                    continue
                if type(key) is bytes and message_key(key):
                    return False  # a message that is no short string
                if kind is bytes:
                    texts.append(item)
                elif (kind is dict or kind is list) and not self._texts(item, texts):
                    return False
        elif type(value) is list:  # not an ExtType (a tuple): a time's bytes are no text
            return all(self._texts(item, texts) for item in value)
        return True

    def _scan(self, data, context) -> None:
        scratch = getattr(self._scratch, "space", None)
        if scratch is None:
            scratch = self._scratch.space = hyperscan.Scratch(self._db)
        self._db.scan(data, match_event_handler=_every_end, context=context, scratch=scratch)


def _entries_at(ends: list[int], starts: list[int]) -> set[int]:
    hit: set[int] = set()
    for end in set(ends):
        # A pattern ending at a line's end may take the first byte of the next entry (the
        # message was the last value of its record): its entry is the one before.
        hit.add(bisect.bisect_right(starts, end - 1) - 1)
        hit.add(bisect.bisect_right(starts, max(end - 2, 0)) - 1)
    return hit


def _every_end(ident: int, _from: int, to: int, _flags: int, context) -> None:
    found, strong = context
    found[ident >= strong].append(to)


class ForwardPrefilter:
    def __init__(
        self,
        hosts_of: HostsOf,
        fallback: str = "peer",
        markers: tuple[bytes, ...] = SKIM_NEEDLES,
        use_hyperscan: bool = True,
        lookback_bytes: int = LOOKBACK_BYTES,
        message_keys: tuple[str, ...] = (),
        max_objects: int = DEFAULT_MAX_OBJECTS,
    ) -> None:
        """`message_keys`: keys a record's message is read from besides the usual ones;
        `max_objects`: what decoding one entry may build (`SourceLimits.max_decoded_objects`)."""
        self.hosts_of = hosts_of
        self.fallback = fallback  # "peer", "tag" or "none", as ShapeOptions.host_fallback
        self._markers = markers
        self._use_hyperscan = use_hyperscan
        # (open hosts, database, (name, host) of open hosts not in the database yet, searched
        # one by one, the open hosts that are only amendable): replaced as a whole, as large
        # requests are selected on decoding threads.
        self._search: tuple[frozenset[str], _Needles, list[tuple[bytes, str]], frozenset[str]] = (
            frozenset(),
            _Needles(markers, [], use_hyperscan),
            [],
            frozenset(),
        )
        self._amend = _AmendFinder(message_keys, use_hyperscan, max_objects)
        self._max_objects = max_objects
        self._built: frozenset[str] = frozenset()
        # Seconds spent searching hosts one by one since the database was built, and what
        # building it cost: once the searches cost as much, rebuilding is cheaper.
        self._search_time = 0.0
        self._build_time = 0.0
        self._counter = EntryCounter()
        self.lookback = RawLookback(lookback_bytes, max_objects)

    def refresh(self, open_hosts: Collection[str], amendable: Collection[str] = ()) -> None:
        """The hosts with a report in progress changed (after a batch was fed); `amendable`:
        those of them whose records can only matter by a line that may amend a report."""
        hosts = frozenset(open_hosts)
        if hosts == self._search[0] and self._search[3] == (hosts & frozenset(amendable)):
            return  # most batches open or close nothing: the search stays as it is
        needles = self._search[1]
        added = hosts - self._built
        if (
            len(added) > REBUILD_AFTER
            or len(self._built) > 2 * len(hosts) + REBUILD_AFTER
            or (added and self._search_time >= self._build_time)
        ):
            started = time.perf_counter()
            self._built = hosts
            needles = _Needles(self._markers, sorted(hosts), self._use_hyperscan)
            added = frozenset()
            self._build_time = time.perf_counter() - started
            self._search_time = 0.0
        # Closed hosts left in the database only cost a false hit, filtered out by name.
        extra = [(host.encode("utf-8", SURROGATE), host) for host in sorted(added) if host]
        self._search = (hosts, needles, extra, hosts & frozenset(amendable))

    def fallback_key(self, tag: str, peer: str) -> str:
        """The assembler key of a record that names no host."""
        if self.fallback == "peer":
            return peer
        return tag if self.fallback == "tag" else ""

    def select(self, payload: bytes, tag: str, peer: str) -> Selection:
        """The entries of payload that can matter."""
        kept = self.lookback.add(payload, tag, peer)
        selection = self._select(payload, tag, peer)
        selection.kept = kept
        return selection

    def select_or_count(self, payload: bytes, tag: str, peer: str) -> Selection | int:
        """`select`, at its cheapest in the common case: the number of entries when none of
        them can matter (no Selection built, no span list), else their Selection."""
        kept = self.lookback.add(payload, tag, peer)
        selection = self._select(payload, tag, peer, count_only=True)
        if type(selection) is Selection:
            selection.kept = kept
        return selection

    def _select(self, payload: bytes, tag: str, peer: str, count_only: bool = False):
        open_hosts, needles, extra, amendable = self._search
        if open_hosts and self.fallback_key(tag, peer) in open_hosts:
            return Selection(entry_spans(payload))
        markers, host_hits = needles.scan(payload)
        if not (markers or host_hits or extra):
            # Nothing can matter (most requests): counted.
            count = self._counter.count(payload)
            return count if count_only else Selection([], unread=count)
        hits = list(markers)  # offsets whose entries are read
        watched: list[int] = []  # offsets of names of only amendable hosts
        for offset, host in host_hits:
            if host in open_hosts:
                (watched if host in amendable else hits).append(offset)
        if extra:
            started = time.perf_counter()
            for needle, host in extra:
                if needle in payload:
                    (watched if host in amendable else hits).extend(_find_all(payload, needle))
            self._search_time += time.perf_counter() - started
        if not hits and not watched:
            # Nothing can matter (most requests): counted.
            count = self._counter.count(payload)
            return count if count_only else Selection([], unread=count)
        spans = entry_spans(payload)
        starts = [start for start, _ in spans]
        chosen = {bisect.bisect_right(starts, hit) - 1 for hit in hits}
        if watched:
            candidates = {bisect.bisect_right(starts, hit) - 1 for hit in watched} - chosen
            if candidates:
                chosen.update(self._amend.entries(payload, spans, candidates))
        if markers:
            named = self._named_hosts(payload, spans, starts, markers, tag, peer)
            if named is None:
                return Selection(spans)
            for host in named:
                hits_of = _find_all(payload, host.encode("utf-8", SURROGATE))
                chosen.update(bisect.bisect_right(starts, hit) - 1 for hit in hits_of)
        if not chosen:
            return len(spans) if count_only else Selection([], unread=len(spans))
        picked = [spans[i] for i in sorted(chosen)]
        return Selection(picked, unread=len(spans) - len(picked))

    def _named_hosts(self, payload, spans, starts, markers, tag, peer) -> set[str] | None:
        """Hosts of the marker entries (a report may open there); None: decode everything."""
        named: set[str] = set()
        fallback = self.fallback_key(tag, peer)
        for index in sorted({bisect.bisect_right(starts, hit) - 1 for hit in markers}):
            start, end = spans[index]
            record = _decode_record(payload[start:end], self._max_objects)
            if record is None:
                continue
            for host in self.hosts_of(record, tag, peer):
                if not host or host == fallback:
                    return None  # records of this host may not name it
                named.add(host)
        return named


def _decode_record(raw: bytes, max_objects: int) -> dict | None:
    """The record of one entry; None when it has none or cannot be decoded within
    `max_objects` (decoding it with its request then refuses the request)."""
    try:
        entry = unpack_bounded(
            raw,
            max_objects,
            raw=False,
            unicode_errors=SURROGATE,
            ext_hook=ext_hook,
            strict_map_key=False,
        )
    except (msgpack.UnpackException, ValueError, FrameError):
        return None
    if isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[1], dict):
        return entry[1]
    return None


class RawLookback:
    """The raw entries of the latest requests, bounded in bytes.

    A report whose header was lost recovers its earlier lines by looking back; the entries
    that were never decoded are decoded then, from here (a rare event, so the cost is paid
    only when it happens).
    """

    def __init__(self, max_bytes: int = LOOKBACK_BYTES, max_objects: int = DEFAULT_MAX_OBJECTS):
        self.max_bytes = max_bytes
        self.max_objects = max_objects
        self._requests: deque[_RawRequest] = deque()
        self._bytes = 0
        self._lock = threading.Lock()  # requests are added from decoding threads too

    def add(self, payload: bytes, tag: str, peer: str) -> _RawRequest:
        # A request larger than the whole ring cannot be kept: nothing of it is looked back at.
        if len(payload) > self.max_bytes:
            payload = b""
        kept = (payload, tag, peer)
        with self._lock:
            self._requests.append(kept)
            self._bytes += len(payload)
            while self._bytes > self.max_bytes and len(self._requests) > 1:
                self._bytes -= len(self._requests.popleft()[0])
        return kept

    def entries(
        self, upto: _RawRequest, before: int, needle: str | None
    ) -> list[tuple[dict, str, str]]:
        """(record, tag, peer) of the kept entries in arrival order, ending `before` bytes into
        the request `upto`; only entries holding `needle` when it is given."""
        with self._lock:
            requests = list(self._requests)
        if not any(request is upto for request in requests):
            return []  # its request left the ring: every kept entry came after it
        found: list[tuple[dict, str, str]] = []
        needle_bytes = needle.encode("utf-8", SURROGATE) if needle else None
        for request in requests:
            kept_payload, tag, peer = request
            payload = kept_payload[:before] if request is upto else kept_payload
            if needle_bytes is None or needle_bytes in payload:
                found.extend(
                    (record, tag, peer)
                    for record in self._records(payload, needle_bytes)
                    if record is not None
                )
            if request is upto:
                break
        return found

    def _records(self, payload: bytes, needle: bytes | None) -> Iterable[dict | None]:
        spans = entry_spans(payload)
        if needle is not None and spans:
            # A host's entries are a few among many: only those its name is found in.
            starts = [start for start, _ in spans]
            hit = {bisect.bisect_right(starts, at) - 1 for at in _find_all(payload, needle)}
            spans = [spans[i] for i in sorted(hit)]
            spans = [(s, e) for s, e in spans if payload.find(needle, s, e) != -1]
        return (_decode_record(payload[start:end], self.max_objects) for start, end in spans)

    def held_bytes(self) -> int:
        return self._bytes
