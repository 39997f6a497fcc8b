"""Differential testing of ``lockgate.checks`` against GX Core on generated data and arguments.

One *example* is a small table (every column kind, nulls, NaN, unicode, empty tables) and a batch
of expectations with generated arguments (every translated expectation, ``row_condition``,
``mostly``, every ``ignore_row_if``, invalid arguments). Each expectation is one *case*:

* Lockgate's contract validation (:func:`lockgate.checks.validate`) refuses it, or
* it is routed to GX (:func:`lockgate.checks.supported` is false: a regex RE2 reads differently), or
* :func:`lockgate.checks.evaluate` answers it on the DuckDB table.

GX Core validates the same batch on the pandas frame DuckDB makes of the table (what the gate
hands GX). The rules (:func:`compare_example`): where GX refuses (pydantic refuses the arguments,
or the validation result is an exception) Lockgate must refuse; where Lockgate refuses with
``by_gx`` GX must refuse too, unless the data gave GX nothing to compare; where both answer,
``success``, ``element_count``, ``missing_count``, ``unexpected_count`` and ``observed_value``
agree (floats within a tolerance). Used by tests/unit/test_checks_differential.py (seeded, in
``make test``) and bench/checks_differential.py (larger runs).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from lockgate.check_rules import ARGUMENTS, ROW_LEVEL_EXPECTATIONS, row_level_refusals
from lockgate.checks import TRANSLATED, Params, evaluate, supported, validate
from lockgate.contracts import Expectation
from lockgate.row_checks import row_problem

#: the generated table: one column of each kind Lockgate tells apart
COLUMNS = {
    "s": ("string", "VARCHAR"),
    "t": ("string", "VARCHAR"),
    "i": ("integer", "BIGINT"),
    "d": ("double", "DOUBLE"),
    "b": ("boolean", "BOOLEAN"),
    "dt": ("date", "DATE"),
    "tz": ("timestamp", "TIMESTAMPTZ"),
    "ts": ("naive_timestamp", "TIMESTAMP"),
}
KINDS = {name: kind for name, (kind, _) in COLUMNS.items()}
COMPARED = ("success", "element_count", "missing_count", "unexpected_count", "observed_value")

_TEXTS = ["a", "abc", "abc\n", "ab", "1", "01", "٣", "١٢", "True", "", " ", "é", "x\ny", "aa", "A", "🙂", "a1", "1.5"]
_DAY = date(2020, 1, 1)
_DATES = [_DAY, date(2020, 6, 1), date(2021, 1, 1), date(1999, 12, 31)]
_NAIVE = [
    datetime(2020, 1, 1, 10),
    datetime(2020, 6, 1),
    datetime(2021, 1, 1, 0, 0, 1),
    datetime(2020, 6, 1, 0, 0, 0, 5),
]
_AWARE = [v.replace(tzinfo=UTC) for v in _NAIVE] + [datetime(2020, 6, 1, 3, tzinfo=timezone(timedelta(hours=2)))]

values_by_kind = {
    "string": st.one_of(st.sampled_from(_TEXTS), st.text(alphabet="ab1٣\n é", max_size=4)),
    "integer": st.one_of(st.integers(-3, 3), st.integers(-(2**40), 2**40)),
    "double": st.one_of(
        st.sampled_from([-1.5, 0.0, -0.0, 0.5, 1.0, 2.25, 3.0, 1e10, float("nan")]),
        st.floats(-1e6, 1e6, allow_nan=False),
    ),
    "boolean": st.booleans(),
    "date": st.sampled_from(_DATES),
    "timestamp": st.sampled_from(_AWARE),
    "naive_timestamp": st.sampled_from(_NAIVE),
}


@st.composite
def tables(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """Rows of the generated table (0 to 12; each value may be NULL)."""
    rows = draw(st.integers(0, 12))
    null_share = draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
    out = []
    for _ in range(rows):
        row = []
        for kind, _sql in COLUMNS.values():
            missing = draw(st.floats(0, 1)) < null_share
            row.append(None if missing else draw(values_by_kind[kind]))
        out.append(tuple(row))
    # duplicates make uniqueness checks interesting
    if out and draw(st.booleans()):
        out += draw(st.lists(st.sampled_from(out), max_size=4))
    return out


_FLOAT_BOUNDS = [-1, 0, 0.5, 1, 2, 3, 1e10, -1.5, True, "2", "abc", None]
_TEMPORAL_BOUNDS = [
    "2020-01-01",
    "2020-06-01T00:00:00",
    "2020-06-01 00:00:00+00:00",
    "2020-06-01T00:00:00Z",
    "2020-06-01T12:00:00+02:00",
    date(2020, 6, 1),
    datetime(2020, 6, 1),
    datetime(2020, 6, 1, tzinfo=UTC),
]
_INT_BOUNDS = [0, 1, 2, 3, 1.5, "2", -1, None, 2.9]
_MOSTLY = [0.0, 0.3, 0.5, 0.9, 1.0, 0.95, 0.6, "0.5", 1.5, -0.1, None]
_SET_VALUES = ["a", "1", "abc", "", "True", "٣", 1, 0, 1.0, 0.5, -0.0, 3, True, False, None, float("nan"), "2020-01-01"]
_REGEXES = [
    "^abc$", "abc", "^a", r"\d", r"^\d+$", "[0-9]", "(?=a)", "a(?!b)", r"\w", r"\s", r"\bx", "(", "", ".",
    "^.$", "[^a]", "a|b$", "^(a|1)$", "x{2,}", "(?i)abc", r"\Aabc\Z", r"[\d]", r"\D", "é", "٣", "a*?b", "^$",
    "$", r"(a)\1", "True", "^1$", r"^-?\d+$", "\n", r"1\.5", "[a-c]+", "^[^\n]*$", "(?s).", "a{2}", "[", "*",
    "^(?:ab|1)+$", r"\Z", "[^0-9]", "b$|^a", "(?P<x>a)", "a*+", "(?>a)", "a{1001}", "(?x)a b", ".$^*", "(?i)é",
    "(a)(?(1)b|c)", r"(?=\d)\w", "(?m)^b",
]  # fmt: skip
# \b and a lookahead are what RE2 lacks: such a regex is routed to GX. Without them a routed case was
# rare (8 in 2,000) and, as Hypothesis biases its draws with constants from the modules loaded
# before (other test files in the same worker), some runs drew none
_REGEX_ATOMS = [
    *("a", "1", r"\d", ".", "^", "$", "[a-c]", "(ab|1)", "*", "+?", "?", "\n", "|", r"\D", "[^b]", "{1,2}"),
    *(r"\b", "(?=1)"),
]
_CONDITION_LITERALS = ["a", "1", "01", "True", "", 1, 0, -1, 2, 0.5, 1.0, -0.0, True, False, "2020-01-01"]


#: columns an expectation is mostly tried on (the others, less often, test the refusals)
_FITTING = {
    "expect_column_value_lengths_to_be_between": ["s", "t"],
    "expect_column_values_to_match_regex": ["s", "t", "i", "b"],
    "expect_column_values_to_not_match_regex": ["s", "t", "i", "b"],
    "expect_column_mean_to_be_between": ["i", "d", "b"],
    "expect_column_sum_to_be_between": ["i", "d", "b"],
    "expect_column_median_to_be_between": ["i", "d", "b"],
    "expect_column_values_to_be_in_set": ["s", "t", "i", "d", "b"],
    "expect_column_values_to_not_be_in_set": ["s", "t", "i", "d", "b"],
}


def _pick(draw: st.DrawFn, pool: list[Any]) -> Any:
    return draw(st.sampled_from(pool))


@st.composite
def row_conditions(draw: st.DrawFn) -> str:
    """A GX pandas row_condition: mostly the translated forms, sometimes others."""
    column = draw(st.sampled_from([*COLUMNS, "zz"]))
    form = draw(st.sampled_from(["==", "==", "in", "in", "other"]))
    if form == "==":
        return f"{column} == {_pick(draw, _CONDITION_LITERALS)!r}"
    if form == "in":
        return f"{column} in {draw(st.lists(st.sampled_from(_CONDITION_LITERALS), max_size=3))!r}"
    return draw(st.sampled_from([f"{column} > 1", f"{column} != 'a'", f"{column} == 'a' and i == 1", f"{column} =="]))


@st.composite
def regexes(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return _pick(draw, _REGEXES)
    return "".join(draw(st.lists(st.sampled_from(_REGEX_ATOMS), min_size=1, max_size=4)))


def _bounds(draw: st.DrawFn, kwargs: dict[str, Any], pool: list[Any]) -> None:
    for key in ("min_value", "max_value"):
        if draw(st.integers(0, 3)):
            kwargs[key] = _pick(draw, pool)
    for key in ("strict_min", "strict_max"):
        if draw(st.integers(0, 2)) == 0:
            kwargs[key] = _pick(draw, [True, False, True, False, "yes", 1, None])


@st.composite
def expectations(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """One translated expectation with generated (sometimes invalid) arguments."""
    name = draw(st.sampled_from(sorted(TRANSLATED)))
    allowed = ARGUMENTS[name]
    kwargs: dict[str, Any] = {}
    if "column" in allowed:
        fitting = _FITTING.get(name, list(COLUMNS))
        kwargs["column"] = draw(st.sampled_from(fitting if draw(st.integers(0, 3)) else list(COLUMNS)))
    if name == "expect_compound_columns_to_be_unique":
        smallest = 1 if draw(st.integers(0, 7)) == 0 else 2  # GX refuses a single column
        kwargs["column_list"] = draw(
            st.lists(st.sampled_from(list(COLUMNS)), min_size=smallest, max_size=3, unique=True)
        )
        if draw(st.booleans()):
            kwargs["ignore_row_if"] = _pick(draw, ["all_values_are_missing", "any_value_is_missing", "never", "bogus"])
    if name in ("expect_column_value_lengths_to_be_between", "expect_column_unique_value_count_to_be_between"):
        _bounds(draw, kwargs, _INT_BOUNDS)
    elif name == "expect_table_row_count_to_be_between":
        _bounds(draw, kwargs, [*_INT_BOUNDS, 5, 12, datetime(2020, 1, 1)])
    elif "min_value" in allowed:
        temporal = KINDS.get(kwargs.get("column", ""), "") in ("date", "timestamp", "naive_timestamp")
        _bounds(
            draw, kwargs, _TEMPORAL_BOUNDS + _FLOAT_BOUNDS[:3] if temporal else _FLOAT_BOUNDS + _TEMPORAL_BOUNDS[:2]
        )
    if "value_set" in allowed:
        kwargs["value_set"] = draw(st.lists(st.sampled_from(_SET_VALUES), max_size=5))
    if "regex" in allowed:
        kwargs["regex"] = draw(regexes())
    if "mostly" in allowed and draw(st.integers(0, 2)) == 0:
        kwargs["mostly"] = _pick(draw, _MOSTLY)
    if draw(st.integers(0, 3)) == 0:
        kwargs["row_condition"] = draw(row_conditions())
        if draw(st.integers(0, 3)):
            kwargs["condition_parser"] = _pick(draw, ["pandas"] * 6 + [None, "great_expectations", "sql"])
    if draw(st.integers(0, 30)) == 0:
        kwargs[_pick(draw, ["bogus", "mostly", "ignore_row_if", "result_format"])] = 0.5
    return name, kwargs


@st.composite
def examples(draw: st.DrawFn, batch: int = 24) -> tuple[list[tuple[Any, ...]], list[tuple[str, dict[str, Any]]]]:
    """A table and a batch of expectations to run on it."""
    return draw(tables()), draw(st.lists(expectations(), min_size=batch, max_size=batch))


# ------------------------------------------------------------------------------------------ GX


class _GX:
    """One ephemeral GX context and pandas batch definition, reused for every example."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_pandas("differential").add_dataframe_asset("t")
        self.definition = asset.add_batch_definition_whole_dataframe("whole")

    def run(self, frame: Any, cases: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """GX's verdict per case: ``{"refused": why}`` or ``{"result": {...}}``."""
        verdicts: list[dict[str, Any]] = [{} for _ in cases]
        suite = self.gx.ExpectationSuite(name="differential")
        # GX keeps one of two equal expectations in a suite: run each distinct one once
        first: dict[str, int] = {}
        for index, (name, kwargs) in enumerate(cases):
            if first.setdefault(repr((name, kwargs)), index) != index:
                continue
            cls = getattr(self.gx.expectations, Expectation(name, "fail").gx_class_name)
            try:
                suite.add_expectation(cls(**dict(kwargs), meta={"case": index}))
            except Exception as exc:  # pydantic's ValidationError, InvalidExpectationConfigurationError
                verdicts[index] = {"refused": f"{type(exc).__name__}: {exc}"}
        self._validate(frame, suite, verdicts)
        # GX also merges expectations equal after its coercion (1 and 1.0): run those alone
        for index in first.values():
            if not verdicts[index]:
                name, kwargs = cases[index]
                alone = self.gx.ExpectationSuite(name="alone")
                cls = getattr(self.gx.expectations, Expectation(name, "fail").gx_class_name)
                alone.add_expectation(cls(**dict(kwargs), meta={"case": index}))
                self._validate(frame, alone, verdicts)
        return [verdicts[first[repr(case)]] for case in cases]

    def _validate(self, frame: Any, suite: Any, verdicts: list[dict[str, Any]]) -> None:
        if not suite.expectations:
            return
        batch = self.definition.get_batch(batch_parameters={"dataframe": frame})
        validation = batch.validate(suite, result_format={"result_format": "SUMMARY"})
        for res in validation.results:
            index = res.expectation_config.meta["case"]
            raised = _exception(res.exception_info)
            verdicts[index] = {"refused": raised} if raised else {"result": {"success": res.success, **res.result}}


def _exception(info: Any) -> str | None:
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    messages = [str(e.get("exception_message")) for e in entries if isinstance(e, dict) and e.get("raised_exception")]
    return "; ".join(messages) or None


_gx: _GX | None = None


def gx_runner() -> _GX:
    global _gx
    if _gx is None:
        _gx = _GX()
    return _gx


# ------------------------------------------------------------------------------------ compare


@dataclass
class Tally:
    """What happened to the cases of a run."""

    compared: int = 0
    refused_by_both: int = 0
    refused_by_lockgate_only: int = 0
    vacuous: int = 0
    #: GX answered by reading a string column as dates (today-dependent); Lockgate refused
    date_guesses: int = 0
    routed_to_gx: int = 0
    #: compared cases also checked row by row as severity quarantine (a subset of ``compared``)
    row_level: int = 0
    failures: list[str] = field(default_factory=list)
    lockgate_reasons: list[str] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return (
            self.compared
            + self.refused_by_both
            + self.refused_by_lockgate_only
            + self.vacuous
            + self.date_guesses
            + self.routed_to_gx
        )


def build(con: Any, rows: list[tuple[Any, ...]]) -> Any:
    """The DuckDB table ``t`` with typed columns, like the gate's ``passed``; returns GX's frame of it."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("DROP TABLE IF EXISTS t")
    con.execute(f"CREATE TABLE t ({', '.join(f'{n} {sql}' for n, (_, sql) in COLUMNS.items())})")
    if rows:  # one statement: executemany costs a round trip per row
        row_sql = f"({', '.join('?' for _ in COLUMNS)})"
        con.execute(f"INSERT INTO t VALUES {', '.join(row_sql for _ in rows)}", [v for row in rows for v in row])
    return con.sql("SELECT * FROM t").df()


def _normal(value: Any) -> Any:
    import pandas as pd

    if hasattr(value, "item") and not isinstance(value, (pd.Timestamp, datetime, date)):
        value = value.item()
    if isinstance(value, (pd.Timestamp, datetime, date)) and not pd.isna(value):
        return pd.Timestamp(value)
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):
        return value


def _agree(ours: Any, theirs: Any) -> bool:
    a, b = _normal(ours), _normal(theirs)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) | isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b) if a is not None and b is not None else a is None and b is None


def _vacuous(name: str, gx_result: dict[str, Any] | None) -> bool:
    """GX had nothing to compare a bound with (no values), so a type clash could not surface."""
    if gx_result is None:
        return False
    if gx_result.get("element_count") is not None:
        return (gx_result["element_count"] or 0) - (gx_result.get("missing_count") or 0) == 0
    return _normal(gx_result.get("observed_value")) is None


def _guessed_dates(kwargs: dict[str, Any], gx_result: dict[str, Any] | None) -> bool:
    """GX compared a string column with a date bound by reading the column's strings as dates
    (dateutil: ``'1'`` is the 1st of the current month), so its answer depends on today's date:
    not an answer to match, and Lockgate's refusal (a string is not a date) stands."""
    observed = (gx_result or {}).get("observed_value")
    return KINDS.get(kwargs.get("column", "")) == "string" and isinstance(observed, date)


def compare_example(
    con: Any, rows: list[tuple[Any, ...]], cases: list[tuple[str, dict[str, Any]]], tally: Tally
) -> None:
    """Run one example on both engines and record every disagreement in ``tally.failures``."""
    frame = build(con, rows)
    verdicts = gx_runner().run(frame, cases)
    ours: dict[int, Expectation] = {}
    for index, (name, kwargs) in enumerate(cases):
        exp = Expectation(name, "fail", dict(kwargs))
        refused = validate(exp, KINDS)
        verdict = verdicts[index]
        where = f"{name}({kwargs!r}) on {rows!r}"
        if refused:
            by_gx = [r for r in refused if r.by_gx]
            if "refused" in verdict:
                tally.refused_by_both += 1
            elif by_gx and _guessed_dates(kwargs, verdict.get("result")):
                tally.date_guesses += 1
            elif by_gx and not _vacuous(name, verdict.get("result")):
                tally.failures.append(f"Lockgate refuses ({by_gx[0].message}) but GX answers {verdict}: {where}")
            elif by_gx:
                tally.vacuous += 1
            else:
                tally.refused_by_lockgate_only += 1
                tally.lockgate_reasons.append(f"{name}: {refused[0].argument}: {refused[0].message}")
        elif "refused" in verdict:
            tally.failures.append(f"GX refuses ({verdict['refused']}) but Lockgate accepts: {where}")
        elif not supported(exp):
            tally.routed_to_gx += 1
        else:
            ours[index] = exp
    if not ours:
        return
    try:
        results = evaluate(con, "t", list(ours.values()), columns=list(COLUMNS))
    except Exception as exc:  # an accepted check must evaluate
        tally.failures.append(f"evaluate raised {type(exc).__name__}: {exc} on {rows!r}")
        return
    for (index, exp), result in zip(ours.items(), results, strict=True):
        theirs = verdicts[index]["result"]
        for key in COMPARED:
            # GX leaves the counts out of some expectation types' results
            if theirs.get(key) is None and key in ("missing_count", "element_count"):
                continue
            if not _agree(result.get(key), theirs.get(key)):
                tally.failures.append(
                    f"{key}: lockgate={result.get(key)!r} gx={theirs.get(key)!r}: "
                    f"{exp.expectation}({exp.kwargs!r}) on {rows!r}"
                )
                break
        else:
            tally.compared += 1
            _compare_row_level(con, exp, theirs, rows, tally)


def _compare_row_level(con: Any, exp: Expectation, theirs: dict[str, Any], rows: Any, tally: Tally) -> None:
    """As severity ``quarantine``, the check must flag exactly the rows GX counts unexpected."""
    quarantine = Expectation(exp.expectation, "quarantine", exp.kwargs)
    if exp.expectation not in ROW_LEVEL_EXPECTATIONS or row_level_refusals(exp.expectation, exp.kwargs):
        return
    params = Params()
    problem = row_problem(quarantine, params, list(COLUMNS))  # without kinds, as the gate calls it
    ((flagged,),) = con.execute(f"SELECT count(*) FROM t WHERE ({problem}) IS NOT NULL", params.values).fetchall()
    if flagged != theirs.get("unexpected_count"):
        tally.failures.append(
            f"row-level: quarantined {flagged} rows, gx unexpected={theirs.get('unexpected_count')!r}: "
            f"{exp.expectation}({exp.kwargs!r}) on {rows!r}"
        )
    else:
        tally.row_level += 1
