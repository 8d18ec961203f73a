"""Renderers: the report dict as one self-contained HTML page, as Markdown, or as JSON."""

from __future__ import annotations

import json
from html import escape

from oom_enricher.report import svg
from oom_enricher.report.tables import Table, report_tables, summary

CSS = """
body{margin:0;background:#f3f4f6;color:#111827;
 font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:14px}
main{max-width:1280px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.subtitle{color:#4b5563;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px #0002}
.card .label{color:#6b7280;font-size:12px}.card .value{font-size:22px;font-weight:600}
#summary .card.small .value{font-size:15px}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.chart-box{background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 2px #0002}
table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f9fafb;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{max-width:520px}
.table-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:0 16px}
.note{color:#6b7280;font-size:12px;margin:4px 0}
.nw{white-space:nowrap}
"""


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _html_table(table: Table) -> str:
    def cls(i: int) -> str:
        return "num" if i in table.numeric else "wrap"

    def cell(i: int, text: str) -> str:
        if i not in table.nowrap:
            return escape(text)
        # each name or time stays on one line; the list may wrap between them
        return ", ".join(f'<span class="nw">{escape(item)}</span>' for item in text.split(", "))

    head = "".join(f'<th class="{cls(i)}">{escape(h)}</th>' for i, h in enumerate(table.headers))
    body = []
    for row in table.rows:
        cells = "".join(f'<td class="{cls(i)}">{cell(i, c)}</td>' for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr class="empty"><td colspan="{len(table.headers)}">none</td></tr>')
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<section class="table-section" id="{table.key}"><h2>{escape(table.title)}</h2>{note}'
        f'<table class="report-table" data-key="{table.key}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></section>"
    )


def _table_sections(tables: list[Table]) -> str:
    """Small ranking tables side by side in a grid; wide tables full width."""
    parts, narrow = [], []
    for table in tables:
        if len(table.headers) <= 3 and table.key.startswith("by_"):
            narrow.append(_html_table(table))
            continue
        if narrow:
            parts.append(f'<div class="table-grid">{"".join(narrow)}</div>')
            narrow = []
        parts.append(_html_table(table))
    if narrow:
        parts.append(f'<div class="table-grid">{"".join(narrow)}</div>')
    return "".join(parts)


def _charts(report: dict) -> list[str]:
    scopes = sorted({s for d in report["daily"] for s in d["by_scope"]})
    daily = svg.Series(
        labels=[d["date"] for d in report["daily"]],
        stacks=scopes,
        values=[{k: float(v) for k, v in d["by_scope"].items()} for d in report["daily"]],
    )
    weekly = svg.Series(
        labels=[w["week"] for w in report["weekly"]],
        stacks=["kills"],
        values=[{"kills": float(w["kills"])} for w in report["weekly"]],
    )
    charts = [
        svg.column_chart(daily, "OOM kills per day, by scope", "day (UTC)", "kills", 1240),
        svg.column_chart(weekly, "OOM kills per week", "ISO week", "kills", 610),
        svg.bar_chart(
            [(r["key"], r["kills"]) for r in report["by_limit_hit"]],
            "Which limit was hit",
            "kills",
            610,
            color=svg.PALETTE[5],
        ),
        svg.bar_chart([(r["key"], r["kills"]) for r in report["by_host"]], "Top hosts", "kills"),
        svg.bar_chart(
            [(f"{r['kind']}: {r['key']}", r["kills"]) for r in report["by_workload"]],
            "Top containers, pods and units",
            "kills",
            color=svg.PALETTE[2],
        ),
        svg.bar_chart(
            [(r["key"], r["kills"]) for r in report["by_victim"]],
            "Top victim processes",
            "kills",
            color=svg.PALETTE[1],
        ),
    ]
    for key, title in (("by_cluster", "Top clusters"), ("by_namespace", "Top namespaces")):
        if report[key]:
            charts.append(
                svg.bar_chart(
                    [(r["key"], r["kills"]) for r in report[key]],
                    title,
                    "kills",
                    color=svg.PALETTE[3],
                )
            )
    return charts


def render_html(report: dict, title: str = "OOM kills — fleet report") -> str:
    cards = "".join(
        f'<div class="card{" small" if len(v) > 16 else ""}"><div class="label">{escape(k)}</div>'
        f'<div class="value">{escape(v)}</div></div>'
        for k, v in summary(report)
    )
    charts = "".join(f'<div class="chart-box">{c}</div>' for c in _charts(report))
    tables = _table_sections(report_tables(report))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="subtitle">Generated by oom-enricher from {report["totals"]["kills"]} '
        "OOM-killer reports.</p>"
        f'<section class="cards" id="summary">{cards}</section>'
        f'<h2>Trends</h2><section class="charts">{charts}</section>'
        f"{tables}</main></body></html>\n"
    )


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict, title: str = "OOM kills — fleet report") -> str:
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {_md_cell(v)}" for k, v in summary(report)]
    for table in report_tables(report):
        lines += ["", f"## {table.title}", ""]
        if table.note:
            lines += [f"_{table.note}_", ""]
        if not table.rows:
            lines.append("none")
            continue
        lines.append("| " + " | ".join(table.headers) + " |")
        lines.append(
            "|"
            + "|".join("---:" if i in table.numeric else "---" for i in range(len(table.headers)))
            + "|"
        )
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"
