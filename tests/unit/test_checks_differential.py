"""lockgate.checks against GX Core on generated data and arguments (seeded: a failure reproduces).

Each example is a small typed DuckDB table (strings with unicode and newlines, integers, doubles
with NaN and -0.0, booleans, dates, aware and naive timestamps, NULLs, duplicates, empty tables)
and a batch of translated expectations with generated arguments (bounds of every type, ISO
strings, strict flags, mostly, row_condition, condition_parser, value sets of mixed types,
regexes, every ignore_row_if, unknown arguments). GX validates the batch on the pandas frame
DuckDB makes of the table, as the gate hands it to GX. See tests/support/checks_differential.py
for the rules; bench/checks_differential.py runs the same generator at a larger size.
"""

from __future__ import annotations

import time
from typing import Any

import duckdb
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.checks_differential import Tally, compare_example, examples, gx_runner

EXAMPLES = 50
BATCH = 40  # expectations per GX validation call: GX's fixed cost per call is most of its time
MIN_CASES = 1_500  # "thousands of cases per run": fewer means the generator lost its spread

_tally = Tally()
_con = duckdb.connect()


@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples every run, so a failure reproduces
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking a GX run would take minutes; the case is printed whole
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(examples(batch=BATCH))
def _each_example(example: tuple[list[tuple[Any, ...]], list[tuple[str, dict[str, Any]]]]) -> None:
    rows, cases = example
    compare_example(_con, rows, cases, _tally)


def test_checks_give_gx_results_or_refuse_where_gx_refuses() -> None:
    gx_runner()  # import GX and build its context before the clock starts
    started = time.monotonic()
    _each_example()
    elapsed = time.monotonic() - started
    print(
        f"\n{_tally.cases} differential cases in {elapsed:.1f} s: {_tally.compared} compared, "
        f"{_tally.refused_by_both} refused by both, {_tally.vacuous} refused (GX had no value to fail on), "
        f"{_tally.refused_by_lockgate_only} refused by Lockgate only, {_tally.routed_to_gx} routed to GX; "
        f"{_tally.row_level} compared row by row as quarantine checks too"
    )
    assert _tally.failures == []
    assert _tally.cases >= MIN_CASES
    # the generator keeps its spread: every outcome happens
    outcomes = (_tally.compared, _tally.refused_by_both, _tally.refused_by_lockgate_only, _tally.routed_to_gx)
    assert min(*outcomes, _tally.row_level) > 0


def test_gx_reads_a_string_columns_min_as_a_date_of_this_month() -> None:
    """The one rule besides "vacuous" where GX answers and Lockgate refuses: compared with a date
    bound, GX parses a string column's minimum ('1') as a date, the 1st of the current month, so its
    verdict changes with today's date. Lockgate refuses the check (a string is not a date)."""
    from datetime import date

    from lockgate.checks import validate
    from lockgate.contracts import Expectation
    from tests.support.checks_differential import KINDS, _guessed_dates, build, gx_runner

    rows = [("1", None, None, None, None, None, None, None), ("ab", None, None, None, None, None, None, None)]
    kwargs = {"column": "s", "min_value": "2020-06-01T00:00:00", "strict_min": True}
    (verdict,) = gx_runner().run(build(duckdb.connect(), rows), [("expect_column_min_to_be_between", kwargs)])
    observed = verdict["result"]["observed_value"]
    assert (observed.year, observed.month, observed.day) == (date.today().year, date.today().month, 1)
    assert _guessed_dates(kwargs, verdict["result"])
    assert [r.by_gx for r in validate(Expectation("expect_column_min_to_be_between", "fail", kwargs), KINDS)] == [True]
