"""Static SVG charts (bars with axes, tick labels, axis titles and legends), no scripts.

Every mark carries `data-label`/`data-value`, so tests (and curious readers of the DOM) can
check what a chart shows against the numbers in the JSON output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

# Colour-blind-safe palette (Okabe-Ito), in legend order.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked bar per label; `values` maps a stack key to its height."""

    labels: list[str]
    stacks: list[str]
    values: list[dict[str, float]]


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """0..top in steps of 1, 2 or 5 x 10^k, with top >= maximum."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if step < 1 and maximum >= 1:
        step = 1
    top = math.ceil(maximum / step) * step
    ticks, value = [], 0.0
    while value <= top + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _text(x: float, y: float, body: str, cls: str, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>'
        f"{escape(body)}</text>"
    )


def _legend(stacks: list[str], x: float, y: float) -> str:
    items = []
    for i, name in enumerate(stacks):
        ix = x + i * 130
        items.append(
            f'<g class="legend-item" data-label="{escape(name)}">'
            f'<rect x="{ix:.1f}" y="{y - 10:.1f}" width="12" height="12" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            + _text(ix + 17, y, name, "legend-label", "start")
            + "</g>"
        )
    return f'<g class="legend">{"".join(items)}</g>'


def column_chart(
    series: Series,
    title: str,
    x_title: str,
    y_title: str,
    width: int = 900,
    height: int = 320,
    label_every: int | None = None,
) -> str:
    """Vertical stacked columns over ordered labels (days, weeks)."""
    left, right, top, bottom = 56, 40, 56, 64  # right margin keeps the last date label whole
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(v.values()) for v in series.values] or [0]
    ticks = nice_ticks(max(totals))
    scale = plot_h / ticks[-1]
    n = max(len(series.labels), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.75, 1.0)
    # as many tick labels as fit side by side (about 6.5 px per character at 11 px)
    widest = max((len(label) for label in series.labels), default=1) * 6.5 + 10
    every = label_every or max(1, math.ceil(n / max(1, int(plot_w // widest))))
    parts = [_svg_open(width, height, title), _text(width / 2, 22, title, "chart-title")]
    parts.append(_legend(series.stacks, left, 44))
    grid = ['<g class="axis y-axis">']
    for tick in ticks:
        y = top + plot_h - tick * scale
        grid.append(
            f'<line class="gridline" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
            + _text(left - 6, y + 4, _fmt(tick), "tick-label", "end")
        )
    grid.append(
        _text(
            14,
            top + plot_h / 2,
            y_title,
            "axis-title",
            "middle",
            f' transform="rotate(-90 14 {top + plot_h / 2:.1f})"',
        )
    )
    grid.append("</g>")
    parts.extend(grid)
    bars, xlabels = ['<g class="bars">'], ['<g class="axis x-axis">']
    xlabels.append(
        f'<line class="axis-line" x1="{left}" x2="{left + plot_w}" '
        f'y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    for i, (label, values) in enumerate(zip(series.labels, series.values, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        base = top + plot_h
        total = sum(values.values())
        bars.append(f'<g class="column" data-label="{escape(label)}" data-value="{_fmt(total)}">')
        for s, stack in enumerate(series.stacks):
            value = values.get(stack, 0)
            if not value:
                continue
            h = value * scale
            base -= h
            bars.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}" '
                f'data-label="{escape(label)}" data-stack="{escape(stack)}" '
                f'data-value="{_fmt(value)}"><title>{escape(label)} {escape(stack)}: '
                f"{_fmt(value)}</title></rect>"
            )
        bars.append("</g>")
        if (n - 1 - i) % every == 0:  # counted from the end so the latest label shows
            xlabels.append(_text(x + bar_w / 2, top + plot_h + 16, label, "tick-label"))
        if total and n <= 31:
            bars.append(_text(x + bar_w / 2, base - 4, _fmt(total), "value-label"))
    xlabels.append(_text(left + plot_w / 2, height - 12, x_title, "axis-title"))
    parts.extend(bars + ["</g>"] + xlabels + ["</g>", "</svg>"])
    return "".join(parts)


def short_label(label: str, limit: int) -> str:
    """At most limit characters, cut in the middle; a `kind: ` prefix (pod:, unit:) is kept."""
    if len(label) <= limit:
        return label
    kind, sep, name = label.partition(": ")
    if not sep or len(kind) > 10:
        kind, sep, name = "", "", label
    room = limit - len(kind) - len(sep) - 1
    head = (room + 1) // 2
    return f"{kind}{sep}{name[:head]}…{name[len(name) - (room - head) :]}"


def bar_chart(
    rows: list[tuple[str, float]],
    title: str,
    x_title: str,
    width: int = 440,
    label_width: int = 170,
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars, one per row, biggest first, values written at the bar ends."""
    top, bottom, right, row_h = 40, 44, 40, 24
    height = top + bottom + row_h * max(len(rows), 1)
    plot_w = width - label_width - right
    ticks = nice_ticks(max((v for _, v in rows), default=0), 4)
    scale = plot_w / ticks[-1]
    parts = [_svg_open(width, height, title), _text(width / 2, 22, title, "chart-title")]
    plot_bottom = top + row_h * max(len(rows), 1)
    parts.append('<g class="axis x-axis">')
    for tick in ticks:
        x = label_width + tick * scale
        parts.append(
            f'<line class="gridline" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}"/>'
            + _text(x, plot_bottom + 14, _fmt(tick), "tick-label")
        )
    parts.append(_text(label_width + plot_w / 2, height - 8, x_title, "axis-title"))
    parts.append('</g><g class="axis y-axis">')
    parts.append(
        f'<line class="axis-line" x1="{label_width}" x2="{label_width}" '
        f'y1="{top}" y2="{plot_bottom}"/>'
    )
    for i, (label, _) in enumerate(rows):
        shown = short_label(label, 26)
        parts.append(
            _text(label_width - 6, top + i * row_h + row_h / 2 + 4, shown, "tick-label", "end")
        )
    parts.append('</g><g class="bars">')
    if not rows:
        parts.append(_text(width / 2, top + row_h / 2 + 4, "no data", "tick-label"))
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h + 4
        w = value * scale
        parts.append(
            f'<rect class="bar" x="{label_width}" y="{y:.1f}" width="{w:.1f}" '
            f'height="{row_h - 8}" fill="{color}" data-label="{escape(label)}" '
            f'data-value="{_fmt(value)}"><title>{escape(label)}: {_fmt(value)}</title></rect>'
            + _text(label_width + w + 4, y + row_h / 2 + 1, _fmt(value), "value-label", "start")
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _svg_open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" style="{FONT}">'
        "<style>.chart-title{font-size:15px;font-weight:600;fill:#1f2937}"
        ".tick-label{font-size:11px;fill:#374151}.axis-title{font-size:12px;fill:#111827}"
        ".legend-label{font-size:12px;fill:#111827}.value-label{font-size:11px;fill:#111827}"
        ".gridline{stroke:#e5e7eb;stroke-width:1}.axis-line{stroke:#6b7280;stroke-width:1}"
        "</style>"
        f'<rect class="background" width="{width}" height="{height}" fill="#ffffff"/>'
    )
