"""The HTML report as a browser shows it: headless Chromium renders charts, not a blank page."""

from pathlib import Path

import pytest
from PIL import Image

from oom_enricher.report.render import render_html
from oom_enricher.report.trends import build_report
from tests.report.chromium import dump_dom, ensure_chromium, screenshot
from tests.report.dom import parse_dom
from tests.report.fleet import fleet_documents

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def chromium() -> str:
    return ensure_chromium()


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def check_rendered(chromium: str, page: Path, shot: Path) -> None:
    """Shared with the corpus test: a non-blank screenshot and all charts in the DOM."""
    screenshot(chromium, page, shot)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1300, 2600)
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # text, bars, gridlines: not blank
    background = max(colors)[0] / (image.width * image.height)
    assert background < 0.9
    seen = {_hex(rgb) for _, rgb in colors}
    assert {"#0072B2", "#E69F00"} <= seen  # bar fill colours of the palette were painted
    rendered = parse_dom(dump_dom(chromium, page))
    source = parse_dom(page.read_text())
    assert len(rendered.charts) == len(source.charts) >= 6
    for got, want in zip(rendered.charts, source.charts, strict=True):
        assert got["title"] == want["title"]
        assert got["marks"] == want["marks"]


def test_fleet_report_renders_in_chromium(chromium, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(build_report(fleet_documents())), encoding="utf-8")
    check_rendered(chromium, page, tmp_path / "report.png")
