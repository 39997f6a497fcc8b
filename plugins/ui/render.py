"""The "Data health" page as one self-contained HTML document: inline CSS, server-rendered SVG charts.

No script, font or stylesheet is fetched from anywhere, so the page works on an air-gapped Airflow.
Every number a reader (or a browser test) may look for carries ``data-dataset`` / ``data-field`` /
``data-value`` attributes with the raw value next to the formatted one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from lockgate.ui.health import CheckHistory, DataHealth, DatasetHealth, DayHealth

# colours: readable on white, distinguishable for the common colour-vision deficiencies
LOADED = "#2b6cb0"
PASSED_NOT_LOADED = "#90cdf4"
QUARANTINED = "#dd6b20"
DUPLICATES = "#a0aec0"
PASSED = "#38a169"
WARNED = "#d69e2e"
FAILED = "#c53030"
MISSING = "#edf2f7"
OUTCOME_COLOURS = {"passed": PASSED, "warned": WARNED, "quarantined": QUARANTINED, "failed": FAILED}

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
       "Helvetica Neue", Arial, sans-serif; color: #1a202c; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0; }
h3 { font-size: 14px; margin: 0 0 6px; color: #4a5568; font-weight: 600; }
.sub { color: #4a5568; margin: 0 0 18px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 22px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { background: #f7fafc; font-weight: 600; color: #2d3748; }
.scroll { overflow-x: auto; margin: 6px 0 22px; }
.scroll table { margin: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color: #fff; white-space: nowrap; }
.fresh { background: #2f855a; } .late { background: #c05621; } .never { background: #718096; }
.passed { background: #2f855a; } .warned { background: #b7791f; } .failed { background: #c53030; }
.quarantined { background: #c05621; }
section.dataset { border: 1px solid #e2e8f0; border-radius: 8px; padding: 14px 16px; margin: 0 0 20px; }
section.dataset header { display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; margin-bottom: 10px; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
.chart { flex: 1 1 420px; min-width: 320px; }
.chart svg { width: 100%; height: auto; display: block; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: #4a5568; margin: 4px 0 0; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.empty { color: #718096; font-style: italic; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
a { color: #2b6cb0; }
td.nowrap { white-space: nowrap; }
table.grid { width: auto; margin: 4px 0 8px; }
table.grid th, table.grid td { padding: 3px 8px; }
table.grid th.day, table.grid td.day { padding: 3px 1px; text-align: center; width: 20px; }
table.grid th.day span { writing-mode: vertical-rl; transform: rotate(180deg); font-size: 11px; font-weight: 500; }
i.cell { display: inline-block; width: 16px; height: 16px; border-radius: 3px; vertical-align: middle; }
i.passed { background: #38a169; } i.warned { background: #d69e2e; } i.quarantined { background: #dd6b20; }
i.failed { background: #c53030; } i.none { background: #edf2f7; }
"""


def _fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _fmt_pct(rate: float) -> str:
    return f"{rate * 100:.2f}%" if rate else "0%"


def _cell(dataset: str, field: str, value: object, text: str, *, css: str = "num", markup: str | None = None) -> str:
    """A table cell with the raw value in ``data-value``; ``markup`` (already escaped) replaces ``text``."""
    raw = "" if value is None else str(value)
    return (
        f'<td class="{css}" data-dataset="{escape(dataset)}" data-field="{field}" '
        f'data-value="{escape(raw)}">{escape(text) if markup is None else markup}</td>'
    )


def _ticks(value: float) -> list[float]:
    """Axis ticks from 0 to at least ``value`` in round steps (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return [0.0, 1.0]
    rough = value / 4
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if rough <= m * power)
    return [step * i for i in range(math.ceil(value / step - 1e-9) + 1)]


def _short_ds(ds: str) -> str:
    return ds[5:]  # MM-DD; the year is in the tooltip and the tables


def _axis(width: int, height: int, left: int, top: int, bottom: int, ticks: Sequence[float], fmt: str) -> list[str]:
    parts = []
    for value in ticks:
        y = top + (height - top - bottom) * (1 - value / ticks[-1])
        label = f"{value:,.0f}" if fmt == "int" else f"{value:g}%"
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#4a5568">{label}</text>'
        )
    return parts


def _x_labels(days: Sequence[DayHealth], left: int, band: float, height: int) -> list[str]:
    every = max(1, math.ceil(len(days) / 12))
    return [
        f'<text x="{left + band * (i + 0.5):.1f}" y="{height - 8}" text-anchor="middle" font-size="11" '
        f'fill="#4a5568">{escape(_short_ds(day.ds))}</text>'
        for i, day in enumerate(days)
        if i % every == 0 or i == len(days) - 1
    ]


def rows_chart(dataset: str, days: Sequence[DayHealth], *, width: int = 560, height: int = 220) -> str:
    """Stacked bars per logical date: rows loaded (or passed, when no summary), quarantined, duplicates."""
    left, top, bottom = 64, 16, 28
    ticks = _ticks(max((d.rows_in for d in days), default=0))
    y_max = ticks[-1]
    band = (width - left - 8) / max(len(days), 1)
    bar = min(band * 0.7, 48)
    plot_h = height - top - bottom
    parts = _axis(width, height, left, top, bottom, ticks, "int")
    for i, day in enumerate(days):
        x = left + band * i + (band - bar) / 2
        y = float(top + plot_h)
        loaded = day.rows_loaded if day.rows_loaded is not None else day.rows_passed
        confirmed = day.rows_loaded is not None
        segments = [
            (loaded, LOADED if confirmed else PASSED_NOT_LOADED, "loaded" if confirmed else "passed, load unconfirmed"),
            (day.rows_quarantined, QUARANTINED, "quarantined"),
            (day.duplicates_removed, DUPLICATES, "duplicates removed"),
        ]
        for value, colour, label in segments:
            if value <= 0:
                continue
            h = plot_h * value / y_max
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" fill="{colour}">'
                f"<title>{escape(day.ds)}: {value:,} rows {label}</title></rect>"
            )
        if len(days) <= 14:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11" fill="#1a202c">'
                f"{_fmt_int(loaded)}</text>"
            )
    parts += _x_labels(days, left, band, height)
    return _svg(width, height, f"Rows per day for {dataset}", parts)


def rate_chart(dataset: str, days: Sequence[DayHealth], *, width: int = 560, height: int = 220) -> str:
    """Bars of the quarantine rate (quarantined / rows in) per logical date."""
    left, top, bottom = 64, 16, 28
    rates = [d.quarantine_rate * 100 for d in days]
    ticks = _ticks(max(rates, default=0.0))
    y_max = ticks[-1]
    band = (width - left - 8) / max(len(days), 1)
    bar = min(band * 0.7, 48)
    plot_h = height - top - bottom
    parts = _axis(width, height, left, top, bottom, ticks, "pct")
    for i, (day, rate) in enumerate(zip(days, rates, strict=True)):
        x = left + band * i + (band - bar) / 2
        h = plot_h * rate / y_max
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" fill="{QUARANTINED}">'
            f"<title>{escape(day.ds)}: {day.rows_quarantined:,} of {day.rows_in:,} rows quarantined "
            f"({_fmt_pct(day.quarantine_rate)})</title></rect>"
        )
        if len(days) <= 14:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11" fill="#1a202c">'
                f"{_fmt_pct(day.quarantine_rate)}</text>"
            )
    parts += _x_labels(days, left, band, height)
    return _svg(width, height, f"Quarantine rate per day for {dataset}", parts)


def check_grid(dataset: str, history: Sequence[CheckHistory], days: Sequence[DayHealth]) -> str:
    """A heat map as a table: one row per check, one coloured cell per logical date."""
    if not history:
        return '<p class="empty">No checks recorded.</p>'
    columns = [d.ds for d in days]
    head = "".join(f'<th class="day" title="{escape(ds)}"><span>{escape(_short_ds(ds))}</span></th>' for ds in columns)
    rows = []
    for item in history:
        cells = []
        for ds in columns:
            outcome = item.outcomes.get(ds) or "none"
            cells.append(
                f'<td class="day"><i class="cell {outcome}" data-ds="{escape(ds)}" data-outcome="{outcome}" '
                f'title="{escape(ds)} · {escape(item.check)}: {outcome if outcome != "none" else "not run"}"></i></td>'
            )
        rows.append(
            f'<tr data-dataset="{escape(dataset)}" data-check="{escape(item.check)}"><td><code>{escape(item.check)}'
            f"</code></td><td>{escape(item.severity)}</td>{''.join(cells)}</tr>"
        )
    return (
        f'<div class=scroll><table class="grid" aria-label="Data-quality check history for {escape(dataset)}">'
        "<thead><tr>"
        f"<th>Check</th><th>Severity</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _svg(width: int, height: int, title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{colour}"></i>{escape(label)}</span>' for colour, label in items)
        + "</div>"
    )


def _freshness_badge(item: DatasetHealth) -> str:
    css = "never" if item.newest_loaded_ds is None else ("fresh" if item.fresh else "late")
    return (
        f'<span class="badge {css}" data-dataset="{escape(item.dataset)}" data-field="freshness" '
        f'data-value="{item.lag_days if item.lag_days is not None else ""}">{escape(item.freshness)}</span>'
    )


def _run_link(day: DayHealth) -> str:
    if not (day.dag_id and day.run_id):
        return escape(day.ds)
    href = f"../dags/{quote(day.dag_id, safe='')}/runs/{quote(day.run_id, safe='')}"
    return f'<a href="{escape(href)}" target="_top" title="{escape(day.run_id)}">{escape(day.ds)}</a>'


def _overview(health: DataHealth) -> str:
    rows = []
    for item in health.datasets:
        day = item.latest
        if day is None:
            continue
        counts = {outcome: sum(1 for c in day.checks if c.outcome == outcome) for outcome in OUTCOME_COLOURS}
        name = escape(item.dataset)
        rows.append(
            f'<tr data-dataset="{name}"><td><a href="#ds-{name}">{name}</a></td>'
            + _cell(item.dataset, "latest_ds", day.ds, day.ds, css="nowrap", markup=_run_link(day))
            + _cell(item.dataset, "rows_in", day.rows_in, _fmt_int(day.rows_in))
            + _cell(item.dataset, "rows_loaded", day.rows_loaded, _fmt_int(day.rows_loaded))
            + _cell(item.dataset, "rows_quarantined", day.rows_quarantined, _fmt_int(day.rows_quarantined))
            + _cell(item.dataset, "quarantine_rate", f"{day.quarantine_rate:.6f}", _fmt_pct(day.quarantine_rate))
            + _cell(item.dataset, "duplicates_removed", day.duplicates_removed, _fmt_int(day.duplicates_removed))
            + _cell(
                item.dataset,
                "checks",
                f"{counts['passed']}/{len(day.checks)}",
                f"{counts['passed']}/{len(day.checks)} passed",
                css="",
                markup=f"{counts['passed']}/{len(day.checks)} passed"
                + "".join(
                    f' <span class="badge {outcome}">{counts[outcome]} {outcome}</span>'
                    for outcome in ("failed", "warned", "quarantined")
                    if counts[outcome]
                ),
            )
            + _cell(item.dataset, "newest_loaded_ds", item.newest_loaded_ds, item.newest_loaded_ds or "-", css="nowrap")
            + f"<td>{_freshness_badge(item)}</td></tr>"
        )
    return (
        "<div class=scroll><table id=overview><thead><tr><th>Dataset</th><th>Latest ds</th><th class=num>Rows in</th>"
        "<th class=num>Loaded</th><th class=num>Quarantined</th><th class=num>Quarantine rate</th>"
        "<th class=num>Duplicates</th><th>Checks</th><th>Newest loaded ds</th><th>Freshness</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _failing_checks(health: DataHealth) -> str:
    rows = []
    for item in health.datasets:
        day = item.latest
        if day is None:
            continue
        for check in day.failing_checks:
            observed = "" if check.observed_value is None else str(check.observed_value)
            rows.append(
                f'<tr data-dataset="{escape(item.dataset)}" data-check="{escape(check.check)}">'
                f"<td>{escape(item.dataset)}</td><td>{_run_link(day)}</td><td><code>{escape(check.check)}</code></td>"
                f"<td>{escape(check.severity)}</td>"
                f'<td><span class="badge {check.outcome}">{check.outcome}</span></td>'
                f'<td class="num">{_fmt_int(check.unexpected_count)}</td><td class="num">{escape(observed)}</td></tr>'
            )
    if not rows:
        return '<p class="empty" id="failing-checks">No failing checks in the latest runs.</p>'
    return (
        "<div class=scroll><table id=failing-checks><thead><tr><th>Dataset</th><th>ds</th><th>Check</th>"
        "<th>Severity</th><th>Outcome</th><th class=num>Unexpected rows</th><th class=num>Observed</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _dataset_section(item: DatasetHealth) -> str:
    name = escape(item.dataset)
    newest = f"newest loaded ds <b>{escape(item.newest_loaded_ds)}</b>" if item.newest_loaded_ds else "nothing loaded"
    return (
        f'<section class="dataset" id="ds-{name}" data-dataset="{name}"><header><h2>{name}</h2>'
        f"{_freshness_badge(item)}<span class=sub>{newest} · {len(item.days)} logical date(s) shown</span></header>"
        '<div class="charts"><div class="chart"><h3>Rows per day</h3>'
        + rows_chart(item.dataset, item.days)
        + _legend(
            [
                (LOADED, "loaded"),
                (PASSED_NOT_LOADED, "passed, load unconfirmed"),
                (QUARANTINED, "quarantined"),
                (DUPLICATES, "duplicates removed"),
            ]
        )
        + '</div><div class="chart"><h3>Quarantine rate</h3>'
        + rate_chart(item.dataset, item.days)
        + "</div></div><h3 style='margin-top:14px'>Data-quality check history</h3>"
        + check_grid(item.dataset, item.check_history, item.days)
        + _legend(
            [
                (PASSED, "passed"),
                (WARNED, "warn check failed"),
                (QUARANTINED, "rows quarantined"),
                (FAILED, "failed"),
                (MISSING, "not run"),
            ]
        )
        + "</section>"
    )


def render_page(health: DataHealth, *, lake_url: str) -> str:
    """The whole page for ``health``; ``lake_url`` is shown so readers know where the numbers come from."""
    if health.datasets:
        body = (
            "<h2 style='margin:4px 0'>Latest run per dataset</h2>"
            + _overview(health)
            + "<h2 style='margin:4px 0'>Failing checks of the latest run</h2>"
            + _failing_checks(health)
            + "".join(_dataset_section(item) for item in health.datasets)
        )
    else:
        body = '<p class="empty" id="no-data">No gate reports in the lake yet: trigger a pipeline and come back.</p>'
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>Data health · Lockgate</title><style>{_CSS}</style></head><body>"
        "<h1>Data health</h1>"
        f"<p class=sub>Lake <code>{escape(lake_url)}</code> · today {escape(health.today)} · fresh = newest loaded "
        f"logical date at most {health.max_lag_days} day(s) old · the latest run of a dataset is its newest "
        "logical date</p>" + body + "</body></html>"
    )
