"""Decode the ``gfp_mask`` of an OOM report into the kernel's own flag names.

The OOM header prints ``gfp_mask=0x...`` and, since about 4.5, the decoded names in
parentheses (``%pGg``).  Older kernels print hex only, and the bit values of the
``___GFP_*`` flags were renumbered several times, so a hex mask means nothing
without the kernel generation that produced it.

Decoding follows ``format_flags()`` in lib/vsprintf.c (and ``__print_flags`` of
the trace events, which works the same way): walk the name table in order, take
an entry when *all* of its bits are still set, clear those bits, and print any
remainder as ``%#lx``.  The tables below mirror ``__def_gfpflag_names`` in
include/trace/events/mmflags.h (include/trace/events/gfpflags.h before 4.6) and
the ``___GFP_*`` values in include/linux/gfp.h (gfp_types.h since 6.0).

Deliberate simplifications:

* Bits the kernel's own list leaves out (e.g. ``__GFP_FS`` or ``__GFP_WRITE``
  before 4.4) are still named, after the kernel's list, rather than printed as hex.
* Before 4.5 the trace list spelled single bits without the leading underscores
  (``GFP_COLD``); the modern ``__GFP_COLD`` spelling is used for every generation
  so that one name means one flag across a fleet.
* Bits whose value depends on the kernel configuration (KASAN hardware tags,
  lockdep, slab object extensions) are left as a hex remainder from 5.18 on.
* Recent kernels list the single bits in bit order and define GFP_NOWAIT with
  __GFP_NOWARN; one 4.4+ order and GFP_NOWAIT = __GFP_KSWAPD_RECLAIM are used
  throughout, which changes nothing for a mask with at most one leftover bit.
* Release boundaries come from the upstream commits; vendor kernels that
  backport flag changes (RHEL, Android) can differ, which is why parse_gfp_field
  prefers the names the kernel printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["decode_gfp_mask", "parse_gfp_field", "kernel_generation"]

# --- ___GFP_* bit values, one dict per layout --------------------------------


def _renamed(bits: dict[str, int], old: str, new: str) -> dict[str, int]:
    """The same layout with one flag renamed (same bit, new meaning or spelling)."""
    return {(new if name == old else name): value for name, value in bits.items()}


# 2.6.x - 3.14: __GFP_WAIT era.  Bits were only added at the top, so one table
# serves the range (a flag a given release lacks is simply never set).
# 0x100000 is __GFP_KMEMCG (3.8 - 3.14).
_BITS_WAIT_ERA: dict[str, int] = {
    "__GFP_DMA": 0x01,
    "__GFP_HIGHMEM": 0x02,
    "__GFP_DMA32": 0x04,
    "__GFP_MOVABLE": 0x08,
    "__GFP_WAIT": 0x10,
    "__GFP_HIGH": 0x20,
    "__GFP_IO": 0x40,
    "__GFP_FS": 0x80,
    "__GFP_COLD": 0x100,
    "__GFP_NOWARN": 0x200,
    "__GFP_REPEAT": 0x400,
    "__GFP_NOFAIL": 0x800,
    "__GFP_NORETRY": 0x1000,
    "__GFP_MEMALLOC": 0x2000,
    "__GFP_COMP": 0x4000,
    "__GFP_ZERO": 0x8000,
    "__GFP_NOMEMALLOC": 0x10000,
    "__GFP_HARDWALL": 0x20000,
    "__GFP_THISNODE": 0x40000,
    "__GFP_RECLAIMABLE": 0x80000,
    "__GFP_KMEMCG": 0x100000,
    "__GFP_NOTRACK": 0x200000,
    "__GFP_NO_KSWAPD": 0x400000,
    "__GFP_OTHER_NODE": 0x800000,
    "__GFP_WRITE": 0x1000000,
}

# 2.6.23 - 2.6.30: __GFP_MOVABLE was 0x100000 (ZONE_MOVABLE, 2.6.23) until 2.6.31 made it a
# zone bit, 0x08 (`gfp_zone()` by table); __GFP_KMEMCG (3.8) did not exist. A tree built
# in 2.6.31's merge window still calls itself 2.6.30: a mask with 0x08 set is of 2.6.31's
# layout (0x08 was unused before).
_BITS_2_6_23: dict[str, int] = {
    **{k: v for k, v in _BITS_WAIT_ERA.items() if k not in ("__GFP_MOVABLE", "__GFP_KMEMCG")},
    "__GFP_MOVABLE": 0x100000,
}

# 3.15 - 4.3: __GFP_KMEMCG gone; 4.2 reused its bit for __GFP_NOACCOUNT.
_BITS_3_15 = _renamed(_BITS_WAIT_ERA, "__GFP_KMEMCG", "__GFP_NOACCOUNT")

# 4.4: "mm, page_alloc: distinguish between being unable to sleep, unwilling to
# sleep and avoiding waking kswapd" split __GFP_WAIT into __GFP_DIRECT_RECLAIM +
# __GFP_KSWAPD_RECLAIM, added __GFP_ATOMIC and moved RECLAIMABLE down to 0x10.
_BITS_4_4: dict[str, int] = {
    "__GFP_DMA": 0x01,
    "__GFP_HIGHMEM": 0x02,
    "__GFP_DMA32": 0x04,
    "__GFP_MOVABLE": 0x08,
    "__GFP_RECLAIMABLE": 0x10,
    "__GFP_HIGH": 0x20,
    "__GFP_IO": 0x40,
    "__GFP_FS": 0x80,
    "__GFP_COLD": 0x100,
    "__GFP_NOWARN": 0x200,
    "__GFP_REPEAT": 0x400,
    "__GFP_NOFAIL": 0x800,
    "__GFP_NORETRY": 0x1000,
    "__GFP_MEMALLOC": 0x2000,
    "__GFP_COMP": 0x4000,
    "__GFP_ZERO": 0x8000,
    "__GFP_NOMEMALLOC": 0x10000,
    "__GFP_HARDWALL": 0x20000,
    "__GFP_THISNODE": 0x40000,
    "__GFP_ATOMIC": 0x80000,
    "__GFP_NOACCOUNT": 0x100000,
    "__GFP_NOTRACK": 0x200000,
    "__GFP_DIRECT_RECLAIM": 0x400000,
    "__GFP_OTHER_NODE": 0x800000,
    "__GFP_WRITE": 0x1000000,
    "__GFP_KSWAPD_RECLAIM": 0x2000000,
}

# 4.5 - 4.9: opt-in kmem accounting, __GFP_ACCOUNT replaced __GFP_NOACCOUNT.
_BITS_4_5 = _renamed(_BITS_4_4, "__GFP_NOACCOUNT", "__GFP_ACCOUNT")

# 4.10 - 4.12: "mm: get rid of __GFP_OTHER_NODE" shifted WRITE and KSWAPD_RECLAIM
# down one bit each.  __GFP_NOLOCKDEP (4.12) only exists with CONFIG_LOCKDEP.
_BITS_4_10: dict[str, int] = {
    **{k: v for k, v in _BITS_4_5.items() if k != "__GFP_OTHER_NODE"},
    "__GFP_WRITE": 0x800000,
    "__GFP_KSWAPD_RECLAIM": 0x1000000,
    "__GFP_NOLOCKDEP": 0x2000000,
}

# 4.13 - 4.17: __GFP_REPEAT renamed __GFP_RETRY_MAYFAIL (same bit).  4.15 dropped
# __GFP_COLD and __GFP_NOTRACK but left their bits empty, so nothing else moved.
_BITS_4_13 = _renamed(_BITS_4_10, "__GFP_REPEAT", "__GFP_RETRY_MAYFAIL")

# 4.18 - 5.0: "mm: save two stranding bit in gfp_mask" refilled the holes:
# WRITE -> 0x100, DIRECT_RECLAIM -> 0x200000, KSWAPD_RECLAIM -> 0x400000.
_BITS_4_18: dict[str, int] = {
    "__GFP_DMA": 0x01,
    "__GFP_HIGHMEM": 0x02,
    "__GFP_DMA32": 0x04,
    "__GFP_MOVABLE": 0x08,
    "__GFP_RECLAIMABLE": 0x10,
    "__GFP_HIGH": 0x20,
    "__GFP_IO": 0x40,
    "__GFP_FS": 0x80,
    "__GFP_WRITE": 0x100,
    "__GFP_NOWARN": 0x200,
    "__GFP_RETRY_MAYFAIL": 0x400,
    "__GFP_NOFAIL": 0x800,
    "__GFP_NORETRY": 0x1000,
    "__GFP_MEMALLOC": 0x2000,
    "__GFP_COMP": 0x4000,
    "__GFP_ZERO": 0x8000,
    "__GFP_NOMEMALLOC": 0x10000,
    "__GFP_HARDWALL": 0x20000,
    "__GFP_THISNODE": 0x40000,
    "__GFP_ATOMIC": 0x80000,
    "__GFP_ACCOUNT": 0x100000,
    "__GFP_DIRECT_RECLAIM": 0x200000,
    "__GFP_KSWAPD_RECLAIM": 0x400000,
    "__GFP_NOLOCKDEP": 0x800000,
}

# 5.1 - 5.13: "mm: shuffle GFP_* flags" packed GFP_KERNEL into 0xcc0.
_BITS_5_1: dict[str, int] = {
    "__GFP_DMA": 0x01,
    "__GFP_HIGHMEM": 0x02,
    "__GFP_DMA32": 0x04,
    "__GFP_MOVABLE": 0x08,
    "__GFP_RECLAIMABLE": 0x10,
    "__GFP_HIGH": 0x20,
    "__GFP_IO": 0x40,
    "__GFP_FS": 0x80,
    "__GFP_ZERO": 0x100,
    "__GFP_ATOMIC": 0x200,
    "__GFP_DIRECT_RECLAIM": 0x400,
    "__GFP_KSWAPD_RECLAIM": 0x800,
    "__GFP_WRITE": 0x1000,
    "__GFP_NOWARN": 0x2000,
    "__GFP_RETRY_MAYFAIL": 0x4000,
    "__GFP_NOFAIL": 0x8000,
    "__GFP_NORETRY": 0x10000,
    "__GFP_MEMALLOC": 0x20000,
    "__GFP_COMP": 0x40000,
    "__GFP_NOMEMALLOC": 0x80000,
    "__GFP_HARDWALL": 0x100000,
    "__GFP_THISNODE": 0x200000,
    "__GFP_ACCOUNT": 0x400000,
    "__GFP_NOLOCKDEP": 0x800000,
}

# 5.14 - 5.17: __GFP_ZEROTAGS and an unconditional __GFP_SKIP_KASAN_POISON pushed
# NOLOCKDEP up to 0x2000000.
_BITS_5_14: dict[str, int] = {
    **{k: v for k, v in _BITS_5_1.items() if k != "__GFP_NOLOCKDEP"},
    "__GFP_ZEROTAGS": 0x800000,
    "__GFP_SKIP_KASAN_POISON": 0x1000000,
    "__GFP_NOLOCKDEP": 0x2000000,
}

# 5.18 - 6.2: the KASAN bits became CONFIG_KASAN_HW_TAGS-only ("kasan, page_alloc:
# ..." series) and everything above ZEROTAGS depends on the configuration, so only
# the fixed bits are named.  From 6.10 the values come from an enum, still equal
# up to ZEROTAGS because the freed 0x200 bit is kept as ___GFP_UNUSED_BIT.
_BITS_5_18: dict[str, int] = {
    k: v for k, v in _BITS_5_14.items() if k not in ("__GFP_SKIP_KASAN_POISON", "__GFP_NOLOCKDEP")
}

# 6.3 and later: "mm: discard __GFP_ATOMIC" (Mel Gorman, Jan 2023) left 0x200 unused
# and GFP_ATOMIC became __GFP_HIGH | __GFP_KSWAPD_RECLAIM (0x820 instead of 0xa20).
_BITS_6_3: dict[str, int] = {k: v for k, v in _BITS_5_18.items() if k != "__GFP_ATOMIC"}

# --- composite definitions (include/linux/gfp.h), as lists of single flags ----


def _or(bits: dict[str, int], *names: str) -> int:
    """OR the named flags; a name the layout lacks is 0, as the kernel defines it."""
    value = 0
    for name in names:
        value |= bits.get(name, 0)
    return value


_RECLAIM = ("__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM")


def _composites_wait_era(b: dict[str, int]) -> list[tuple[str, int]]:
    kernel = ("__GFP_WAIT", "__GFP_IO", "__GFP_FS")
    highuser_movable = (*kernel, "__GFP_HARDWALL", "__GFP_HIGHMEM", "__GFP_MOVABLE")
    transhuge = (
        *highuser_movable,
        "__GFP_COMP",
        "__GFP_NOMEMALLOC",
        "__GFP_NORETRY",
        "__GFP_NOWARN",
        "__GFP_NO_KSWAPD",
    )
    return [
        ("GFP_TRANSHUGE", _or(b, *transhuge)),
        ("GFP_HIGHUSER_MOVABLE", _or(b, *highuser_movable)),
        ("GFP_HIGHUSER", _or(b, *kernel, "__GFP_HARDWALL", "__GFP_HIGHMEM")),
        ("GFP_USER", _or(b, *kernel, "__GFP_HARDWALL")),
        ("GFP_TEMPORARY", _or(b, *kernel, "__GFP_RECLAIMABLE")),
        ("GFP_KERNEL", _or(b, *kernel)),
        ("GFP_NOFS", _or(b, "__GFP_WAIT", "__GFP_IO")),
        ("GFP_ATOMIC", _or(b, "__GFP_HIGH")),
        ("GFP_NOIO", _or(b, "__GFP_WAIT")),
    ]


@dataclass(frozen=True)
class _CompositeRules:
    """What changed in the composite definitions between releases."""

    transhuge_light: bool  # 4.8+: GFP_TRANSHUGE_LIGHT, GFP_TRANSHUGE = LIGHT | DIRECT
    temporary: bool  # GFP_TEMPORARY existed until 4.13
    atomic_bit: bool  # GFP_ATOMIC included __GFP_ATOMIC until 6.2
    skip_kasan_in_movable: bool  # 5.14 - 5.17: GFP_HIGHUSER_MOVABLE | SKIP_KASAN_POISON


def _composites_reclaim_era(b: dict[str, int], rules: _CompositeRules) -> list[tuple[str, int]]:
    kernel = (*_RECLAIM, "__GFP_IO", "__GFP_FS")
    user = (*kernel, "__GFP_HARDWALL")
    highuser_movable = (*user, "__GFP_HIGHMEM", "__GFP_MOVABLE")
    reclaim = _or(b, *_RECLAIM)
    thp_light = _or(b, *highuser_movable, "__GFP_COMP", "__GFP_NOMEMALLOC", "__GFP_NOWARN")
    thp_light &= ~reclaim
    if rules.transhuge_light:
        transhuge = [
            ("GFP_TRANSHUGE", thp_light | _or(b, "__GFP_DIRECT_RECLAIM")),
            ("GFP_TRANSHUGE_LIGHT", thp_light),
        ]
    else:
        transhuge = [("GFP_TRANSHUGE", thp_light | _or(b, "__GFP_NORETRY"))]
    atomic = ("__GFP_HIGH", "__GFP_ATOMIC", "__GFP_KSWAPD_RECLAIM")
    if not rules.atomic_bit:
        atomic = ("__GFP_HIGH", "__GFP_KSWAPD_RECLAIM")
    table = [
        *transhuge,
        ("GFP_HIGHUSER_MOVABLE", _or(b, *highuser_movable)),
        ("GFP_HIGHUSER", _or(b, *user, "__GFP_HIGHMEM")),
        ("GFP_USER", _or(b, *user)),
    ]
    if rules.temporary:
        table.append(("GFP_TEMPORARY", _or(b, *kernel, "__GFP_RECLAIMABLE")))
    if "__GFP_ACCOUNT" in b:  # 4.5+
        table.append(("GFP_KERNEL_ACCOUNT", _or(b, *kernel, "__GFP_ACCOUNT")))
    table += [
        ("GFP_KERNEL", _or(b, *kernel)),
        ("GFP_NOFS", _or(b, *_RECLAIM, "__GFP_IO")),
        ("GFP_ATOMIC", _or(b, *atomic)),
        ("GFP_NOIO", reclaim),
        ("GFP_NOWAIT", _or(b, "__GFP_KSWAPD_RECLAIM")),
        ("GFP_DMA", _or(b, "__GFP_DMA")),
        ("__GFP_HIGHMEM", _or(b, "__GFP_HIGHMEM")),
        ("GFP_DMA32", _or(b, "__GFP_DMA32")),
    ]
    return table


# --- order of the single-flag entries after the composites --------------------

# gfpflags.h of 2.6.32 - 4.3, then the bits that list never named.  Names a
# layout lacks are skipped.
_SINGLES_WAIT_ERA = (
    "__GFP_HIGH",
    "__GFP_WAIT",
    "__GFP_IO",
    "__GFP_COLD",
    "__GFP_NOWARN",
    "__GFP_REPEAT",
    "__GFP_NOFAIL",
    "__GFP_NORETRY",
    "__GFP_COMP",
    "__GFP_ZERO",
    "__GFP_NOMEMALLOC",
    "__GFP_MEMALLOC",
    "__GFP_HARDWALL",
    "__GFP_THISNODE",
    "__GFP_RECLAIMABLE",
    "__GFP_MOVABLE",
    "__GFP_NOTRACK",
    "__GFP_NO_KSWAPD",
    "__GFP_OTHER_NODE",
    "__GFP_DMA",
    "__GFP_HIGHMEM",
    "__GFP_DMA32",
    "__GFP_FS",
    "__GFP_KMEMCG",
    "__GFP_NOACCOUNT",
    "__GFP_WRITE",
)

# mmflags.h / gfpflags.h from 4.4 on; names a layout lacks are skipped.
_SINGLES_RECLAIM_ERA = (
    "__GFP_HIGH",
    "__GFP_ATOMIC",
    "__GFP_IO",
    "__GFP_FS",
    "__GFP_COLD",
    "__GFP_NOWARN",
    "__GFP_REPEAT",
    "__GFP_RETRY_MAYFAIL",
    "__GFP_NOFAIL",
    "__GFP_NORETRY",
    "__GFP_COMP",
    "__GFP_ZERO",
    "__GFP_NOMEMALLOC",
    "__GFP_MEMALLOC",
    "__GFP_HARDWALL",
    "__GFP_THISNODE",
    "__GFP_RECLAIMABLE",
    "__GFP_MOVABLE",
    "__GFP_ACCOUNT",
    "__GFP_NOTRACK",
    "__GFP_WRITE",
    "__GFP_RECLAIM",
    "__GFP_DIRECT_RECLAIM",
    "__GFP_KSWAPD_RECLAIM",
    "__GFP_OTHER_NODE",
    "__GFP_NOACCOUNT",
    "__GFP_ZEROTAGS",
    "__GFP_SKIP_KASAN_POISON",
    "__GFP_NOLOCKDEP",
)


@dataclass(frozen=True)
class _FlagName:
    name: str
    mask: int
    optional: int = 0  # bits the entry also consumes when present (config-dependent)


@dataclass(frozen=True)
class _Generation:
    label: str
    first: tuple[int, ...]  # first (major, minor[, patch]) release this table applies to
    names: tuple[_FlagName, ...]


def _build(
    label: str,
    first: tuple[int, ...],
    bits: dict[str, int],
    composites: list[tuple[str, int]],
    singles: tuple[str, ...],
    optional: dict[str, int] | None = None,
) -> _Generation:
    optional = optional or {}
    entries = [_FlagName(n, m, optional.get(n, 0)) for n, m in composites if m]
    for name in singles:
        # __GFP_RECLAIM is the one two-bit entry among the singles.
        mask = _or(bits, *_RECLAIM) if name == "__GFP_RECLAIM" else bits.get(name, 0)
        if mask:
            entries.append(_FlagName(name, mask))
    return _Generation(label, first, tuple(entries))


def _reclaim_generation(
    label: str, first: tuple[int, ...], bits: dict[str, int], rules: _CompositeRules
) -> _Generation:
    optional = {}
    if rules.skip_kasan_in_movable:
        # Mainline 5.14-5.17 ORs __GFP_SKIP_KASAN_POISON into GFP_HIGHUSER_MOVABLE
        # (a 5.15 report prints 0x1100cca(GFP_HIGHUSER_MOVABLE)); vendor kernels that
        # took the 5.18 change print 0x100cca(GFP_HIGHUSER_MOVABLE).  Accept both.
        optional["GFP_HIGHUSER_MOVABLE"] = bits["__GFP_SKIP_KASAN_POISON"]
    composites = _composites_reclaim_era(bits, rules)
    return _build(label, first, bits, composites, _SINGLES_RECLAIM_ERA, optional)


def _rules(**overrides: bool) -> _CompositeRules:
    base = {
        "transhuge_light": True,
        "temporary": False,
        "atomic_bit": True,
        "skip_kasan_in_movable": False,
    }
    base.update(overrides)
    return _CompositeRules(**base)


_GEN_2_6_31 = _build(
    "2.6.31-3.14",
    (2, 6, 31),
    _BITS_WAIT_ERA,
    _composites_wait_era(_BITS_WAIT_ERA),
    _SINGLES_WAIT_ERA,
)
_GEN_2_6_23 = _build(
    "2.6.23-2.6.30", (2, 6, 23), _BITS_2_6_23, _composites_wait_era(_BITS_2_6_23), _SINGLES_WAIT_ERA
)

# Newest first; the first whose `first` is <= the running release wins.
_GENERATIONS: tuple[_Generation, ...] = (
    _reclaim_generation("6.3+", (6, 3), _BITS_6_3, _rules(atomic_bit=False)),
    _reclaim_generation("5.18-6.2", (5, 18), _BITS_5_18, _rules()),
    _reclaim_generation("5.14-5.17", (5, 14), _BITS_5_14, _rules(skip_kasan_in_movable=True)),
    _reclaim_generation("5.1-5.13", (5, 1), _BITS_5_1, _rules()),
    _reclaim_generation("4.18-5.0", (4, 18), _BITS_4_18, _rules()),
    _reclaim_generation("4.14-4.17", (4, 14), _BITS_4_13, _rules()),
    _reclaim_generation("4.13", (4, 13), _BITS_4_13, _rules(temporary=True)),
    _reclaim_generation("4.10-4.12", (4, 10), _BITS_4_10, _rules(temporary=True)),
    _reclaim_generation("4.8-4.9", (4, 8), _BITS_4_5, _rules(temporary=True)),
    _reclaim_generation(
        "4.5-4.7", (4, 5), _BITS_4_5, _rules(temporary=True, transhuge_light=False)
    ),
    _reclaim_generation("4.4", (4, 4), _BITS_4_4, _rules(temporary=True, transhuge_light=False)),
    _build("3.15-4.3", (3, 15), _BITS_3_15, _composites_wait_era(_BITS_3_15), _SINGLES_WAIT_ERA),
    _GEN_2_6_31,
    _GEN_2_6_23,
    # before 2.6.23 no mask has a movable bit: the 2.6.31 table reads them alike
    replace(_GEN_2_6_31, label="2.6-2.6.22", first=(2, 6)),
)

# (major, minor, patch): 2.6.x releases differ by their third number
_RELEASE_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")


def kernel_generation(kernel_release: str | None) -> str | None:
    """Label of the flag table used for a release such as ``5.15.0-1041-azure``."""
    generation = _generation_for(kernel_release)
    return generation.label if generation else None


def _generation_for(kernel_release: str | None) -> _Generation | None:
    if not kernel_release:
        return None
    match = _RELEASE_RE.match(kernel_release)
    if not match:
        return None
    version = (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
    for generation in _GENERATIONS:
        if version >= generation.first:
            return generation
    return None


def _format_flags(mask: int, generation: _Generation) -> list[str]:
    names: list[str] = []
    remaining = mask
    for entry in generation.names:
        if not remaining:
            break
        if remaining & entry.mask != entry.mask:
            continue
        names.append(entry.name)
        remaining &= ~(entry.mask | entry.optional)
    if remaining:
        names.append(hex(remaining))
    return names


def decode_gfp_mask(mask: int, kernel_release: str | None) -> list[str] | None:
    """Flag names for ``mask`` as the kernel ``kernel_release`` would print them.

    Returns None when the release is missing or unparsable, because the bit
    values differ between kernel generations.  A zero mask decodes to [].
    """
    if mask < 0:
        raise ValueError(f"gfp mask cannot be negative: {mask}")
    generation = _generation_for(kernel_release)
    if generation is None:
        return None
    if generation is _GEN_2_6_23 and mask & _BITS_WAIT_ERA["__GFP_MOVABLE"]:
        generation = _GEN_2_6_31
    return _format_flags(mask, generation)


_FIELD_RE = re.compile(
    r"^\s*(?:gfp_mask=)?(?P<hex>0x[0-9a-fA-F]+)\s*(?:\((?P<names>[^)]*)\))?\s*,?\s*$"
)


def parse_gfp_field(text: str, kernel_release: str | None) -> tuple[str, list[str] | None]:
    """Split a header field like ``0x1100cca(GFP_HIGHUSER_MOVABLE)``.

    Returns the hex as printed and the flag names, preferring the names the
    kernel printed itself; without them the mask is decoded for the release.
    Raises ValueError when the text is not a gfp_mask field.
    """
    match = _FIELD_RE.match(text)
    if not match:
        raise ValueError(f"not a gfp_mask field: {text!r}")
    hex_text = match.group("hex")
    printed = match.group("names")
    if printed is not None:
        printed = printed.strip()
        if printed in ("", "none"):
            return hex_text, []
        return hex_text, [name.strip() for name in printed.split("|") if name.strip()]
    return hex_text, decode_gfp_mask(int(hex_text, 16), kernel_release)
