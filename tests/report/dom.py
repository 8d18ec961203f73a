"""Reading report HTML (or Chromium's --dump-dom output) back into tables and chart marks."""

from __future__ import annotations

from html.parser import HTMLParser


class ReportDom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.charts: list[dict] = []  # {"title": str, "marks": [attrs of data-value elements]}
        self.elements: list[tuple[str, dict]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._svg: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag == "table":
            self._table = a.get("data-key")
            self.tables[self._table] = []
        elif tag == "tr" and self._table and a.get("class") != "empty":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []
        elif tag == "svg" and "chart" in a.get("class", ""):
            self._svg = {"title": a.get("aria-label"), "marks": []}
            self.charts.append(self._svg)
        elif self._svg is not None and tag == "rect" and "bar" in a.get("class", "").split():
            self._svg["marks"].append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "svg":
            self._svg = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_dom(html: str) -> ReportDom:
    dom = ReportDom()
    dom.feed(html)
    return dom


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """`## Title` -> rows of the pipe table under it (header and rule left out)."""
    tables, title, rows = {}, None, []
    for line in text.splitlines():
        if line.startswith("## "):
            title, rows = line[3:], []
            tables[title] = rows
        elif line.startswith("|") and title:
            cells = [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
            rows.append(cells)
    return {k: v[2:] for k, v in tables.items()}
