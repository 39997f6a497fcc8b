"""The "Data health" pages as self-contained HTML documents: inline CSS, server-rendered SVG charts.

No script, font or stylesheet is fetched from anywhere, so the pages work on an air-gapped Airflow;
the one inline script only follows the Airflow UI's light/dark theme and filters datasets as you
type (the filter also works without it, as a form). Every number a reader (or a browser test) may
look for carries ``data-dataset`` / ``data-field`` / ``data-value`` attributes with the raw value
next to the formatted one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from lockgate.ui.health import (
    QUARANTINE_HEAVY_RATE,
    CheckHistory,
    CheckOutcome,
    DataHealth,
    DatasetHealth,
    DayHealth,
)

# colours: readable on white and on Airflow's dark background, distinguishable for the common
# colour-vision deficiencies
LOADED = "#2b6cb0"
PASSED_NOT_LOADED = "#90cdf4"
QUARANTINED = "#dd6b20"
DUPLICATES = "#a0aec0"
PASSED = "#38a169"
WARNED = "#d69e2e"
FAILED = "#c53030"
MISSING = "#edf2f7"
OUTCOME_COLOURS = {"passed": PASSED, "warned": WARNED, "quarantined": QUARANTINED, "failed": FAILED}
STATE_LABELS = {
    "loaded": "loaded",
    "quarantine-heavy": f"quarantine-heavy (≥ {QUARANTINE_HEAVY_RATE:.0%} of rows)",
    "warned": "warn check failed",
    "failed": "gate failed",
    "late": "gated, not loaded",
    "missing": "missing (scheduled, no run)",
    "none": "not due / not scheduled",
}
#: the one inline script: follow Airflow's theme (the UI sets class "dark" on its <html>), filter as you type
_SCRIPT = """
(function () {
  function theme() {
    // Airflow's UI (next-themes) puts "dark" or "light" on its <html> and keeps the choice in
    // localStorage "theme" ("system" follows the OS)
    var dark = false, known = false;
    try {
      var c = window.parent.document.documentElement.classList;
      if (window.parent !== window && (c.contains('dark') || c.contains('light'))) {
        dark = c.contains('dark'); known = true;
      }
    } catch (e) {}
    if (!known) {
      try {
        var t = localStorage.getItem('theme');
        if (t === 'dark' || t === 'light') { dark = t === 'dark'; known = true; }
      } catch (e) {}
    }
    if (!known && window.matchMedia) dark = window.matchMedia('(prefers-color-scheme: dark)').matches;
    document.documentElement.classList.toggle('dark', dark);
  }
  theme();
  try { new MutationObserver(theme).observe(window.parent.document.documentElement, {attributes: true}); }
  catch (e) {}
  function load(d) {
    var slot = d.querySelector('.details[data-src]');
    if (!d.open || !slot || slot.getAttribute('data-loaded')) return;
    slot.setAttribute('data-loaded', '1');
    fetch(slot.getAttribute('data-src'), {credentials: 'same-origin'}).then(function (r) { return r.text(); })
      .then(function (html) { slot.innerHTML = html; });
  }
  document.querySelectorAll('details.dataset').forEach(function (d) {
    d.addEventListener('toggle', function () { load(d); }); load(d);
  });
  // a partition grid's cells open the day; with "clear and re-run" or "replay quarantine" chosen
  // under the grid, a click posts that action for the cell's date (after a confirmation)
  document.addEventListener('click', function (e) {
    var cell = e.target.closest ? e.target.closest('.calendar a.cell') : null;
    if (!cell) return;
    var form = document.getElementById('grid-action-' + cell.parentNode.getAttribute('data-dataset'));
    var mode = form ? form.querySelector('input[name=mode]:checked') : null;
    if (!mode || mode.value === 'open') return;
    e.preventDefault();
    var ds = cell.getAttribute('data-ds');
    var what = mode.value === 'rerun' ? 'Clear and re-run ' + ds + ' in ' + form.getAttribute('data-dag')
      : 'Replay the quarantined rows of ' + ds + ' with the current contract';
    if (!window.confirm(what + '?')) return;
    form.action = mode.value;
    form.querySelectorAll('input[name=ds], input[name=start], input[name=end]').forEach(function (i) { i.value = ds; });
    form.submit();
  });
  var box = document.getElementById('filter');
  if (box) box.addEventListener('input', function () {
    var q = box.value.toLowerCase();
    document.querySelectorAll('[data-filter]').forEach(function (el) {
      el.style.display = el.getAttribute('data-filter').indexOf(q) >= 0 ? '' : 'none';
    });
  });
})();
"""

_CSS = """
:root { color-scheme: light; --fg: #1a202c; --muted: #4a5568; --bg: #fff; --line: #e2e8f0; --head: #f7fafc;
        --link: #2b6cb0; --none: #edf2f7; }
:root.dark { color-scheme: dark; --fg: #e2e8f0; --muted: #a0aec0; --bg: #1a202c; --line: #2d3748;
             --head: #2d3748; --link: #90cdf4; --none: #2d3748; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
       "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0; display: inline; }
h3 { font-size: 14px; margin: 10px 0 6px; color: var(--muted); font-weight: 600; }
.sub { color: var(--muted); margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 18px; }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--head); font-weight: 600; }
.scroll { overflow-x: auto; margin: 6px 0 18px; }
.scroll table { margin: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color: #fff; white-space: nowrap; }
.fresh { background: #2f855a; } .late { background: #c05621; } .never { background: #718096; }
.passed { background: #2f855a; } .warned { background: #b7791f; } .failed { background: #c53030; }
.quarantined { background: #c05621; } .intermediate { background: #6b46c1; } .builtin { background: #4a5568; }
details.dataset { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; margin: 0 0 14px; }
details.dataset > summary { cursor: pointer; display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
details.block > summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
.chart { flex: 1 1 420px; min-width: 320px; }
.chart svg { width: 100%; height: auto; display: block; }
.chart svg text { fill: var(--muted); }
.legend { display: flex; gap: 14px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin: 4px 0 0; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.empty { color: var(--muted); font-style: italic; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
a { color: var(--link); }
td.nowrap { white-space: nowrap; }
form.controls { display: flex; gap: 10px; flex-wrap: wrap; align-items: end; margin: 0 0 14px; }
form.controls label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
form.controls input, form.controls button { font: inherit; padding: 3px 6px; color: var(--fg);
  background: var(--bg); border: 1px solid var(--line); border-radius: 4px; }
table.grid { width: auto; margin: 4px 0 8px; }
table.grid th, table.grid td { padding: 3px 8px; }
table.grid th.day, table.grid td.day { padding: 3px 1px; text-align: center; width: 20px; }
table.grid th.day span { writing-mode: vertical-rl; transform: rotate(180deg); font-size: 11px; font-weight: 500; }
i.cell, a.cell { display: inline-block; width: 14px; height: 14px; border-radius: 3px; vertical-align: middle; }
.cell.passed, .cell.loaded { background: #38a169; } .cell.warned { background: #d69e2e; }
.cell.quarantined, .cell.quarantine-heavy { background: #dd6b20; } .cell.failed { background: #c53030; }
.cell.late { background: #805ad5; } .cell.missing { background: repeating-linear-gradient(45deg, #c53030 0 2px,
  transparent 2px 5px); border: 1px solid #c53030; } .cell.none { background: var(--none); }
.calendar { display: grid; grid-auto-flow: column; grid-template-rows: repeat(8, 14px); gap: 2px;
            overflow-x: auto; padding-bottom: 4px; }
.calendar .month { font-size: 11px; color: var(--muted); white-space: nowrap; overflow: visible; }
.calendar .wd { font-size: 10px; color: var(--muted); width: 24px; }
td[data-field="last_run_id"] code, .reason code, td.file code { display: inline-block; max-width: 16em;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
.reason { display: block; white-space: nowrap; }
pre.record { margin: 0; white-space: pre-wrap; font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; }
form.grid-action, form.replay-range { margin: 6px 0; font-size: 13px; }
form.grid-action label { margin-right: 8px; }
button.rerun { font: inherit; padding: 4px 10px; border-radius: 4px; border: 1px solid #2b6cb0; background: #2b6cb0;
               color: #fff; cursor: pointer; }
"""

_BUILTIN = ' <span class="badge builtin">built-in</span>'
#: up to this many dataset-days, every section's charts and check history are in the page itself
INLINE_DATASET_DAYS = 5 * 92
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _fmt_int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _raw(value: object) -> str:
    """A ``data-value``: the value as text, "" for None."""
    return "" if value is None else str(value)


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


def day_label(ds: str, *, with_year: bool) -> str:
    """``2026-01-02`` -> ``Jan 02`` or ``Jan 02 2026``."""
    return f"{_MONTHS[int(ds[5:7]) - 1]} {ds[8:10]}" + (f" {ds[:4]}" if with_year else "")


def _axis(width: int, height: int, left: int, top: int, bottom: int, ticks: Sequence[float], fmt: str) -> list[str]:
    parts = []
    for value in ticks:
        y = top + (height - top - bottom) * (1 - value / ticks[-1])
        label = f"{value:,.0f}" if fmt == "int" else f"{value:g}%"
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#a0aec0" stroke-opacity=".35"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label}</text>')
    return parts


def _x_labels(dates: Sequence[str], left: int, band: float, height: int) -> list[str]:
    """Calendar labels: about 8 evenly spread, the year on the first and wherever it changes."""
    every = max(1, math.ceil(len(dates) / 8))
    parts, year = [], ""
    for i, ds in enumerate(dates):
        if i % every and i != len(dates) - 1:
            continue
        label = day_label(ds, with_year=ds[:4] != year)
        year = ds[:4]
        parts.append(
            f'<text x="{left + band * (i + 0.5):.1f}" y="{height - 8}" text-anchor="middle" font-size="11" '
            f'data-ds="{ds}">{escape(label)}</text>'
        )
    return parts


def rows_chart(
    dataset: str, dates: Sequence[str], days: Mapping[str, DayHealth], *, width: int = 560, height: int = 220
) -> str:
    """Stacked bars per calendar day: rows loaded (or passed, when no load is recorded), quarantined, duplicates.

    One band per day of ``dates`` whether or not it has data: a gap in the runs is a gap in the chart.
    """
    left, top, bottom = 64, 16, 28
    ticks = _ticks(max((d.rows_in for d in days.values()), default=0))
    y_max = ticks[-1]
    band = (width - left - 8) / max(len(dates), 1)
    bar = max(min(band * 0.7, 48), 0.8)
    plot_h = height - top - bottom
    parts = _axis(width, height, left, top, bottom, ticks, "int")
    for i, ds in enumerate(dates):
        day = days.get(ds)
        if day is None:
            continue
        x = left + band * i + (band - bar) / 2
        y = float(top + plot_h)
        confirmed = day.rows_loaded is not None
        loaded = day.rows_loaded if day.rows_loaded is not None else day.rows_passed
        segments = [
            (loaded, LOADED if confirmed else PASSED_NOT_LOADED, "loaded" if confirmed else "passed, no load recorded"),
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
                f"<title>{ds}: {value:,} rows {label}</title></rect>"
            )
        if len(dates) <= 14:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">'
                f"{_fmt_int(loaded)}</text>"
            )
    parts += _x_labels(dates, left, band, height)
    return _svg(width, height, f"Rows per day for {dataset}", parts)


def rate_chart(
    dataset: str, dates: Sequence[str], days: Mapping[str, DayHealth], *, width: int = 560, height: int = 220
) -> str:
    """Bars of the quarantine rate (quarantined / rows in) per calendar day."""
    left, top, bottom = 64, 16, 28
    ticks = _ticks(max((d.quarantine_rate * 100 for d in days.values()), default=0.0))
    y_max = ticks[-1]
    band = (width - left - 8) / max(len(dates), 1)
    bar = max(min(band * 0.7, 48), 0.8)
    plot_h = height - top - bottom
    parts = _axis(width, height, left, top, bottom, ticks, "pct")
    for i, ds in enumerate(dates):
        day = days.get(ds)
        if day is None:
            continue
        x = left + band * i + (band - bar) / 2
        h = plot_h * day.quarantine_rate * 100 / y_max
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" fill="{QUARANTINED}">'
            f"<title>{ds}: {day.rows_quarantined:,} of {day.rows_in:,} rows quarantined "
            f"({_fmt_pct(day.quarantine_rate)})</title></rect>"
        )
        if len(dates) <= 14:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">'
                f"{_fmt_pct(day.quarantine_rate)}</text>"
            )
    parts += _x_labels(dates, left, band, height)
    return _svg(width, height, f"Quarantine rate per day for {dataset}", parts)


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


def _state_legend() -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i class="cell {state}"></i> {escape(label)}</span>' for state, label in STATE_LABELS.items())
        + "</div>"
    )


# ------------------------------------------------------------------------------------- links


def run_href(dag_id: str | None, run_id: str | None) -> str | None:
    """The Airflow UI's page of a run, relative to the page (``/lockgate/data-health`` -> ``/dags/...``)."""
    if not (dag_id and run_id):
        return None
    return f"../dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def day_href(dataset: str, ds: str, check: str | None = None) -> str:
    """The drill-down page of one dataset on one day (one check of it, with ``check``)."""
    query = {"dataset": dataset, "ds": ds} | ({"check": check} if check else {})
    return f"day?{urlencode(query)}"  # /lockgate/day, beside /lockgate/data-health


def _run_link(day: DayHealth) -> str:
    href = run_href(day.dag_id, day.run_id)
    if href is None:
        return escape(day.ds)
    return f'<a href="{escape(href)}" target="_top" title="{escape(str(day.run_id))}">{escape(day.ds)}</a>'


def _freshness_badge(item: DatasetHealth) -> str:
    css = "never" if item.newest_loaded_ds is None else ("fresh" if item.fresh else "late")
    return (
        f'<span class="badge {css}" data-dataset="{escape(item.dataset)}" data-field="freshness" '
        f'data-value="{item.lag_days if item.lag_days is not None else ""}" '
        f'title="fresh when the newest loaded date is at most {item.max_lag_days} day(s) old '
        f'(schedule {escape(item.schedule or "unknown")})">{escape(item.freshness)}</span>'
    )


def _reasons(counts: Mapping[str, int], builtin: set[str] | None = None) -> str:
    """``not_null 12 · type 3`` with the biggest first."""
    if not counts:
        return "-"
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "".join(
        f'<span class="reason"><code title="{escape(k)}">{escape(k)}</code> {v:,}</span>' for k, v in ordered
    )


# ----------------------------------------------------------------------------------- overview


def _overview_row(item: DatasetHealth) -> str:
    day = item.latest
    if day is None:
        return ""
    counts = {outcome: sum(1 for c in day.checks if c.outcome == outcome) for outcome in OUTCOME_COLOURS}
    name = escape(item.dataset)
    label = ' <span class="badge intermediate" title="gated and routed on, never loaded">intermediate</span>'
    pipeline = escape(item.dag_id or "-")
    if item.dag_id:
        pipeline = f'<a href="../dags/{quote(item.dag_id, safe="")}" target="_top">{pipeline}</a>'
    checks = len(day.checks)
    return (
        f'<tr data-dataset="{name}" data-filter="{name.lower()} {escape((item.dag_id or "").lower())}">'
        f'<td><a href="#ds-{name}">{name}</a>{label if item.intermediate else ""}</td>'
        + _cell(item.dataset, "pipeline", item.dag_id, item.dag_id or "-", css="", markup=pipeline)
        + _cell(item.dataset, "latest_ds", day.ds, day.ds, css="nowrap", markup=_run_link(day))
        + _cell(
            item.dataset,
            "last_run_id",
            day.run_id,
            day.run_id or "-",
            css="",
            markup=f"<code>{escape(day.run_id or '-')}</code>",
        )
        + _cell(item.dataset, "rows_in", day.rows_in, _fmt_int(day.rows_in))
        + _cell(
            item.dataset,
            "rows_loaded",
            day.rows_loaded,
            "intermediate" if item.intermediate else _fmt_int(day.rows_loaded),
        )
        + _cell(item.dataset, "rows_quarantined", day.rows_quarantined, _fmt_int(day.rows_quarantined))
        + _cell(item.dataset, "quarantine_rate", f"{day.quarantine_rate:.6f}", _fmt_pct(day.quarantine_rate))
        + _cell(item.dataset, "duplicates_removed", day.duplicates_removed, _fmt_int(day.duplicates_removed))
        + _cell(item.dataset, "quarantine_by_check", "", "", css="", markup=_reasons(day.quarantine_by_check))
        + _cell(
            item.dataset,
            "checks",
            f"{counts['passed']}/{checks}",
            "",
            css="",
            markup=f"{counts['passed']}/{checks} passed"
            + "".join(
                f' <span class="badge {outcome}">{counts[outcome]} {outcome}</span>'
                for outcome in ("failed", "warned", "quarantined")
                if counts[outcome]
            ),
        )
        + _cell(item.dataset, "newest_loaded_ds", item.newest_loaded_ds, item.newest_loaded_ds or "-", css="nowrap")
        + _cell(item.dataset, "loaded_at", item.last_loaded_at, item.last_loaded_at or "-", css="nowrap")
        + f"<td>{_freshness_badge(item)}</td></tr>"
    )


def _overview(health: DataHealth) -> str:
    return (
        "<div class=scroll><table id=overview><thead><tr><th>Dataset</th><th>Pipeline</th><th>Latest run ds</th>"
        "<th>Run id</th><th class=num>Rows in</th><th class=num>Loaded</th><th class=num>Quarantined</th>"
        "<th class=num>Quarantine rate</th><th class=num>Duplicates</th><th>Quarantined by check</th><th>Checks</th>"
        "<th>Newest loaded ds</th><th>Loaded at</th><th>Freshness</th></tr></thead><tbody>"
        + "".join(_overview_row(item) for item in health.datasets)
        + "</tbody></table></div>"
    )


def _failing_checks(health: DataHealth) -> str:
    rows = []
    for item in health.datasets:
        day = item.latest
        if day is None:
            continue
        for check in day.checks:
            if check.success and check.outcome != "quarantined":
                continue
            observed = "" if check.observed_value is None else str(check.observed_value)
            rows.append(
                f'<tr data-dataset="{escape(item.dataset)}" data-check="{escape(check.check)}" '
                f'data-filter="{escape(item.dataset.lower())}">'
                f"<td>{escape(item.dataset)}</td><td>{_run_link(day)}</td>"
                f'<td><a href="{escape(day_href(item.dataset, day.ds, check.check))}">'
                f"<code>{escape(check.check)}</code></a>"
                f"{_BUILTIN if check.builtin else ''}</td>"
                f"<td>{escape(check.severity)}</td>"
                f'<td><span class="badge {check.outcome}">{check.outcome}</span></td>'
                f'<td class="num">{_fmt_int(check.unexpected_count)}</td><td class="num">{escape(observed)}</td>'
                f"<td><code>{escape(check.threshold)}</code></td></tr>"
            )
    if not rows:
        return '<p class="empty" id="failing-checks">No failing checks or quarantined rows in the latest runs.</p>'
    return (
        "<div class=scroll><table id=failing-checks><thead><tr><th>Dataset</th><th>ds</th><th>Check</th>"
        "<th>Severity</th><th>Outcome</th><th class=num>Rows</th><th class=num>Observed</th><th>Threshold</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


# ------------------------------------------------------------------------------------ per dataset


def partition_grid(item: DatasetHealth) -> str:
    """A calendar: one column per week (Monday on top), one cell per day, month and year labels above.

    Every cell links to the day's drill-down (reasons, sample rows, a re-run button); days without
    a report say whether they are missing (scheduled and due) or not due.
    """
    if not item.calendar:
        return ""
    first = date.fromisoformat(item.calendar[0][0])
    parts = ['<div class="wd"></div>'] + [
        f'<div class="wd">{d}</div>' for d in ("Mon", "", "Wed", "", "Fri", "", "Sun")
    ]
    month = item.calendar[0][0][:7]
    parts += [f'<div class="month">{_month_label(month)}</div>'] + ["<div></div>"] * first.weekday()
    by_ds = {d.ds: d for d in item.days}
    name = escape(item.dataset)
    base = f"day?dataset={quote(item.dataset, safe='')}&amp;ds="
    labels = {state: escape(label) for state, label in STATE_LABELS.items()}
    for offset, (ds, state) in enumerate(item.calendar):  # consecutive days: the weekday follows
        if offset and (first.weekday() + offset) % 7 == 0:
            # a week column carries the name of the month that starts in it
            week_end = (date.fromisoformat(ds) + timedelta(days=6)).isoformat()[:7]
            label = _month_label(week_end) if week_end != month else ""
            month = week_end
            parts.append(f'<div class="month">{label}</div>')
        day = by_ds.get(ds)
        title = f"{ds}: {labels[state]}"
        if day is not None:
            title += f" · {day.rows_in:,} in, {_fmt_int(day.rows_loaded)} loaded, {day.rows_quarantined:,} quarantined"
        parts.append(
            f'<a class="cell {state}" data-ds="{ds}" data-state="{state}" href="{base}{ds}" title="{title}"></a>'
        )
    return (
        f'<div class="calendar" data-dataset="{name}" aria-label="Partitions of {name}">{"".join(parts)}</div>'
        + _state_legend()
        + grid_actions(item)
    )


def grid_actions(item: DatasetHealth) -> str:
    """What a click on a cell does (open the day, clear and re-run the date, replay its quarantine),
    and a form replaying the quarantine of a date range. The actions post to this app, which calls
    Airflow's REST API with the user's own token: Airflow's permissions decide."""
    name = escape(item.dataset)
    dag = escape(item.dag_id or "")
    modes = [("open", "open the day")]
    if item.dag_id:
        modes.append(("rerun", f"clear and re-run the date in {dag}"))
    modes.append(("replay", "replay its quarantine (current contract)"))
    radios = "".join(
        f'<label><input type="radio" name="mode" value="{value}"{" checked" if value == "open" else ""}> '
        f"{label}</label> "
        for value, label in modes
    )
    return (
        f'<form class="grid-action" id="grid-action-{name}" method="post" action="rerun" data-dag="{dag}">'
        f"<span class=sub>A click on a day: </span>{radios}"
        f'<input type="hidden" name="dataset" value="{name}"><input type="hidden" name="dag_id" value="{dag}">'
        '<input type="hidden" name="ds" value=""><input type="hidden" name="start" value="">'
        '<input type="hidden" name="end" value=""></form>'
        f'<form class="replay-range" method="post" action="replay" data-dataset="{name}">'
        f'<input type="hidden" name="dataset" value="{name}"><input type="hidden" name="dag_id" value="{dag}">'
        "<span class=sub>Replay the quarantine of </span>"
        '<input type="date" name="start" required aria-label="first date"> to '
        '<input type="date" name="end" aria-label="last date"> '
        '<button class="rerun" type="submit">Replay quarantine</button></form>'
    )


def _month_label(month: str) -> str:
    """``2026-01`` -> ``Jan 2026``."""
    return f"{_MONTHS[int(month[5:7]) - 1]} {month[:4]}"


def check_grid(dataset: str, history: Sequence[CheckHistory], days: Sequence[DayHealth]) -> str:
    """A heat map as a table: one row per check (built-in ones too), one cell per reported date."""
    if not history:
        return '<p class="empty">No checks recorded.</p>'
    columns = [d.ds for d in days]
    counts = {d.ds: {c.check: c for c in d.checks} for d in days}
    head = "".join(
        f'<th class="day" title="{ds}"><span>{escape(day_label(ds, with_year=False))}</span></th>' for ds in columns
    )
    base = f"day?dataset={quote(dataset, safe='')}&amp;ds="
    rows = []
    for item in history:
        suffix = f"&amp;check={quote(item.check, safe='')}"
        name = escape(item.check)
        cells = []
        for ds in columns:
            outcome = item.outcomes.get(ds) or "none"
            check = counts[ds].get(item.check)
            if check is None:
                title = f"{ds} · {name}: not run"
            else:
                title = f"{ds} · {name}: {outcome}, {_fmt_int(check.unexpected_count)} rows"
                if check.observed_value is not None:
                    title += f", observed {escape(str(check.observed_value))}"
                if check.threshold:
                    title += f" ({escape(check.threshold)})"
            cells.append(
                f'<td class="day"><a class="cell {outcome}" data-ds="{ds}" data-outcome="{outcome}" '
                f'href="{base}{ds}{suffix}" title="{title}"></a></td>'
            )
        kind = _BUILTIN if item.builtin else ""
        rows.append(
            f'<tr data-dataset="{escape(dataset)}" data-check="{name}"><td><code>{name}'
            f"</code>{kind}</td><td>{escape(item.severity)}</td>{''.join(cells)}</tr>"
        )
    return (
        f'<div class=scroll><table class="grid" aria-label="Data-quality check history for {escape(dataset)}">'
        "<thead><tr>"
        f"<th>Check</th><th>Severity</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def dataset_details(item: DatasetHealth) -> str:
    """The heavy part of a dataset's section: the charts and the check history (loaded on demand)."""
    dates = [ds for ds, _ in item.calendar]
    by_ds = {d.ds: d for d in item.days}
    return (
        '<div class="charts"><div class="chart">'
        + rows_chart(item.dataset, dates, by_ds)
        + _legend(
            [
                (LOADED, "loaded"),
                (PASSED_NOT_LOADED, "passed, no load recorded"),
                (QUARANTINED, "quarantined"),
                (DUPLICATES, "duplicates removed"),
            ]
        )
        + '</div><div class="chart">'
        + rate_chart(item.dataset, dates, by_ds)
        + "</div></div><h3>Data-quality checks per day (the gate's built-in quarantine checks included)</h3>"
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
    )


def _dataset_section(item: DatasetHealth, *, open_: bool, inline: bool, window: str) -> str:
    """A collapsible section: header, partition grid, and the details inline or fetched when opened."""
    name = escape(item.dataset)
    newest = f"newest loaded ds <b>{escape(item.newest_loaded_ds)}</b>" if item.newest_loaded_ds else item.freshness
    kind = (
        ' <span class="badge intermediate">intermediate: gated, routed on, not loaded</span>'
        if item.intermediate
        else ""
    )
    if inline:
        details = f'<div class="details">{dataset_details(item)}</div>'
    else:
        src = f"section?dataset={quote(item.dataset, safe='')}&amp;{window}"
        details = (
            f'<div class="details" data-src="{src}"><a href="data-health?dataset={quote(item.dataset, safe="")}'
            f'&amp;{window}">Charts and check history</a></div>'
        )
    return (
        f'<details class="dataset" id="ds-{name}" data-dataset="{name}" data-filter="{name.lower()} '
        f'{escape((item.dag_id or "").lower())}"{" open" if open_ else ""}><summary><h2>{name}</h2>{kind}'
        f"{_freshness_badge(item)}<span class=sub>pipeline <b>{escape(item.dag_id or '-')}</b> · schedule "
        f"<code>{escape(item.schedule or '-')}</code> · {newest} · {len(item.days)} reported date(s) in range</span>"
        "</summary><h3>Partitions</h3>" + partition_grid(item) + details + "</details>"
    )


def _controls(health: DataHealth, dataset_filter: str) -> str:
    return (
        '<form class="controls" method="get" action="data-health">'
        f'<label>Dataset or pipeline<input id="filter" name="dataset" value="{escape(dataset_filter)}" '
        'placeholder="filter" autocomplete="off"></label>'
        f'<label>From<input type="date" name="start" value="{health.start}"></label>'
        f'<label>To<input type="date" name="end" value="{health.end}"></label>'
        '<button type="submit">Show</button>'
        '<a href="data-health.json">JSON</a> · <a href="catalog">Catalog</a> · <a href="lineage">Lineage</a></form>'
    )


def page_shell(title: str, body: str) -> str:
    """A complete HTML document with the shared style and script."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)} · Lockgate</title><style>{_CSS}</style></head><body>"
        + body
        + f"<script>{_SCRIPT}</script></body></html>"
    )


def render_page(health: DataHealth, *, lake_url: str, dataset_filter: str = "") -> str:
    """The whole page for ``health``; ``lake_url`` is shown so readers know where the numbers come from."""
    wanted = dataset_filter.lower().strip()
    shown = [
        item
        for item in health.datasets
        if not wanted or wanted in item.dataset.lower() or wanted in (item.dag_id or "").lower()
    ]
    view = DataHealth(health.today, health.start, health.end, tuple(shown))
    # charts and check history inline for a few datasets over a few months; else fetched per section
    days = (date.fromisoformat(health.end) - date.fromisoformat(health.start)).days + 1
    inline = len(shown) * days <= INLINE_DATASET_DAYS
    window = f"start={health.start}&amp;end={health.end}"
    if shown:
        body = (
            '<details class="block" open><summary>Latest run per dataset</summary>'
            + _overview(view)
            + "</details>"
            + '<details class="block" open><summary>Failing checks and quarantine of the latest runs</summary>'
            + _failing_checks(view)
            + "</details>"
            + "".join(_dataset_section(item, open_=len(shown) <= 5, inline=inline, window=window) for item in shown)
        )
    elif health.datasets:
        body = f'<p class="empty" id="no-match">No dataset matches “{escape(dataset_filter)}”.</p>'
    else:
        body = '<p class="empty" id="no-data">No gate reports in the lake yet: trigger a pipeline and come back.</p>'
    return page_shell(
        "Data health",
        "<h1>Data health</h1>"
        f"<p class=sub>Lake <code>{escape(lake_url)}</code> · today {escape(health.today)} · "
        f"{day_label(health.start, with_year=True)} to {day_label(health.end, with_year=True)} · the latest run of a "
        "dataset is the run that finished last (a rerun of an older date included) · freshness thresholds follow "
        "each pipeline's schedule and deadline</p>" + _controls(health, dataset_filter) + body,
    )


# ------------------------------------------------------------------------------------ drill-down


def _check_rows(dataset: str, day: DayHealth, only: str | None) -> str:
    rows = []
    for check in day.checks:
        if only and check.check != only:
            continue
        observed = "" if check.observed_value is None else str(check.observed_value)
        examples = "<br>".join(
            f'<code title="{escape(e)}">{escape(short_example(e))}</code>' for e in check.examples[:5]
        )
        examples = examples or "-"
        kind = ' <span class="badge builtin">built-in</span>' if check.builtin else ""
        rows.append(
            f'<tr data-check="{escape(check.check)}"><td><a href="{escape(day_href(dataset, day.ds, check.check))}">'
            f"<code>{escape(check.check)}</code></a>{kind}</td><td>{escape(check.severity)}</td>"
            f'<td><span class="badge {check.outcome}">{check.outcome}</span></td>'
            f"<td><code>{escape(_args(check))}</code></td><td><code>{escape(check.threshold or '-')}</code></td>"
            f'<td class="num" data-field="observed_value">{escape(observed or "-")}</td>'
            f'<td class="num" data-field="unexpected_count" data-value="{_raw(check.unexpected_count)}">'
            f"{_fmt_int(check.unexpected_count)}</td>"
            f'<td class="num">{_fmt_int(check.element_count)}</td><td>{examples}</td></tr>'
        )
    return (
        "<div class=scroll><table id=checks><thead><tr><th>Check</th><th>Severity</th><th>Outcome</th>"
        "<th>Arguments</th>"
        "<th>Threshold</th><th class=num>Observed</th><th class=num>Rows</th><th class=num>Of</th><th>Examples</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def short_example(example: str) -> str:
    """``raw/readings/ds=.../run=.../gateway/readings.ndjson: row 4: ...`` -> ``readings.ndjson: row 4: ...``."""
    head, sep, rest = example.partition(": ")
    return f"{head.rsplit('/', 1)[-1]}{sep}{rest}" if sep and "/" in head and " " not in head else example


def _args(check: CheckOutcome) -> str:
    if check.builtin:
        return "built into the gate (contract column types and nullability)"
    return ", ".join(f"{k}={v}" for k, v in check.kwargs.items()) or "-"


def _counts_table(table_id: str, heading: str, counts: Mapping[str, int]) -> str:
    if not counts:
        return f'<p class="empty" id="{table_id}">No rows quarantined.</p>'
    rows = "".join(
        f'<tr data-key="{escape(k)}"><td><code>{escape(k)}</code></td><td class="num" data-value="{v}">{v:,}</td></tr>'
        for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return (
        f'<table id="{table_id}" style="width:auto"><thead><tr><th>{heading}</th><th class=num>Rows</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _samples_table(samples: Sequence[Mapping[str, Any]]) -> str:
    if not samples:
        return '<p class="empty" id="samples">No quarantined rows to show.</p>'
    rows = "".join(
        f'<tr class="sample" data-check="{escape(str(s.get("check_name")))}">'
        f'<td class="file"><code title="{escape(str(s.get("source_file")))}">'
        f"{escape(str(s.get('source_file')).rsplit('/', 1)[-1])}</code></td>"
        f'<td class="num">{escape(str(s.get("source_row")))}</td>'
        f"<td><code>{escape(str(s.get('column_name') or '-'))}</code></td>"
        f"<td><code>{escape(str(s.get('check_name')))}</code></td><td>{escape(str(s.get('reason')))}</td>"
        f'<td><pre class="record">{escape(str(s.get("record")))}</pre></td></tr>'
        for s in samples
    )
    return (
        "<div class=scroll><table id=samples><thead><tr><th>File</th><th class=num>Row</th><th>Column</th>"
        "<th>Check</th>"
        f"<th>Reason</th><th>Record (PII masked)</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _deliveries_table(deliveries: Sequence[Mapping[str, Any]]) -> str:
    """What the day's deliveries of the dataset got acknowledged, where (lockgate.operators.deliver)."""
    if not deliveries:
        return ""
    rows = "".join(
        f'<tr data-target="{escape(str(d["target"]))}"><td><code>{escape(str(d["target"]))}</code></td>'
        f'<td>{escape(str(d["kind"]))}</td><td class="num" data-field="rows">{_fmt_int(int(d["rows"]))}</td>'
        f'<td class="num">{_fmt_int(int(d["batches"]))}</td><td class="num">{_fmt_int(int(d["rejected"]))}</td>'
        f"<td><code>{escape(str(d['location']))}</code></td></tr>"
        for d in deliveries
    )
    return (
        '<h3>Delivered</h3><table id="deliveries"><thead><tr><th>Delivery</th><th>To</th><th>Rows</th>'
        "<th>Batches</th><th>Rejected batches</th><th>Where</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )


def render_day(
    dataset: str,
    day: DayHealth | None,
    *,
    ds: str,
    check: str | None,
    samples: Sequence[Mapping[str, Any]],
    locations: Mapping[str, str],
    rerun: Mapping[str, Any] | None,
) -> str:
    """The drill-down of one dataset on one day: counts, reasons, checks, sample quarantined rows, files.

    :param samples: up to 20 quarantined rows (``record`` already masked).
    :param locations: name -> URI of the report, quarantine file, staged data.
    :param rerun: what the re-run form posts (``dag_id``), or None when the pipeline is unknown.
    """
    back = f'<p><a href="data-health#ds-{escape(dataset)}">← Data health</a></p>'
    title = f"{dataset} · {ds}" + (f" · {check}" if check else "")
    body = _day_summary(dataset, day, ds=ds, check=check)
    body += (
        f"<h3>Sample quarantined rows{' of ' + escape(check) if check else ''} (up to 20)</h3>"
        + _samples_table(samples)
        + "<h3>Files</h3><ul id=locations>"
        + "".join(
            f'<li>{escape(k)}: <code data-location="{escape(k)}">{escape(v)}</code></li>' for k, v in locations.items()
        )
        + "</ul>"
    )
    body += _day_forms(dataset, day, ds=ds, rerun=rerun)
    if day is not None and day.replay:
        body += _replay_note(day.replay)
    return page_shell(title, back + f"<h1>{escape(title)}</h1>" + body)


def _day_summary(dataset: str, day: DayHealth | None, *, ds: str, check: str | None) -> str:
    """The day's state, counts, quarantine breakdowns, checks and deliveries (or why there are none)."""
    if day is None:
        return (
            f'<p class="empty" id="no-report">No gate report for {escape(dataset)} on {escape(ds)}: '
            "the date was not run (or not yet).</p>"
        )
    run = run_href(day.dag_id, day.run_id)
    run_part = (
        f' · run <a id="run-link" href="{escape(run)}" target="_top"><code>{escape(str(day.run_id))}</code></a>'
        if run
        else ""
    )
    return (
        f'<p class=sub data-state="{day.state}">State <b>{escape(STATE_LABELS[day.state])}</b>{run_part}'
        f" · contract <code>{escape(day.contract or '-')}</code>"
        f"{' · loaded at ' + escape(day.loaded_at) if day.loaded_at else ''}</p>"
        '<table id="counts" style="width:auto"><tbody>'
        + "".join(
            f'<tr><th>{label}</th><td class="num" data-field="{field}" data-value="{_raw(value)}">'
            f"{_fmt_int(value)}</td></tr>"
            for label, field, value in (
                ("Rows in", "rows_in", day.rows_in),
                ("Passed", "rows_passed", day.rows_passed),
                ("Quarantined", "rows_quarantined", day.rows_quarantined),
                ("Duplicates removed", "duplicates_removed", day.duplicates_removed),
                ("Loaded", "rows_loaded", day.rows_loaded),
            )
        )
        + "</tbody></table>"
        + '<div class="charts"><div><h3>Quarantined by check</h3>'
        + _counts_table("by-check", "Check", day.quarantine_by_check)
        + "</div><div><h3>Quarantined by column</h3>"
        + _counts_table("by-column", "Column", day.quarantine_by_column)
        + "</div></div><h3>Checks</h3>"
        + _check_rows(dataset, day, check)
        + _deliveries_table(day.deliveries)
    )


def _day_forms(dataset: str, day: DayHealth | None, *, ds: str, rerun: Mapping[str, Any] | None) -> str:
    """The re-run form (when the pipeline is known) and the replay form (when the day quarantined rows)."""
    body = ""
    if rerun:
        body += (
            '<form method="post" action="rerun" id="rerun">'
            f'<input type="hidden" name="dag_id" value="{escape(str(rerun["dag_id"]))}">'
            f'<input type="hidden" name="ds" value="{escape(ds)}">'
            f'<button class="rerun" type="submit">Clear and re-run {escape(ds)} in '
            f"{escape(str(rerun['dag_id']))}</button>"
            " <span class=sub>(through Airflow's REST API, as you: needs permission to edit the DAG's runs)"
            "</span></form>"
        )
    if day is not None and day.rows_quarantined:
        body += (
            '<form method="post" action="replay" id="replay">'
            f'<input type="hidden" name="dataset" value="{escape(dataset)}">'
            f'<input type="hidden" name="start" value="{escape(ds)}">'
            f'<input type="hidden" name="dag_id" value="{escape(str((rerun or {}).get("dag_id") or ""))}">'
            f'<button class="rerun" type="submit">Replay the {day.rows_quarantined:,} quarantined rows of '
            f"{escape(ds)}</button> <span class=sub>(re-gates the date's raw input with the current contract and "
            "reloads what changed; triggers lockgate_quarantine_replay through Airflow's REST API, as you)"
            "</span></form>"
        )
    return body


def _replay_note(replay: Mapping[str, Any]) -> str:
    """Which replay last re-gated the date, and of which original run."""
    replay_run = run_href(replay.get("dag_id"), replay.get("run_id"))
    original = run_href(replay.get("original_dag_id"), replay.get("original_run_id"))

    def link(href: str | None, text: Any) -> str:
        code = f"<code>{escape(str(text))}</code>"
        return f'<a href="{escape(href)}" target="_top">{code}</a>' if href else code

    return (
        f'<p class=sub id="replayed" data-original-run="{escape(str(replay.get("original_run_id")))}">'
        f"Replayed by {link(replay_run, replay.get('run_id'))} ({escape(str(replay.get('outcome')))}, "
        f"{escape(str(replay.get('replayed_at')))}) from the raw input of "
        f"{link(original, replay.get('original_run_id'))}</p>"
    )
