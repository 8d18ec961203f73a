import json
import re
from pathlib import Path

import pytest

from oom_enricher.enrich.gfp_flags import decode_gfp_mask, kernel_generation, parse_gfp_field

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.mark.parametrize(
    ("mask", "release", "expected"),
    [
        # Masks and releases from published reports; the expected names are what
        # those kernels printed (4.5+) or what their trace tables would print.
        (0x1100CCA, "5.15.0-1041-azure", ["GFP_HIGHUSER_MOVABLE"]),
        (0x100CCA, "5.14.0-333.el9.x86_64", ["GFP_HIGHUSER_MOVABLE"]),
        (0x140CCA, "6.12.62+rpt-rpi-v8", ["GFP_HIGHUSER_MOVABLE", "__GFP_COMP"]),
        (0xCC0, "6.5.0", ["GFP_KERNEL"]),
        (0x6000C0, "4.19.0-91.82.152.28.tyy.5.uelc20.loongarch64", ["GFP_KERNEL"]),
        (0x14200CA, "4.14.0-next-20171114+", ["GFP_HIGHUSER_MOVABLE"]),
        (0x14280CA, "4.15.8", ["GFP_HIGHUSER_MOVABLE", "__GFP_ZERO"]),
        (0x24000C0, "4.8.11-200.fc24.x86_64", ["GFP_KERNEL"]),
        (0xD0, "3.13.0-36-generic", ["GFP_KERNEL"]),
        (0x201DA, "3.10.0-514.21.1.el7.x86_64", ["GFP_HIGHUSER_MOVABLE", "__GFP_COLD"]),
        (0x201DA, "2.6.30", ["GFP_HIGHUSER_MOVABLE", "__GFP_COLD"]),
    ],
)
def test_real_masks_decode_to_the_kernels_own_names(mask, release, expected):
    assert decode_gfp_mask(mask, release) == expected


@pytest.mark.parametrize(
    ("mask", "release", "expected"),
    [
        # The same GFP_HIGHUSER_MOVABLE has a different value in every layout.
        (0x200DA, "3.2.0", ["GFP_HIGHUSER_MOVABLE"]),
        (0x24200CA, "4.4.0-21-generic", ["GFP_HIGHUSER_MOVABLE"]),
        (0x14200CA, "4.10.0", ["GFP_HIGHUSER_MOVABLE"]),
        (0x6200CA, "4.18.0-147.el8.x86_64", ["GFP_HIGHUSER_MOVABLE"]),
        (0x100CCA, "5.4.0-42-generic", ["GFP_HIGHUSER_MOVABLE"]),
        (0x100CCA, "6.1.0-18-amd64", ["GFP_HIGHUSER_MOVABLE"]),
        # GFP_KERNEL per generation.
        (0x24000C0, "4.4.0", ["GFP_KERNEL"]),
        (0x14000C0, "4.13.16", ["GFP_KERNEL"]),
        (0x6000C0, "5.0.21", ["GFP_KERNEL"]),
        (0xCC0, "5.1.0", ["GFP_KERNEL"]),
    ],
)
def test_layout_boundaries(mask, release, expected):
    assert decode_gfp_mask(mask, release) == expected


def test_composites_take_priority_in_kernel_order():
    # GFP_KERNEL | __GFP_ACCOUNT is its own name; GFP_KERNEL | __GFP_ZERO is not.
    assert decode_gfp_mask(0x400CC0, "5.10.0") == ["GFP_KERNEL_ACCOUNT"]
    assert decode_gfp_mask(0xDC0, "5.10.0") == ["GFP_KERNEL", "__GFP_ZERO"]
    # GFP_TEMPORARY existed until 4.13, so the same bits read differently on 4.14.
    assert decode_gfp_mask(0x14000D0, "4.13.0") == ["GFP_TEMPORARY"]
    assert decode_gfp_mask(0x14000D0, "4.14.0") == ["GFP_KERNEL", "__GFP_RECLAIMABLE"]


def test_the_accounting_bit_changed_meaning():
    # 0x100000: __GFP_KMEMCG (3.8-3.14), __GFP_NOACCOUNT (4.2-4.4), __GFP_ACCOUNT (4.5+).
    assert decode_gfp_mask(0x1000D0, "3.10.0") == ["GFP_KERNEL", "__GFP_KMEMCG"]
    assert decode_gfp_mask(0x1000D0, "4.2.0") == ["GFP_KERNEL", "__GFP_NOACCOUNT"]
    assert decode_gfp_mask(0x25000C0, "4.4.0") == ["GFP_KERNEL", "__GFP_NOACCOUNT"]
    assert decode_gfp_mask(0x25000C0, "4.6.0") == ["GFP_KERNEL_ACCOUNT"]


def test_gfp_atomic_lost_its_own_bit_in_6_3():
    # Page allocation failures print the same names: 5.4 "mode:0xa20(GFP_ATOMIC)",
    # 6.5.9 and 6.6 "mode:0x820(GFP_ATOMIC)".
    assert decode_gfp_mask(0xA20, "5.4.30") == ["GFP_ATOMIC"]
    assert decode_gfp_mask(0xA20, "6.1.0") == ["GFP_ATOMIC"]
    assert decode_gfp_mask(0x820, "6.2.0") == ["GFP_NOWAIT", "__GFP_HIGH"]
    assert decode_gfp_mask(0x820, "6.5.9") == ["GFP_ATOMIC"]
    assert decode_gfp_mask(0x820, "6.6.43-CUSTOM") == ["GFP_ATOMIC"]


def test_single_flags_follow_the_composites():
    assert decode_gfp_mask(0x8, "6.6.0") == ["__GFP_MOVABLE"]
    assert decode_gfp_mask(0x2CC0, "6.6.0") == ["GFP_KERNEL", "__GFP_NOWARN"]
    assert decode_gfp_mask(0x44CC0, "5.4.0") == ["GFP_KERNEL", "__GFP_RETRY_MAYFAIL", "__GFP_COMP"]


def test_unknown_bits_become_a_hex_remainder():
    assert decode_gfp_mask(0x10000CC0, "6.5.0") == ["GFP_KERNEL", "0x10000000"]
    assert decode_gfp_mask(0x1000000, "6.5.0") == ["0x1000000"]
    # Config-dependent bits (KASAN tags, lockdep) are not guessed from 5.18 on.
    assert decode_gfp_mask(0x1100CCA, "6.1.0") == ["GFP_HIGHUSER_MOVABLE", "0x1000000"]


def test_zero_mask_has_no_names():
    assert decode_gfp_mask(0, "6.5.0") == []


@pytest.mark.parametrize("release", [None, "", "linux", "v-next", "unknown", "2.4.37"])
def test_unknown_generation_gives_none(release):
    assert decode_gfp_mask(0xCC0, release) is None
    assert kernel_generation(release) is None


def test_negative_mask_is_rejected():
    with pytest.raises(ValueError):
        decode_gfp_mask(-1, "6.5.0")


def test_kernel_generation_labels():
    assert kernel_generation("5.15.0-1041-azure") == "5.14-5.17"
    assert kernel_generation("3.10.0-514.21.1.el7.x86_64") == "2.6.31-3.14"
    assert kernel_generation("6.12.62+rpt-rpi-v8") == "6.3+"
    assert kernel_generation("6.1.0-18-amd64") == "5.18-6.2"


def test_parse_field_prefers_printed_names():
    # The printed names win even when the release is unknown or disagrees.
    assert parse_gfp_field("0x1100cca(GFP_HIGHUSER_MOVABLE)", None) == (
        "0x1100cca",
        ["GFP_HIGHUSER_MOVABLE"],
    )
    assert parse_gfp_field("0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)", "3.10.0") == (
        "0x140cca",
        ["GFP_HIGHUSER_MOVABLE", "__GFP_COMP"],
    )
    assert parse_gfp_field("gfp_mask=0x24000c0(GFP_KERNEL),", None) == ("0x24000c0", ["GFP_KERNEL"])


def test_parse_field_decodes_bare_hex():
    assert parse_gfp_field("0xd0", "3.13.0-36-generic") == ("0xd0", ["GFP_KERNEL"])
    assert parse_gfp_field("gfp_mask=0x201da,", "2.6.30") == (
        "0x201da",
        ["GFP_HIGHUSER_MOVABLE", "__GFP_COLD"],
    )
    assert parse_gfp_field("0xd0", None) == ("0xd0", None)


def test_parse_field_empty_names():
    assert parse_gfp_field("0x0()", "6.1.0") == ("0x0", [])
    assert parse_gfp_field("0x0(none)", "6.1.0") == ("0x0", [])


@pytest.mark.parametrize("text", ["", "GFP_KERNEL", "0xzz", "order=0"])
def test_parse_field_rejects_other_text(text):
    with pytest.raises(ValueError):
        parse_gfp_field(text, "6.1.0")


def _corpus_fields() -> list[tuple[str, str, str]]:
    """(log name, gfp field text, kernel release) for every corpus report that has both."""
    cases = []
    for log in sorted(CORPUS.glob("*.log")):
        facts = log.with_suffix(".json")
        if not facts.exists():
            continue
        release = json.loads(facts.read_text()).get("kernel")
        match = re.search(r"gfp_mask=(0x[0-9a-f]+(?:\([^)]*\))?)", log.read_text(errors="replace"))
        if release and match:
            cases.append((log.name, match.group(1), release))
    return cases


CORPUS_FIELDS = _corpus_fields()


def test_corpus_has_gfp_fields():
    assert len(CORPUS_FIELDS) >= 8


@pytest.mark.parametrize(("log", "field", "release"), CORPUS_FIELDS)
def test_decoding_agrees_with_every_printed_corpus_field(log, field, release):
    hex_text, printed = parse_gfp_field(field, release)
    decoded = decode_gfp_mask(int(hex_text, 16), release)
    if "(" in field:
        assert decoded == printed, log
    else:
        assert decoded, log


@pytest.mark.parametrize(
    ("release", "mask", "names"),
    [
        # 2.6.23-2.6.30: __GFP_MOVABLE was 0x100000 (a page-cache readahead's mask)
        ("2.6.26-2-xen-686", 0x1201D2, ["GFP_HIGHUSER_MOVABLE", "__GFP_COLD"]),
        # 2.6.18 had no movable bit: the same page cache mask without it
        ("2.6.18-194.el5", 0x201D2, ["GFP_HIGHUSER", "__GFP_COLD"]),
        # 2.6.31 moved it to 0x08
        ("2.6.32-431.el6.x86_64", 0x201DA, ["GFP_HIGHUSER_MOVABLE", "__GFP_COLD"]),
    ],
)
def test_2_6_masks_by_their_third_release_number(release, mask, names):
    assert decode_gfp_mask(mask, release) == names
