"""lockgate.ui.render: the Data health page as self-contained HTML with the numbers in data attributes."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest

from lockgate.ui.health import build_health
from lockgate.ui.render import _ticks, render_page, short_example

TODAY = date(2026, 1, 5)


class _Cells(HTMLParser):
    """Collects ``data-field`` elements (their attributes and text) and every tag name used."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, Any]] = {}
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self._open: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += attrs
        found = dict(attrs)
        if "data-field" in found and "data-dataset" in found:
            key = (str(found["data-dataset"]), str(found["data-field"]))
            if key not in self.cells:  # the first occurrence: the overview table
                self.cells[key] = {"value": found.get("data-value"), "text": ""}
                self._open = key

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "span"):
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.cells[self._open]["text"] += data


def _page(**kwargs: Any) -> tuple[str, _Cells]:
    reports = [
        {
            "dataset": "readings",
            "ds": "2026-01-04",
            "rows_in": 7152,
            "rows_passed": 7129,
            "rows_quarantined": 17,
            "duplicates_removed": 6,
            "checks": [
                {
                    "check": "expect_column_max_to_be_between(value)",
                    "severity": "warn",
                    "success": False,
                    "observed_value": 694.9,
                },
                {"check": "<script>alert(1)</script>", "severity": "fail", "success": True},
            ],
            "failed": [],
        }
    ]
    summaries = [{"dag_id": "air_quality_daily", "run_id": "manual__x", "ds": "2026-01-04",
                  "datasets": [{"dataset": "readings", "rows_loaded": 7129}]}]  # fmt: skip
    html = render_page(build_health(reports, summaries, today=TODAY, **kwargs), lake_url="/lake")
    parser = _Cells()
    parser.feed(html)
    return html, parser


def test_overview_shows_the_latest_numbers_raw_and_formatted() -> None:
    _, page = _page()
    assert page.cells[("readings", "rows_loaded")] == {"value": "7129", "text": "7,129"}
    assert page.cells[("readings", "rows_in")] == {"value": "7152", "text": "7,152"}
    assert page.cells[("readings", "rows_quarantined")] == {"value": "17", "text": "17"}
    assert page.cells[("readings", "duplicates_removed")] == {"value": "6", "text": "6"}
    assert float(page.cells[("readings", "quarantine_rate")]["value"]) == pytest.approx(17 / 7152, abs=1e-6)
    assert page.cells[("readings", "quarantine_rate")]["text"] == "0.24%"
    assert page.cells[("readings", "newest_loaded_ds")]["value"] == "2026-01-04"
    assert page.cells[("readings", "freshness")] == {"value": "1", "text": "1 day behind"}


def test_failing_checks_of_the_latest_run_are_listed() -> None:
    html, _ = _page()
    start = html.index("id=failing-checks")
    failing = html[start : html.index("</table>", start)]
    assert 'data-check="expect_column_max_to_be_between(value)"' in failing
    assert "694.9" in failing
    assert "alert(1)" not in failing  # a passed check is not failing


def test_charts_and_check_history_are_drawn() -> None:
    html, _ = _page()
    assert html.count("<svg") == 2  # rows per day and quarantine rate
    assert 'aria-label="Rows per day for readings"' in html
    assert re.search(r'data-ds="2026-01-04" data-outcome="warned"', html)
    assert re.search(r'data-ds="2026-01-04" data-outcome="passed"', html)


def test_text_from_the_lake_is_escaped_and_nothing_is_fetched() -> None:
    html, page = _page()
    # the page's own inline script (theme, filter) is the only one; the lake's text is escaped
    assert html.count("<script") == 1
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html
    # self-contained: no stylesheet, script, image or font comes from elsewhere
    fetched = [v for k, v in page.attrs if k in ("src", "href") and v and re.match(r"^(https?:)?//", v)]
    assert fetched == []
    assert "@import" not in html
    assert "url(" not in html


def test_a_lake_without_reports_says_so() -> None:
    html = render_page(build_health([], [], today=TODAY), lake_url="/lake")
    assert 'id="no-data"' in html


@pytest.mark.parametrize(
    ("value", "ticks"),
    [
        (0, [0.0, 1.0]),
        (50, [0, 20, 40, 60]),
        (7152, [0, 2000, 4000, 6000, 8000]),
        (0.24, [0, 0.1, 0.2, 0.3]),
        (100, [0, 25, 50, 75, 100]),
    ],
)
def test_axis_ticks_are_round_and_cover_the_maximum(value: float, ticks: list[float]) -> None:
    assert _ticks(value) == pytest.approx(ticks)


def test_the_grid_and_charts_have_a_calendar_axis_with_the_year() -> None:
    html, _ = _page(start=date(2025, 12, 20))
    # 16 days from 2025-12-20 to 2026-01-04, one grid cell each, data or not
    start = html.index('<div class="calendar" data-dataset="readings"')
    calendar = html[start : html.index('<div class="legend">', start)]
    cells = re.findall(r'<a class="cell ([a-z-]+)" data-ds="([0-9-]+)"', calendar)
    assert len(cells) == 16
    assert cells[0] == ("none", "2025-12-20")
    assert ("warned", "2026-01-04") in cells
    assert "Dec 2025" in html
    assert "Jan 2026" in html  # month labels with the year
    assert re.search(r'data-ds="2025-12-20">Dec 20 2025</text>', html)  # chart axis: the year on the first label
    assert re.search(r">Jan 0[1-4] 2026</text>", html)  # ... and where it changes


def test_each_cell_links_to_the_day_drill_down() -> None:
    html, _ = _page()
    assert 'href="day?dataset=readings&amp;ds=2026-01-04"' in html
    assert 'href="day?dataset=readings&amp;ds=2026-01-04&amp;check=expect_column_max_to_be_between%28value%29"' in html


def test_the_dataset_filter_keeps_matching_datasets() -> None:
    reports = [
        {"dataset": name, "ds": "2026-01-04", "rows_in": 1, "rows_passed": 1, "checks": []}
        for name in ("readings", "sales")
    ]
    health = build_health(reports, [], today=TODAY)
    html = render_page(health, lake_url="/lake", dataset_filter="sal")
    assert 'id="ds-sales"' in html
    assert 'id="ds-readings"' not in html
    assert 'id="no-match"' in render_page(health, lake_url="/lake", dataset_filter="nope")


def test_examples_show_the_file_name_not_its_whole_lake_path() -> None:
    long = "raw/readings/ds=2026-01-02/run=manual__x/gateway/readings.ndjson: row 4: column value: 'x' is not a double"
    assert short_example(long) == "readings.ndjson: row 4: column value: 'x' is not a double"
    assert short_example("row 4: invalid JSON: a/b") == "row 4: invalid JSON: a/b"
