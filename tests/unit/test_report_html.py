"""The owner's report page: self-contained, escaped, and every section's chart and table drawn."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lifecycle.reporting.document import Chart, ChartKind, Report, Section, Series, Table
from lifecycle.reporting.html import nice_ticks, render, tick_labels, value_text, write
from tests.report_samples import HOSTILE, sample_report


class _Page(HTMLParser):
    """What the tests look at: sections, figures, tables and their body rows, and every tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.sections: list[str] = []
        self.figures: list[str] = []
        self.tables: list[str] = []
        self.rows: dict[str, int] = {}
        self.numeric: dict[str, list[int]] = {}
        self._table: str | None = None
        self._in_body = False
        self._column = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "section":
            self.sections.append(found["id"] or "")
        elif tag == "figure" and found.get("class") == "chart":
            self.figures.append(found["data-chart"] or "")
        elif tag == "table":
            self._table = found["data-table"] or ""
            self.tables.append(self._table)
            self.rows[self._table] = 0
            self.numeric[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table is not None:
            self._column = 0
            if self._in_body:
                self.rows[self._table] += 1
        elif tag == "td" and self._table is not None:
            if found.get("class") == "num" and self._column not in self.numeric[self._table]:
                self.numeric[self._table].append(self._column)
            self._column += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None


def _page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _svg(text: str) -> ET.Element:
    """One drawing parsed as XML, which also proves it well formed."""
    return ET.fromstring(text)  # noqa: S314 - the renderer's own output, no entities declared


def _svgs(text: str) -> dict[str, ET.Element]:
    """Each figure's drawing, by its section."""
    found = re.findall(r'<figure class="chart" data-chart="([^"]*)">(<svg.*?</svg>)', text)
    return {chart: _svg(svg) for chart, svg in found}


@pytest.fixture(scope="module")
def report() -> Report:
    return sample_report()


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    return render(report)


def test_the_page_is_self_contained_with_no_script(page: str) -> None:
    lowered = page.lower()
    assert "<script" not in lowered
    assert "http://" not in lowered
    assert "https://" not in lowered
    assert "src=" not in lowered
    assert 'href="http' not in lowered
    assert "url(" not in lowered
    assert "@import" not in lowered
    assert "@font-face" not in lowered
    assert " on" + "load=" not in lowered
    # the only links are to the page's own sections
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs
    assert all(href.startswith("#") for href in hrefs)


def test_marketer_typed_names_are_escaped(page: str, report: Report) -> None:
    assert "<b>Sanne</b>" not in page
    assert "Salon &lt;b&gt;Sanne&lt;/b&gt; &amp; Co" in page
    assert HOSTILE not in page
    escaped = "Winter &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;deals&quot;"
    # in the title, the table, the notes, the legend and the drawing's labels and tooltips
    assert page.count(escaped) >= 6
    svg = _svgs(page)["variants"]
    texts = ["".join(t.itertext()) for t in svg.iter("text")]
    assert any("<script>" in text for text in texts)  # shown as typed, as text


def test_every_section_has_its_figure_and_table_with_every_row(page: str, report: Report) -> None:
    parsed = _page(page)
    ids = [section.id for section in report.sections]
    assert parsed.sections == ids
    assert parsed.figures == ids
    assert parsed.tables == ids
    for section in report.sections:
        assert parsed.rows[section.id] == len(section.table.rows)
        if section.table.rows:
            assert parsed.numeric[section.id] == sorted(section.table.numeric)
    contents = [a["href"] for tag, a in parsed.tags if tag == "a"]
    assert contents == [f"#{i}" for i in ids]


def test_the_header_names_the_business_the_period_and_the_source(page: str) -> None:
    header = page[page.index("<header") : page.index("</header>")]
    assert "2025-12-01" in header
    assert "2026-11-30" in header
    assert "2026-12-02 06:30 UTC" in header
    assert "local simulation" in header
    assert "<h1>Salon &lt;b&gt;Sanne&lt;/b&gt; &amp; Co</h1>" in header


def test_each_chart_is_an_accessible_scalable_image(page: str, report: Report) -> None:
    svgs = _svgs(page)
    assert list(svgs) == [section.id for section in report.sections]
    for section in report.sections:
        svg = svgs[section.id]
        assert svg.get("role") == "img"
        assert svg.get("width") == "100%"
        assert svg.get("viewBox")
        assert (svg.get("aria-label") or "").startswith(section.title)
        title = svg.find("title")
        assert title is not None
        assert title.text == svg.get("aria-label")


def _marks(svg: ET.Element, tag: str) -> list[ET.Element]:
    return [e for e in svg.iter(tag) if "mark" in (e.get("class") or "").split()]


def test_a_line_breaks_at_missing_values_and_a_lone_value_shows(page: str) -> None:
    svgs = _svgs(page)
    # a week without figures splits each of the two lines in two
    assert len(_marks(svgs["sends"], "polyline")) == 4
    # week 12 sits alone between two gaps: a dot, though the line is there too
    opened = next(g for g in svgs["open-rate"].iter("g") if g.get("data-series") == "0")
    assert len(_marks(opened, "polyline")) == 2
    assert any("W12" in "".join(c.itertext()) for c in _marks(opened, "circle"))
    assert not any("W11" in "".join(c.itertext()) for c in _marks(opened, "circle"))
    # with too many values for a dot on each, the lone one still gets its dot
    values = tuple(None if i in (19, 21) else float(i) for i in range(60))
    many = Chart(ChartKind.LINE, tuple(f"d{i}" for i in range(60)), (Series("s", values),))
    svg = _svg(re.findall(r"<svg.*?</svg>", render(_one(many)))[0])
    assert len(_marks(svg, "polyline")) == 2
    dots = _marks(svg, "circle")
    assert ["".join(c.itertext()) for c in dots] == ["s, d20: 20"]


def test_a_year_of_days_is_labelled_with_a_few_dates(page: str) -> None:
    svg = _svgs(page)["sends"]
    axis = next(g for g in svg.iter("g") if g.get("class") == "axis x-axis")
    labels = ["".join(t.itertext()) for t in axis.iter("text")]
    assert 8 <= len(labels) <= 12
    assert labels[0] == "2025-12-01"
    # every other one is for wide screens only (the class the phone stylesheet hides)
    phone = [g for g in axis if g.get("class") != "alt"]
    assert 4 <= len(phone) <= 6


def test_few_labels_are_all_shown_and_wrapped(page: str) -> None:
    svg = _svgs(page)["stages"]
    axis = next(g for g in svg.iter("g") if g.get("class") == "axis x-axis")
    texts = list(axis.iter("text"))
    assert len(texts) == 5
    assert all(g.get("class") != "alt" for g in axis)
    assert max(len(list(t.iter("tspan"))) for t in texts) > 1


def test_bars_stacks_and_intervals_are_drawn(page: str, report: Report) -> None:
    svgs = _svgs(page)
    # grouped bars: one a value (the previous period has no figure for one stage)
    assert len(_marks(svgs["stages"], "rect")) == 9
    # stacked: push only from March
    assert len(_marks(svgs["channels"], "rect")) == 12 + 12 + 9
    # intervals: a whisker where both ends are known, a point where the value is
    assert len(_marks(svgs["variants"], "path")) == 3 + 2
    assert len(_marks(svgs["variants"], "circle")) == 3 + 3


def test_an_empty_chart_says_so_instead_of_drawing_an_axis(page: str) -> None:
    svg = _svgs(page)["referrals"]
    assert "No data in this period" in "".join(svg.itertext())
    assert not [e for e in svg.iter() if "axis" in (e.get("class") or "")]
    section = page[page.index('<section id="referrals"') :]
    section = section[: section.index("</section>")]
    assert "legend" not in section
    assert "No rows in this period." in section


def test_the_stacked_axis_holds_the_tallest_stack(page: str, report: Report) -> None:
    svg = _svgs(page)["channels"]
    axis = next(g for g in svg.iter("g") if g.get("class") == "axis y-axis")
    labels = ["".join(t.itertext()) for t in axis.iter("text")]
    assert labels[0] == "0"
    top = float(labels[-1].replace(",", ""))
    chart = report.sections[3].chart
    tallest = max(sum(s.values[i] or 0 for s in chart.series) for i in range(len(chart.x)))
    assert top >= tallest


def test_percentages_end_at_100_and_negatives_stay_in_view() -> None:
    def axis(chart: Chart) -> list[str]:
        svg = _svg(re.findall(r"<svg.*?</svg>", render(_one(chart)))[0])
        group = next(g for g in svg.iter("g") if g.get("class") == "axis y-axis")
        return ["".join(t.itertext()) for t in group.iter("text")]

    shares = Chart(ChartKind.LINE, ("a", "b"), (Series("s", (12.0, 96.0)),), unit="%")
    assert axis(shares) == ["0%", "25%", "50%", "75%", "100%"]
    # a rounder 120 % would be a share no one can have
    nearly = Chart(ChartKind.LINE, ("a", "b"), (Series("s", (12.0, 99.0)),), unit="%")
    assert axis(nearly)[-1] == "100%"
    lift = Chart(
        ChartKind.INTERVALS,
        ("a", "b"),
        (Series("s", (2.0, 3.0), low=(-4.5, 1.0), high=(6.0, 5.0)),),
        unit="%",
    )
    labels = axis(lift)
    assert labels[0].startswith("-")
    assert "0%" in labels


def _one(chart: Chart) -> Report:
    report = sample_report()
    section = Section("only", "Only", "One chart.", chart, Table(("a",), ()))
    return replace(report, sections=(section,))


def test_nice_ticks() -> None:
    assert nice_ticks(0, 87) == [0, 25, 50, 75, 100]
    assert nice_ticks(0, 77) == [0, 20, 40, 60, 80]
    assert nice_ticks(0, 7, whole=True) == [0, 2, 4, 6, 8]
    assert nice_ticks(0, 3, whole=True) == [0, 1, 2, 3]
    assert nice_ticks(0, 0.42) == [0, 0.2, 0.4, 0.6]
    assert nice_ticks(0, 0) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(-4.5, 9.6) == [-5, 0, 5, 10]


def test_tick_and_value_labels() -> None:
    assert tick_labels([0, 5000, 10000, 15000], "") == ["0", "5k", "10k", "15k"]
    assert tick_labels([0, 2500, 5000], "") == ["0", "2,500", "5,000"]
    assert tick_labels([0, 0.5, 1.0], "h") == ["0 h", "0.5 h", "1.0 h"]
    assert tick_labels([0, 25, 50], "%") == ["0%", "25%", "50%"]
    assert value_text(12.5, "%") == "12.5%"
    assert value_text(1200.0, "EUR") == "1,200 EUR"
    assert value_text(-0.001, "") == "0"


def test_a_chart_with_no_labels_or_no_series_is_empty() -> None:
    for chart in (
        Chart(ChartKind.BARS, (), (Series("s", ()),)),
        Chart(ChartKind.STACKED, ("a",), ()),
    ):
        page = render(_one(chart))
        assert "No data in this period" in page


def test_write_makes_the_folder_and_returns_the_page(tmp_path: Path) -> None:
    report = Report(
        business="B",
        since=date(2026, 1, 1),
        until=date(2026, 1, 31),
        generated_at=datetime(2026, 2, 1, tzinfo=UTC),
        source="local simulation",
        sections=(),
    )
    path = write(report, tmp_path / "out" / "report")
    assert path == tmp_path / "out" / "report" / "report.html"
    assert path.read_text("utf-8") == render(report)


def _numbers(svg: ET.Element, names: tuple[str, ...]) -> list[float]:
    return [float(e.get(name) or 0) for e in svg.iter() for name in names if e.get(name)]


@pytest.mark.parametrize(
    "labels",
    [
        tuple(f"A very long label number {i} that no axis has room for" for i in range(30)),
        tuple(f"{'x' * 60}{i}" for i in range(5)),
        ("only",),
    ],
)
def test_any_labels_stay_inside_the_drawing(labels: tuple[str, ...]) -> None:
    values = tuple(float(i) for i in range(len(labels)))
    for kind in ChartKind:
        series = Series("s", values, low=values, high=tuple(v + 1 for v in values))
        svg = _svg(re.findall(r"<svg.*?</svg>", render(_one(Chart(kind, labels, (series,)))))[0])
        width, height = (float(v) for v in (svg.get("viewBox") or "").split()[2:])
        xs = _numbers(svg, ("x", "x1", "x2", "cx"))
        ys = _numbers(svg, ("y", "y1", "y2", "cy"))
        assert 0 <= min(xs) <= max(xs) <= width
        assert 0 <= min(ys) <= max(ys) <= height
        # (a cut label's whole text is in its tooltip)
        shown = [t.text or "" for t in svg.iter("tspan")]
        assert shown
        assert all(len(line) <= 24 for line in shown)
