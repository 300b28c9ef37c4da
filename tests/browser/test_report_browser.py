"""The owner's report opened from a file in headless Chromium, on a desktop and on a phone:
every chart drawn at a real size, every table whole, and no sideways scrolling on the phone."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from lifecycle.reporting.html import write
from tests.report_samples import sample_report

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# The latest screenshots, at a fixed place where a person can look at them after a run.
COPIES = {
    "desktop": Path("/tmp/report-desktop.png"),  # noqa: S108 - only ever written, never read
    "phone": Path("/tmp/report-phone.png"),  # noqa: S108 - only ever written, never read
}

# Everything a chart draws over its axes; the axes and grid are in groups of class "axis".
MARKS = "polyline, path, rect, circle, line"


def _drawn(figure: Any) -> int:
    """How many marks the figure's drawing has outside its axes."""
    return int(
        figure.locator("svg").evaluate(
            f"""svg => [...svg.querySelectorAll({MARKS!r})]
                .filter(e => !e.closest('.axis') && !e.closest('.placeholder')).length"""
        )
    )


@pytest.mark.parametrize("name", ["desktop", "phone"])
def test_report_draws_every_chart_and_table(browser: Any, tmp_path: Path, name: str) -> None:
    # given the sample report written to a folder, as `lifecycle report` writes it
    report = sample_report()
    path = write(report, tmp_path / "report")
    viewport = DESKTOP if name == "desktop" else PHONE

    # when it is opened from the file
    page = browser.new_page(viewport=viewport)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())

    # then every section's chart is drawn at a real size with marks (or says it has no data)
    figures = page.locator("figure.chart")
    assert figures.count() == len(report.sections)
    for section in report.sections:
        figure = page.locator(f'figure.chart[data-chart="{section.id}"]')
        assert figure.count() == 1
        svg = figure.locator("svg")
        box = svg.bounding_box()
        assert box is not None
        assert box["width"] > 200
        assert box["height"] > 100
        # the drawing fills its figure: it scales with the page rather than overflowing it
        figure_box = figure.bounding_box()
        assert figure_box is not None
        assert box["width"] <= figure_box["width"] + 0.5
        if section.chart.empty:
            assert figure.locator(".placeholder").count() == 1
            assert "No data in this period" in (svg.text_content() or "")
            assert _drawn(figure) == 0
        else:
            assert _drawn(figure) > 0
            legend = figure.locator(".legend li")
            assert legend.all_inner_texts() == [s.name for s in section.chart.series]
        # and the table below it has a row for every one of the section's rows
        table = page.locator(f'section#{section.id} table[data-table="{section.id}"]')
        assert table.locator("tbody tr").count() == len(section.table.rows)
        assert table.locator("thead th").count() == len(section.table.headers)

    # and nothing was asked of anyone but the file itself
    assert requests == [path.as_uri()]
    # and the marketer's markup is text on the page, not markup
    assert page.locator("script, b").count() == 0
    assert "<script>alert('x')</script>" in page.inner_text("section#variants h2")

    # and the page never scrolls sideways; wide tables scroll inside their own box
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner
    if name == "phone":
        wrap = page.locator("section#variants .table-wrap")
        assert wrap.evaluate("e => e.scrollWidth > e.clientWidth")
        # the x labels hidden for room on a phone are still shown on a desktop
        hidden = page.locator('figure[data-chart="sends"] .x-axis .alt').first
        assert not hidden.is_visible()
    else:
        assert page.locator('figure[data-chart="sends"] .x-axis .alt').first.is_visible()

    # and the full-page screenshot is a real image of the whole page, kept for a person to see
    shot = tmp_path / f"report-{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    shot_width, shot_height = struct.unpack(">II", shot.read_bytes()[16:24])
    assert shot_width == viewport["width"]
    assert shot_height > viewport["height"]
    shutil.copyfile(shot, COPIES[name])
    page.close()
