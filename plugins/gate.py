"""The quality gate's engine: raw files in, staged and quarantined rows out, one report.

No Airflow here, so it is testable as plain functions. The work happens in an embedded DuckDB
database, a scratch file in the work folder, with a memory limit (blocks beyond it spill there),
and a second DuckDB of one thread writes the staged file:

1. every raw file is read as strings (:mod:`lockgate.formats`) into one Arrow stream that DuckDB
   scans once (:mod:`lockgate.gate_source`); records that cannot be read at all become quarantine
   rows right away;
2. in that same scan each column is typed from the contract (timestamps to UTC, using the source's
   zone for naive values); a value that does not parse, a missing value in a non-nullable column, a
   non-finite number or a string with a NUL character gives the row a problem naming the column and
   the value (quoted up to :data:`lockgate.coerce.REASON_VALUE_CHARS` characters);
3. preprocessing from the pipeline config (enrichment by a LEFT JOIN with reference data, unit
   conversion, scaling; :mod:`lockgate.transforms.preprocess`) and row-level checks (the contract's
   ``quarantine`` expectations and the event-time rule) add problems, and only rows with a problem
   get a JSON record of their raw values;
4. that statement streams: the passing rows are written to staged Parquet as they come, in the
   order they were read (the files in the order of their keys, then row: no sort), and only the
   rows with a problem are kept apart, in table ``checked`` (:mod:`lockgate.gate_split`); no
   table holds the whole day. Rows with problems go to quarantine with every reason; where some
   key repeats among the staged rows, the de-duplication window (exact duplicates, or a
   ``deduplicate`` key) rewrites the staged file without the duplicates;
5. the contract's ``fail`` and ``warn`` expectations are validated (in SQL, or with Great
   Expectations Core) on the passing rows; a failed uniqueness check names the files and rows of the
   repeated keys.

Every input row is accounted for: ``rows_in = rows_passed + rows_quarantined + duplicates_removed``.

A file that covers many days declares ``slice_by`` (a date or timestamp column of the contract):
each logical date takes only the rows whose typed value falls on it. Rows of other dates are not
this date's input: they are counted per file (``files[].outside_window``, ``rows_outside_window``)
and ``rows_read = rows_in + rows_outside_window``. A row whose slice value is missing or does not
parse belongs to no date, so every date that reads the file quarantines it (naming file, row,
column and value): it is never dropped silently, whichever dates run, and each date's accounting
stays exact (totals over several dates count such a row once per date).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from lockgate.checks import EXTENSIONS, CheckContext, Params
from lockgate.checks import evaluate as evaluate_in_sql
from lockgate.checks import supported as sql_supported
from lockgate.coerce import SOURCE_TZ_COLUMN, any_problem, typed_column_layers
from lockgate.coerce import problem as _problem  # the gate builds its own problems (event_time, missing) the same way
from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS, Contract, Expectation
from lockgate.formats import (
    DEFAULT_SETTINGS,
    ROW_COLUMN,
    DuplicateColumnError,
    ReadSettings,
    SourceFileError,
    column_drift,
    source_columns,
)
from lockgate.gate_source import BATCH_ROWS, FILE_COLUMN, GateSource, RejectSink
from lockgate.gate_split import TypedSplit
from lockgate.progress import Progress
from lockgate.row_checks import row_problem
from lockgate.sql import ident, literal
from lockgate.transforms.preprocess import (
    MISSING_REASON,
    Reference,
    check_columns,
    dedupe_window,
    enrich_sql,
    enriched_columns,
    fill_sql,
    gate_made_columns,
    missing_policy,
    prepare_references,
    scale_sql,
    unit_conversion_sql,
    validate_preprocess,
)

EXAMPLES_PER_CHECK = 5
#: DuckDB's memory for the gate (beyond it DuckDB spills to the work folder; its rows sit compressed
#: in the scratch file). It is what the gate's peak RSS grows by with the day: the Python side, the
#: Arrow pool and DuckDB's allocations outside its buffer pool stay flat, but the pool fills to this
#: limit on a large day and not on a small one (the table's written blocks stay cached in it, and
#: the GROUP BY of ``_repeats`` takes the rest). 256MB: 1M ~410 MiB, 10M ~570 MiB, 100M 609-678 MiB
#: (x1.5-1.6 from 1M). 128MB kept it flatter (x1.14 up to 30M) but on a quiet machine held the
#: typing statement to ~1.2 of 2 cores (10M clean: 20.8 s against ~8 s), and a 100M-row day ran out
#: of memory in ``_repeats`` (the GROUP BY beside the staged write); 256MB gated that day (266 s)
MEMORY_LIMIT = "256MB"
#: DuckDB's memory per byte of the longest value a file may hold (its ``max_field_bytes``), when the
#: files allow longer values than usual: typing one 20 MiB value allocated 128 MiB at once (beside
#: 38 MiB in use), more than MEMORY_LIMIT
FIELD_MEMORY = 8
#: DuckDB's memory while ``_repeats`` counts the passing rows' distinct key hashes, and the rows a
#: count takes at once (100M readings at 128MB: five slices, 14 s, 209 MiB of the process; at the
#: gate's own limit: one pass, 12.3 s, 328 MiB; at 64MB and 96MB one pass ran out of memory)
REPEATS_MEMORY = "128MB"
REPEATS_PER_SLICE = 20_000_000
#: the gate's scratch database, in its work folder (removed after the run)
GATE_DATABASE = "gate.duckdb"


class QualityGateFailed(Exception):
    """One or more ``fail`` checks failed; ``str()`` is the full report of every failed check."""

    def __init__(self, message: str, report: dict[str, Any], failed: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.report = report
        #: the failed checks' results (as in ``report["checks"]``, with repeated-key locations)
        self.failed = failed or []


class SchemaDriftError(ValueError):
    """A source's columns differ from the contract and the contract's raw policy is ``fail``."""


class AccountingError(RuntimeError):
    """Rows in != rows passed + quarantined + duplicates: something would be silently lost."""


@dataclass(frozen=True)
class RawFile:
    """A raw-zone file as the gate reads it."""

    key: str
    local_path: Path
    format: str
    rows: int
    source_timezone: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    #: the drift ingestion recorded for this file in its manifest (added, missing and, where the
    #: format carries types, retyped columns); None: the gate compares the columns itself
    drift: dict[str, list[str]] | None = None
    #: how ingestion read the file (field limit, undecodable share, empty files): the gate reads alike
    read: ReadSettings = DEFAULT_SETTINGS
    #: a date/timestamp column: the file covers many days and this date takes only its rows (see
    #: :func:`slice_columns`); None: every row of the file is this date's
    slice_by: str | None = None


@dataclass
class GateOutcome:
    """What the gate produced: local Parquet files to publish, the report, and the checks by outcome."""

    report: dict[str, Any]
    staged_path: Path
    quarantine_path: Path
    failed: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)


def _shown_reason(reason: str, source_file: str | None, limit: int = 300) -> str:
    """A quarantine reason as a report example: with its file, and short enough for a log line."""
    text = f"{source_file}: {reason}" if source_file else reason
    return text if len(text) <= limit else text[:limit] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


def run_gx(contract: Contract, frame: Any, expectations: list[Expectation]) -> list[dict[str, Any]]:
    """Validate a pandas frame with Great Expectations Core; one result dict per expectation."""
    if not expectations:
        return []
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("lockgate").add_dataframe_asset(contract.dataset)
    batch = asset.add_batch_definition_whole_dataframe("run").get_batch(batch_parameters={"dataframe": frame})
    suite = gx.ExpectationSuite(name=contract.dataset)
    for index, exp in enumerate(expectations):
        cls = getattr(gx.expectations, exp.gx_class_name, None)
        if cls is None:
            raise ValueError(f"{contract.path}: unknown Great Expectations expectation {exp.expectation!r}")
        suite.add_expectation(cls(**exp.kwargs, meta={"lockgate_index": index}))
    validation = batch.validate(suite, result_format={"result_format": "SUMMARY"})
    # GX does not keep the suite's order in its results (and gives ephemeral suites no ids):
    # pair them through the index we put in each expectation's meta
    by_index = {
        (res.expectation_config.meta or {}).get("lockgate_index") if res.expectation_config else None: res
        for res in validation.results
    }
    results = []
    for index, exp in enumerate(expectations):
        res = by_index[index]
        outcome = res.result or {}
        results.append(
            {
                "check": exp.label,
                "expectation": exp.expectation,
                "kwargs": _jsonable(exp.kwargs),
                "severity": exp.severity,
                "success": bool(res.success),
                "observed_value": _jsonable(outcome.get("observed_value")),
                "element_count": outcome.get("element_count"),
                "missing_count": outcome.get("missing_count"),
                "unexpected_count": outcome.get("unexpected_count"),
                "unexpected_percent": _jsonable(outcome.get("unexpected_percent")),
                "examples": _jsonable((outcome.get("partial_unexpected_list") or [])[:EXAMPLES_PER_CHECK]),
                "engine": "great_expectations",
            }
        )
    return results


def _drift(raw: RawFile, names: Sequence[str], derived: Collection[str] = ()) -> dict[str, Any] | None:
    """Columns a source file has beyond the contract, and contract columns it lacks (None: no drift).

    ``derived`` columns are made by the gate (see ``gate_made_columns``), so a source never has them.
    """
    if raw.rows == 0:
        return None  # an empty file has no header to compare
    if raw.drift is not None:
        # ingestion compared this file with the contract already, types included: report its finding
        found = {
            k: [c for c in raw.drift.get(k, []) if k != "missing" or c not in derived]
            for k in ("added", "missing", "retyped")
        }
        return {"file": raw.key, **found} if any(found.values()) else None
    present = source_columns(raw.local_path, fmt=raw.format, delimiter=raw.delimiter, encoding=raw.encoding)
    if raw.format in ("json", "ndjson") and not present:
        return None
    # matched as the readers match them (case and surrounding whitespace ignored)
    try:
        added, missing = column_drift(present, list(names))
    except DuplicateColumnError as exc:
        raise SourceFileError(f"{raw.key}: row 1: {exc}") from None
    missing = [c for c in missing if c not in derived]
    if not added and not missing:
        return None
    return {"file": raw.key, "added": added, "missing": missing}


def _column_metrics(con: Any, contract: Contract, relation: str = "checked") -> dict[str, dict[str, Any]]:
    """Per column of the typed input rows (``relation``): count, nulls, distinct values, and min/max of numbers."""
    selects: list[str] = []
    slots: list[tuple[str, int, bool]] = []
    for col in contract.columns:
        name = ident(col.name)
        numeric = col.type in ("integer", "double")
        parts = [f"count({name})", f"count(*) - count({name})", f"approx_count_distinct({name})"]
        parts += [f"min({name})", f"max({name})"] if numeric else []
        slots.append((col.name, len(selects), numeric))
        selects += parts
    row = con.execute(f"SELECT {', '.join(selects)} FROM {relation}").fetchone()
    metrics = {}
    for name, at, numeric in slots:
        entry: dict[str, Any] = {"count": row[at], "nullCount": row[at + 1], "distinctCount": row[at + 2]}
        if numeric:
            entry.update(min=_jsonable(row[at + 3]), max=_jsonable(row[at + 4]))
        metrics[name] = entry
    return metrics


def validation_result(report: dict[str, Any]) -> dict[str, Any]:
    """The gate's checks as a Great Expectations ``ExpectationSuiteValidationResult`` document.

    Whichever engine evaluated a check, people and tools get GX's result format: ``success``,
    ``results[].expectation_config`` (type, kwargs, meta) and ``results[].result``, ``statistics``.
    """
    results = []
    for check in report["checks"]:
        outcome = {
            key: check[key]
            for key in ("observed_value", "element_count", "missing_count", "unexpected_count", "unexpected_percent")
            if check.get(key) is not None
        }
        if check.get("examples"):
            outcome["partial_unexpected_list"] = check["examples"]
        results.append(
            {
                "success": check["success"],
                "expectation_config": {
                    "type": check["expectation"],
                    "kwargs": check.get("kwargs", {}),
                    "meta": {"severity": check["severity"], "lockgate_check": check["check"]},
                },
                "result": outcome,
                "meta": {"engine": check.get("engine")},
            }
        )
    passed = sum(1 for r in results if r["success"])
    return {
        "success": report["success"],
        "suite_name": report["dataset"],
        "results": results,
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else 100.0,
        },
        "meta": {"dataset": report["dataset"], "ds": report["ds"], "rows_in": report["rows_in"]},
    }


#: uniqueness expectations -> the kwarg naming their key column(s)
UNIQUENESS_KEYS = {"expect_compound_columns_to_be_unique": "column_list", "expect_column_values_to_be_unique": "column"}


def _duplicate_locations(con: Any, check: dict[str, Any], limit: int = EXAMPLES_PER_CHECK) -> list[str]:
    """For a failed uniqueness check: where the rows of a few repeated keys are (file and row).

    A duplicated key can only be fixed at the source, so the failure says which rows to look at.
    """
    arg = UNIQUENESS_KEYS.get(check["expectation"])
    keys = check.get("kwargs", {}).get(arg) if arg else None
    if not keys:
        return []
    keys = [keys] if isinstance(keys, str) else list(keys)
    cols = ", ".join(ident(k) for k in keys)
    shown = " || ', ' || ".join(f"{literal(k + '=')} || coalesce(CAST({ident(k)} AS VARCHAR), 'null')" for k in keys)
    source_file, source_row = (ident(c) for c in ORIGIN_COLUMNS)
    found = con.execute(
        f"""
        SELECT {shown}, string_agg(format('{{}} row {{}}', {source_file}, {source_row}), ', '
                                   ORDER BY {source_file}, {source_row})
        FROM passed
        SEMI JOIN (SELECT {cols} FROM passed GROUP BY {cols} HAVING count(*) > 1) AS d USING ({cols})
        GROUP BY {cols}
        ORDER BY 1 LIMIT {int(limit)}
        """
    ).fetchall()
    return [f"{key} at {where}" for key, where in found]


PRIMARY_KEY_CHECK = "primary_key"


def _declares_key_uniqueness(contract: Contract) -> bool:
    """Whether a ``fail`` uniqueness expectation of the contract already covers the whole primary key."""
    key = set(contract.primary_key)
    for exp in contract.expectations_with("fail"):
        arg = UNIQUENESS_KEYS.get(exp.expectation)
        columns = exp.kwargs.get(arg) if arg else None
        columns = [columns] if isinstance(columns, str) else list(columns or [])
        if set(columns) == key and not exp.kwargs.get("row_condition") and exp.kwargs.get("mostly") is None:
            return True
    return False


def primary_key_check(
    con: Any, contract: Contract, relation: str = "passed", unique: Sequence[Collection[str]] = ()
) -> dict[str, Any] | None:
    """The contract's ``primary_key`` as a built-in ``fail`` check on the rows about to be staged.

    A key is unique within a logical date: no warehouse may receive two rows with one key from one
    date (a ``merge`` would fail on them, a ``replace_partition`` would load both). A pipeline that
    expects repeated deliveries of a key declares ``preprocess.deduplicate``, which runs before this
    check. None when the contract has no key, or a ``fail`` uniqueness expectation covers it already.
    ``unique``: column sets known to have no repeated value in ``relation`` (the key is not grouped
    again when one of them is part of it).
    """
    if not contract.primary_key or _declares_key_uniqueness(contract):
        return None
    cols = ", ".join(ident(k) for k in contract.primary_key)
    element_count = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
    if any(set(known) <= set(contract.primary_key) for known in unique):
        rows, repeated, keys = element_count, 0, 0  # every row has a key of its own (see ``unique``)
    else:
        rows, repeated, keys = con.execute(
            f"SELECT count(*), coalesce(sum(n) FILTER (WHERE n > 1), 0), count(*) FILTER (WHERE n > 1) "
            f"FROM (SELECT count(*) AS n FROM {relation} GROUP BY {cols})"
        ).fetchone()
    return {
        "check": f"{PRIMARY_KEY_CHECK}({','.join(contract.primary_key)})",
        "expectation": "expect_compound_columns_to_be_unique",
        "kwargs": {"column_list": list(contract.primary_key), "ignore_row_if": "never"},
        "severity": "fail",
        "success": repeated == 0,
        "observed_value": f"{keys} repeated key(s) among {rows} keys",
        "element_count": element_count,
        "unexpected_count": int(repeated),
        "unexpected_percent": 100.0 * repeated / element_count if element_count else 0.0,
        "engine": "duckdb",
        "builtin": True,
    }


def format_failures(
    dataset: str,
    ds: str,
    checks: list[dict[str, Any]],
    report: Mapping[str, Any] | None = None,
    where: Mapping[str, str] | None = None,
) -> str:
    """One readable report of every failed check, with counts and a few example values.

    With the gate's ``report``, it also breaks the quarantine down by check with example reasons
    (a day whose every row was quarantined fails its row-count check, and the cause is there);
    ``where`` names the files to look at (report, quarantine) by their locations.
    """
    lines = [f"quality gate failed for {dataset} ds={ds}: {len(checks)} check(s) failed"]
    for c in checks:
        detail = []
        if c.get("unexpected_count") is not None:
            detail.append(f"{c['unexpected_count']} of {c.get('element_count')} rows unexpected")
        if c.get("observed_value") is not None:
            detail.append(f"observed {c['observed_value']}")
        if c.get("examples"):
            detail.append(f"examples {json.dumps(c['examples'], default=str)[:300]}")
        if c.get("locations"):
            detail.append(f"repeated keys {'; '.join(c['locations'])[:1000]}")
        lines.append(f"  - [{c['severity']}] {c['check']}: {'; '.join(detail) or 'failed'}")
    if report is not None:
        lines += quarantine_lines(report)
    for name, location in (where or {}).items():
        lines.append(f"{name}: {location}")
    return "\n".join(lines)


def quarantine_lines(report: Mapping[str, Any]) -> list[str]:
    """The quarantine of a gate report by check, each with its example reasons, as log/message lines."""
    total = report.get("rows_quarantined") or 0
    lines = [f"rows in {report.get('rows_in', 0):,}, passed {report.get('rows_passed', 0):,}, quarantined {total:,}"]
    examples = report.get("quarantine_examples") or {}
    for check, count in sorted((report.get("quarantine_by_check") or {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"  quarantined by {check}: {count:,} row(s)")
        lines += [f"    e.g. {reason}" for reason in examples.get(check, [])]
    return lines


def run_gate(
    contract: Contract,
    files: list[RawFile],
    *,
    ds: str,
    workdir: Path,
    preprocess: dict[str, Any] | None = None,
    memory_limit: str | None = None,
    check_engine: str = "duckdb",
    history: Sequence[int] = (),
    references: Mapping[str, Reference] | None = None,
) -> GateOutcome:
    """Gate one logical date of a dataset. Raises :class:`QualityGateFailed` on ``fail`` checks.

    ``check_engine="duckdb"`` evaluates the ``fail``/``warn`` expectations as SQL (see
    :mod:`lockgate.checks`; untranslated ones go to GX); ``"great_expectations"`` hands them all to
    GX on a pandas frame of the staged rows. ``history`` holds the passed-row counts of the
    dataset's trailing successful runs (oldest first), for the volume check. ``references`` holds
    the curated files of the datasets the ``enrich`` steps join (:class:`Reference` by dataset).
    ``memory_limit``: DuckDB's memory (None: :func:`gate_memory_limit` of the files).
    """
    if check_engine not in ("duckdb", "great_expectations"):
        raise ValueError(f"check_engine must be 'duckdb' or 'great_expectations', not {check_engine!r}")
    from lockgate.duckdb_session import bounded_duckdb

    config = validate_preprocess(preprocess)
    # the steps' columns against the contract before anything is read (errors name step and column)
    check_columns(config, {c.name: (c.type, c.nullable) for c in contract.columns})
    workdir.mkdir(parents=True, exist_ok=True)
    # a scratch database file, made afresh (nothing of a last run is found): the one full copy of the
    # rows (``checked``) is compressed as it is written, where an in-memory table beyond memory_limit
    # spills to disk uncompressed; memory stays bounded, with as many threads as the task has CPUs
    database = workdir / GATE_DATABASE
    memory_limit = memory_limit or gate_memory_limit(files)
    con = bounded_duckdb(workdir, memory_limit, database)
    # the file is thrown away after the run: closing need not checkpoint it (nothing reads it again)
    con.execute("PRAGMA disable_checkpoint_on_shutdown")
    try:
        return _gate(
            con,
            contract,
            files,
            ds=ds,
            workdir=workdir,
            config=config,
            check_engine=check_engine,
            history=history,
            references=references or {},
            memory_limit=memory_limit,
        )
    finally:
        con.close()
        for scratch in (database, database.with_name(database.name + ".wal")):
            scratch.unlink(missing_ok=True)


def gate_memory_limit(files: Sequence[RawFile]) -> str:
    """DuckDB's memory for gating ``files``: :data:`MEMORY_LIMIT`, or more where a file's
    ``max_field_bytes`` lets it hold values too long to type within it (see :data:`FIELD_MEMORY`)."""
    from lockgate.duckdb_session import size_bytes

    widest = max((raw.read.max_field_bytes for raw in files), default=0)
    needed = FIELD_MEMORY * widest
    return MEMORY_LIMIT if needed <= size_bytes(MEMORY_LIMIT) else f"{needed}B"


def _gate(
    con: Any,
    contract: Contract,
    files: list[RawFile],
    *,
    ds: str,
    workdir: Path,
    config: dict[str, Any],
    check_engine: str,
    history: Sequence[int],
    references: Mapping[str, Reference],
    memory_limit: str,
) -> GateOutcome:
    # columns an enrich step fills come from the reference, never from the source files
    derived = set(enriched_columns(config))
    # each reference as a table of unique typed keys, before any raw file is read: a reference
    # with a repeated key fails the gate at once (a join must not multiply rows)
    prepare_references(con, config, references, {c.name: c.type for c in contract.columns})
    _check_timezones(con, files)
    drifts: list[dict[str, Any]] = []
    source_names = [n for n in contract.column_names if n not in derived]
    drift = _drift_recorder(contract, source_names, set(gate_made_columns(config)), drifts)
    source = _gate_source(contract, files, source_names, workdir, drift)
    slices = slice_columns(contract, files)
    for col in slices:
        if col in derived:
            raise ValueError(f"{contract.dataset}: slice_by column {col!r} comes from an enrich step, not the files")
    outputs = (workdir / "staged.parquet", workdir / "quarantine.parquet")
    typed = _type_and_stage(
        con,
        contract,
        source,
        config=config,
        ds=ds,
        derived=derived,
        slices=slices,
        workdir=workdir,
        staged_path=outputs[0],
        memory_limit=memory_limit,
    )
    drifts.sort(key=lambda found: _listed(files)[found["file"]])
    outside = _outside_counts(typed, slices, source)
    evaluated, good = typed.evaluated, typed.passed
    staged = _stage(con, contract, config, ds, outputs, source.file_names(), evaluated, (check_engine, history), good)
    rows_read = sum(f["rows"] for f in source.per_file)
    # rows of other dates are not this date's input (issue 17): rows_read = rows_in + outside the window
    rows_in = rows_read - sum(outside.values())
    duplicates = good - staged.rows_passed
    accounted = staged.rows_passed + staged.rows_quarantined + duplicates
    if rows_in != accounted or evaluated + source.rejects.count != rows_in:
        raise AccountingError(
            f"{contract.dataset} ds={ds}: rows in {rows_in} != passed {staged.rows_passed} + quarantined "
            f"{staged.rows_quarantined} + duplicates {duplicates}"
            + (f" (rows read {rows_read}, {sum(outside.values())} of other dates)" if slices else "")
        )
    report = {
        "column_metrics": staged.metrics,
        "dataset": contract.dataset,
        "contract": os.path.basename(contract.path),
        "ds": ds,
        "files": _file_entries(source.per_file, files, outside),
        "rows_in": rows_in,
        "rows_passed": staged.rows_passed,
        "rows_quarantined": staged.rows_quarantined,
        "duplicates_removed": duplicates,
        **staged.quarantine_summary,
        "schema_drift": drifts,
    }
    if slices:
        report.update(rows_read=rows_read, rows_outside_window=sum(outside.values()))
    return _table_checks(
        con, contract, report, staged.row_level, ds, check_engine, history, outputs, staged.unique, staged.checked
    )


def _drift_recorder(
    contract: Contract, source_names: Sequence[str], gate_made: Collection[str], drifts: list[dict[str, Any]]
) -> Callable[[RawFile], None]:
    """What the reader calls on each raw file: the file's drift from ``source_names`` appended to
    ``drifts``, or SchemaDriftError where the contract's raw policy is ``fail``."""

    def drift(raw: RawFile) -> None:
        found = _drift(raw, source_names, gate_made)
        if found and contract.schema_drift["raw"] == "fail":
            raise SchemaDriftError(
                f"{raw.key}: schema drift (added {found['added']}, missing {found['missing']}"
                + (f", retyped {found['retyped']}" if found.get("retyped") else "")
                + ") and the contract's schema_drift.raw policy is 'fail'"
            )
        if found:
            drifts.append(found)

    return drift


def _gate_source(
    contract: Contract,
    files: Sequence[RawFile],
    source_names: Sequence[str],
    workdir: Path,
    drift: Callable[[RawFile], None],
) -> GateSource:
    """The files' ``source_names`` columns as one Arrow stream (rejects to the work folder)."""
    # reading and typing is the gate's long part: a line every few seconds with rate and time left
    progress = Progress(f"gate {contract.dataset}", total=sum(f.rows for f in files), unit="rows")
    return GateSource(
        # read in the order of their keys: the staged rows keep the reading order (file, row), so the
        # same files give the same staged bytes whatever order they are listed in
        sorted(files, key=lambda f: f.key),
        list(source_names),
        {c.name for c in contract.columns if c.nullable},
        drift,
        RejectSink(workdir / "rejects.parquet"),
        progress,
    )


@dataclass
class _Staged:
    """What :func:`_stage` found: the rows staged and quarantined and the report's parts."""

    rows_passed: int
    rows_quarantined: int
    #: the report's quarantine_by_check, quarantine_by_column and quarantine_examples
    quarantine_summary: dict[str, Any]
    row_level: list[dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    #: the de-duplication group the checks need not group again (no value of it repeats)
    unique: Sequence[str]
    #: the SQL checks, already run on the final passing rows (None: they run after the window)
    checked: SqlChecks | None


def _stage(
    con: Any,
    contract: Contract,
    config: dict[str, Any],
    ds: str,
    outputs: tuple[Path, Path],
    file_name: str,
    evaluated: int,
    checks: tuple[str, Sequence[int]],
    rows_passed: int,
) -> _Staged:
    """The rows with a problem (table ``checked``) to the quarantine file, with the quarantine's
    summary, the row-level results, the column metrics and the SQL checks of the staged rows.

    ``outputs``: the staged file (written) and the quarantine file (written here);
    ``file_name``: see :meth:`GateSource.file_names`; ``checks``: the check engine and the
    history; ``rows_passed``: the rows staged. Where the de-duplication window runs (a key
    repeats), the staged file is written again without the duplicates.
    """
    staged_path, quarantine_path = outputs
    # the passing rows, as staged (in the reading order)
    con.execute(f"CREATE VIEW passed AS SELECT * FROM read_parquet({literal(str(staged_path))})")
    group = _dedupe_group(contract, config) if dedupe_window(config, list(contract.column_names)) else []
    repeats = bool(group) and _repeats(con, group)
    rows_quarantined = _quarantine(con, ds, quarantine_path, file_name)
    reasons, by_column, reason_examples = _quarantine_summary(con)
    row_level = _row_level_results(con, contract, evaluated)
    # the typed rows of this date: the staged ones and those with a problem
    cols = ", ".join(ident(c.name) for c in contract.columns)
    metrics = _column_metrics(con, contract, f"(SELECT {cols} FROM passed UNION ALL SELECT {cols} FROM checked)")
    # no repeated value of the group among the passing rows: the checks need not group them again
    unique = [] if repeats else group
    # the passing rows are final unless the window runs: then their checks run after it
    checked = None if repeats else _sql_checks(con, contract, ds, *checks, unique)
    if repeats:
        rows_passed = _deduplicated(con, contract, config, staged_path)
    summary = {
        "quarantine_by_check": reasons,
        "quarantine_by_column": by_column,
        "quarantine_examples": reason_examples,
    }
    return _Staged(rows_passed, rows_quarantined, summary, row_level, metrics, unique, checked)


def _file_entries(
    per_file: Sequence[dict[str, Any]], files: Sequence[RawFile], outside: Mapping[str, int]
) -> list[dict[str, Any]]:
    """The report's files: rows read per file and, for a sliced file, its column and rows of other dates."""
    slice_by = {raw.key: raw.slice_by for raw in files}
    listed = _listed(files)
    per_file = sorted(per_file, key=lambda entry: listed[entry["key"]])
    return [
        {**entry, "slice_by": slice_by[entry["key"]], "outside_window": outside[entry["key"]]}
        if entry["key"] in outside
        else entry
        for entry in per_file
    ]


def _listed(files: Sequence[RawFile]) -> dict[str, int]:
    """Each file's place in the list the gate was given: the report keeps that order, though the
    files are read in the order of their keys."""
    return {raw.key: at for at, raw in reversed(list(enumerate(files)))}


def _check_timezones(con: Any, files: Sequence[RawFile]) -> None:
    """Every file's declared source zone must be one DuckDB knows (checked before anything is read)."""
    import duckdb

    for raw in files:
        if raw.source_timezone is not None:
            try:
                con.execute("SELECT timezone($1, TIMESTAMP '2000-01-01')", [raw.source_timezone]).fetchall()
            except duckdb.Error:
                raise ValueError(f"{raw.key}: unknown source_timezone {raw.source_timezone!r}") from None


#: prefix of the columns that carry each raw value through typing, for the record of a quarantined row
_RAW = "__lockgate_raw_"
#: a flagged row's ``_candidates`` values (see :func:`_checked_sql`)
RAW_COLUMN = "_raw"


def _typing_sql(
    contract: Contract, config: dict[str, Any], derived: Collection[str]
) -> tuple[list[list[str]], list[str], list[str]]:
    """The helper layers, typed expressions and problems of every source column (the missing policy applied).

    Each layer is a list of ``expression AS alias`` computed in one projection before typing
    (:func:`lockgate.coerce.typed_column_layers`).
    """
    layers: list[list[str]] = []
    typed_exprs: list[str] = []
    type_problems: list[str] = []
    missing = {c: missing_policy(p) for c, p in (config.get("missing") or {}).items()}
    flags = {f"{c}_missing": c for c, p in missing.items() if p == "flag"}
    for col in contract.columns:
        if col.name in derived:
            continue  # typed by prepare_references, added by the enrich join
        # typing gives the not_null problem of a missing value, unless the drop policy below names it
        required = not col.nullable and missing.get(col.name) != "drop"
        helpers, expr, problems = typed_column_layers(col, required=required)
        if col.name in flags:
            source = ident(flags[col.name])
            helpers, expr, problems = [], f"({source} IS NULL OR trim({source}) = '')", []
        for depth, layer in enumerate(helpers):
            if depth == len(layers):
                layers.append([])
            layers[depth] += [f"{sql} AS {ident(alias)}" for alias, sql in layer.items()]
        typed_exprs.append(f"{expr} AS {ident(col.name)}")
        type_problems += problems
        if missing.get(col.name) == "drop":
            # a row the policy drops is quarantined with the reason: nothing disappears silently
            type_problems.append(
                _problem(
                    "missing",
                    col.name,
                    f"NOT ({ident(col.name)} IS NOT NULL AND trim({ident(col.name)}) <> '')",
                    literal(f"column {col.name}: {MISSING_REASON}"),
                )
            )
    return layers, typed_exprs, type_problems


def _row_problems(contract: Contract, params: Params, ds: str) -> list[str]:
    """The problems of the contract's ``quarantine`` expectations and of its event-time rule."""
    problems = [row_problem(e, params, contract.column_names) for e in contract.expectations_with("quarantine")]
    if contract.event_time:
        et = ident(contract.event_time)
        day = f"CAST({params(ds)} AS DATE)"
        # the event time is a timestamp column (contracts refuse others): its UTC date (the session's
        # zone) is the day when the instant is within the day's bounds; taking the date of every row
        # goes through the zone's calendar (0.43 vs 0.02 s CPU per 10M rows)
        off_day = f"NOT ({et} >= CAST({day} AS TIMESTAMPTZ) AND {et} < CAST({day} + 1 AS TIMESTAMPTZ))"
        problems.append(
            _problem(
                "event_time",
                contract.event_time,
                f"{et} IS NOT NULL AND {off_day}",
                f"format({literal(f'column {contract.event_time}: {{}} is not on the logical date {{}}')}, "
                f"strftime({et}, '%Y-%m-%dT%H:%M:%SZ'), {params(ds)})",
            )
        )
    return problems


#: the check name of a row whose ``slice_by`` value is missing (it belongs to no logical date)
SLICE_CHECK = "slice_by"
#: contract types a file can be sliced by
SLICE_TYPES = ("date", "timestamp")


def slice_columns(contract: Contract, files: Sequence[RawFile]) -> dict[str, list[str]]:
    """The ``slice_by`` columns of the files, each with the keys of the files it slices.

    A slice column must be a ``date`` or ``timestamp`` column of the contract (its ``format`` says
    how ``1/3/11`` reads); a timestamp falls on its UTC date, as the event-time rule has it.
    """
    types = {c.name: c.type for c in contract.columns}
    found: dict[str, list[str]] = {}
    for raw in files:
        if raw.slice_by is None:
            continue
        if raw.slice_by not in types:
            raise ValueError(f"{raw.key}: slice_by column {raw.slice_by!r} is not in contract {contract.dataset}")
        if types[raw.slice_by] not in SLICE_TYPES:
            raise ValueError(
                f"{raw.key}: slice_by column {raw.slice_by!r} is {types[raw.slice_by]} in contract "
                f"{contract.dataset}: a date or timestamp column is needed"
            )
        found.setdefault(raw.slice_by, []).append(raw.key)
    return found


def _sliced_file(numbers: Sequence[int]) -> str:
    """SQL: the row was read from one of these files (by their numbers, :data:`lockgate.gate_source.FILE_COLUMN`)."""
    return f"_file IN ({', '.join(str(int(n)) for n in numbers)})"


def _outside_sql(slices: Mapping[str, Sequence[int]], ds: str, table: str) -> str:
    """SQL: the row is in a sliced file and its slice value falls on another date than ``ds``.

    ``slices``: each slice column with the numbers of the files it slices.
    """
    day = f"CAST({literal(ds)} AS DATE)"
    parts = [
        f"({_sliced_file(numbers)} AND {table}.{ident(col)} IS NOT NULL "
        f"AND CAST({table}.{ident(col)} AS DATE) <> {day})"
        for col, numbers in slices.items()
    ]
    return f"coalesce({' OR '.join(parts)}, false)" if parts else "false"


def _slice_problems(slices: Mapping[str, Sequence[int]]) -> list[str]:
    """A sliced file's row without a slice value (missing, or it did not parse) belongs to no date."""
    return [
        _problem(
            SLICE_CHECK,
            col,
            f"{_sliced_file(numbers)} AND {ident(col)} IS NULL",
            literal(
                f"column {col}: no value to slice the file by (missing or not a date), so the row belongs to no "
                "logical date; every date that reads this file quarantines it"
            ),
        )
        for col, numbers in slices.items()
    ]


def _outside_counts(typed: TypedSplit, slices: Mapping[str, Sequence[str]], source: GateSource) -> dict[str, int]:
    """Per sliced file, its rows of other dates (counted, never quarantined: another date's input)."""
    return {key: typed.outside.get(source.file_numbers([key])[0], 0) for keys in slices.values() for key in keys}


def _problem_list(problems: Sequence[str], flags_only: bool = False) -> str:
    """SQL: the list of a row's problems, NULL for a row without any (most rows: no list is built);
    ``flags_only``: whether the row has any (true or false)."""
    if flags_only:
        return any_problem(problems)
    if not problems:
        return "NULL"
    return f"CASE WHEN {any_problem(problems)} THEN [{', '.join(problems)}] END"


def _replace(exprs: Mapping[str, str]) -> str:
    return "* REPLACE (" + ", ".join(f"{e} AS {ident(c)}" for c, e in exprs.items()) + ")" if exprs else "*"


def _checked_sql(
    contract: Contract,
    raw_names: Sequence[str],
    params: Params,
    *,
    config: dict[str, Any],
    ds: str,
    derived: Collection[str],
    numbered: Mapping[str, Sequence[int]],
    flags_only: bool = False,
) -> str:
    """SQL: the raw rows of ``_candidates`` typed and checked (see :func:`_type_and_stage`).

    ``raw_names``: the columns read from the files; ``numbered``: each slice column with the
    numbers of the files it slices; ``params`` collects the statement's parameters.
    ``flags_only``: ``_problems`` is only true for a row with a problem, and ``_raw`` holds its
    ``_candidates`` values (what typing it again needs) in place of ``_record``.
    """
    layers, typed_exprs, type_problems = _typing_sql(contract, config, derived)
    # each layer of helper values in a projection of its own, over the one before
    helpers = "".join(
        f", _h{i} AS (SELECT *, {', '.join(layer)} FROM {'filled' if i == 0 else f'_h{i - 1}'})"
        for i, layer in enumerate(layers)
    )
    typing_input = f"_h{len(layers) - 1}" if layers else "filled"
    enrich = enrich_sql(config, {c.name: c.nullable for c in contract.columns})
    enrich_select = "".join(f", {e}" for e in enrich.selects)
    enrich_problems = [_problem(*p) for p in enrich.problems]
    convert_select, convert_problems = "*", []
    if config.get("convert_units"):
        value_sql, unit_sql, problem_sql = unit_conversion_sql(config["convert_units"])
        units = config["convert_units"]
        convert_select = f"* REPLACE ({value_sql} AS {ident(units['value'])}, {unit_sql} AS {ident(units['unit'])})"
        convert_problems = [_problem("unit", units["unit"], f"({problem_sql}) IS NOT NULL", problem_sql)]
    row_problems = _row_problems(contract, params, ds) + _slice_problems(numbered)
    outside = _outside_sql(numbered, ds, "t")
    # the raw values as read (before fills), carried under their own names to the record of a bad row
    carried = [f"{ident(n)} AS {ident(f'{_RAW}{i}')}" for i, n in enumerate(raw_names)]
    carried_refs = [ident(f"{_RAW}{i}") for i in range(len(raw_names))]
    if flags_only:
        carried_refs.append(ident(SOURCE_TZ_COLUMN))
    sql = f"""
        WITH filled AS (
            SELECT {_replace(fill_sql(config))}{"".join(", " + c for c in carried)} FROM _candidates
        ){helpers}, typed AS (
            SELECT _file, _row{"".join(", " + r for r in carried_refs)}, {", ".join(typed_exprs)},
                   {_problem_list(type_problems, flags_only)} AS _p1
            FROM {typing_input}
        ), enriched AS (
            SELECT t.*{enrich_select}, {_problem_list(enrich_problems, flags_only)} AS _pe, {outside} AS _outside
            FROM typed AS t {enrich.joins}
        ), converted AS (
            SELECT {convert_select}, {_problem_list(convert_problems, flags_only)} AS _p2 FROM enriched
        ), scaled AS (
            SELECT {_replace(scale_sql(config))} FROM converted
        ), checked AS (
            SELECT *, {_problem_list(row_problems, flags_only)} AS _p3 FROM scaled
        ), flagged AS (
            SELECT * EXCLUDE (_p1, _pe, _p2, _p3), {_problems_sql(flags_only)} AS _problems
            FROM checked
        )
        SELECT * EXCLUDE ({", ".join(carried_refs)}), {_raw_sql(raw_names, carried_refs, flags_only)}
        FROM flagged{_every_parameter(params) if flags_only else ""}
        """
    return sql


def _problems_sql(flags_only: bool) -> str:
    """SQL: a typed row's problems from its layers' (``_p1``, ``_pe``, ``_p2``, ``_p3``), NULL for
    none and for a row of another date (see :func:`_checked_sql` for ``flags_only``)."""
    if flags_only:
        return "CASE WHEN NOT _outside AND (_p1 OR _pe OR _p2 OR _p3) THEN true END"
    return """CASE WHEN _outside OR (_p1 IS NULL AND _pe IS NULL AND _p2 IS NULL AND _p3 IS NULL) THEN NULL
                   ELSE nullif(list_filter(list_concat(coalesce(_p1, []), coalesce(_pe, []), coalesce(_p2, []),
                                                       coalesce(_p3, [])), lambda p: p IS NOT NULL), [])
              END"""


def _raw_sql(raw_names: Sequence[str], carried_refs: Sequence[str], flags_only: bool) -> str:
    """SQL: a row with a problem keeps its raw values: as a JSON record, or (``flags_only``) as
    ``_raw``, a struct of its ``_candidates`` columns (the file's time zone too), to type it again."""
    if flags_only:
        names = [*raw_names, SOURCE_TZ_COLUMN]
        fields = ", ".join(f"{literal(n)}: CAST({r} AS VARCHAR)" for n, r in zip(names, carried_refs, strict=True))
        return f"CASE WHEN _problems THEN {{{fields}}} END AS {ident(RAW_COLUMN)}"
    record = "{" + ", ".join(f"{literal(n)}: {r}" for n, r in zip(raw_names, carried_refs, strict=True)) + "}"
    return f"CASE WHEN _problems IS NOT NULL THEN CAST(to_json({record}) AS VARCHAR) END AS _record"


def _every_parameter(params: Params) -> str:
    """SQL: a WHERE clause naming each parameter once, always true. DuckDB refuses a parameter its
    statement does not use, and the flags leave out the reasons, where some parameters are."""
    if not params.values:
        return ""
    return " WHERE " + " AND ".join(f"${i} IS NOT DISTINCT FROM ${i}" for i in range(1, len(params.values) + 1))


def _type_and_stage(
    con: Any,
    contract: Contract,
    source: GateSource,
    *,
    config: dict[str, Any],
    ds: str,
    derived: Collection[str],
    slices: Mapping[str, Sequence[str]],
    workdir: Path,
    staged_path: Path,
    memory_limit: str,
) -> TypedSplit:
    """Every readable row typed, preprocessed and checked in one scan of the files: the passing
    rows written to ``staged_path`` as they come, the others to table ``checked``.

    DuckDB scans the files' Arrow stream once (:class:`lockgate.gate_source.GateSource`); nothing is
    stored as strings. The scan only flags a row with a problem and keeps its raw values; the rows
    it flags are typed again, apart, with their problems and the JSON record of their raw values
    (:func:`_typed_again`): carrying lists of problems through every projection of the scan cost
    the whole day ~1.4 s of CPU at 10M readings with 0.1% bad rows, where flags cost ~0.5 s. Column
    ``_outside`` marks the rows of sliced files that fall on another date (``slices``, see
    :func:`slice_columns`): they keep no problem, being another date's rows, and are only counted
    (:class:`lockgate.gate_split.TypedSplit`).
    """
    import duckdb
    import pyarrow as pa

    from lockgate.duckdb_session import bounded_duckdb

    params = Params()
    numbered = {col: source.file_numbers(keys) for col, keys in slices.items()}
    typing_sql = partial(
        _checked_sql, contract, source.columns, config=config, ds=ds, derived=derived, numbered=numbered
    )
    sql = typing_sql(params, flags_only=True)
    split = TypedSplit(workdir / "problems.parquet", kept=(FILE_COLUMN, ROW_COLUMN, RAW_COLUMN))
    # the staged file's writer: a DuckDB of its own, one thread (see _copy_in_order), fed as the
    # typing statement streams; its spill folder apart from the gate's
    writer = bounded_duckdb(workdir / "staged-writer", memory_limit, threads=1)
    # the statement streams on a connection of its own: a streamed result allows nothing else on its
    # connection (the database's settings, its UTC time zone included, hold for every connection)
    typing = con.cursor()
    typing.register("_candidates", source.reader())
    try:
        batches = typing.sql(sql, params=params.values).to_arrow_reader(BATCH_ROWS)
        names = [*contract.column_names, FILE_COLUMN, ROW_COLUMN]
        schema = pa.schema([batches.schema.field(n) for n in names])
        writer.register("_passing", pa.RecordBatchReader.from_batches(schema, split.passing(batches, names)))
        columns = _staged_columns(contract, ds, source.file_names())
        written = _copy_in_order(writer, f"(SELECT {columns} FROM _passing)", staged_path)
        split.close(batches.schema)
    except (duckdb.Error, pa.ArrowException):
        for error in (source.error, split.error):
            if error is not None:
                # the reader's own error (a file that cannot be read, drift, accounting), with its type
                raise error from None
        raise
    finally:
        typing.close()
        writer.close()
    if written != split.passed:
        raise AccountingError(f"{contract.dataset}: {split.passed} passing rows, but {written} staged")
    if len(source.per_file) != len(source.files):
        raise AccountingError(f"{contract.dataset}: {len(source.files)} raw files, but {len(source.per_file)} read")
    _typed_again(con, contract, typing_sql, split)
    _rejects_table(con, source)
    return split


def _typed_again(con: Any, contract: Contract, typing_sql: Callable[..., str], split: TypedSplit) -> None:
    """Table ``checked``: the rows the scan flagged, typed again from their raw values by the same
    statement, with their problems and records. The statement decides alike on the same values, so
    every one of them has a problem again; anything else is an accounting error."""
    params = Params()
    sql = typing_sql(params)
    raw = ident(RAW_COLUMN)
    flagged = literal(str(split.problems_path))
    con.execute(f"CREATE TEMP VIEW _candidates AS SELECT _file, _row, unnest({raw}) FROM read_parquet({flagged})")
    try:
        con.execute(f"CREATE TABLE checked AS {sql}", params.values)
    finally:
        con.execute("DROP VIEW _candidates")
    (rows, failing) = con.execute("SELECT count(*), count(_problems) FROM checked").fetchone()
    if rows != split.evaluated - split.passed or failing != rows:
        raise AccountingError(
            f"{contract.dataset}: {split.evaluated - split.passed} rows flagged with a problem, but typed again "
            f"{rows} rows of which {failing} have one"
        )


def _rejects_table(con: Any, source: GateSource) -> None:
    """Table ``rejects``: the records the reader could not make a row of."""
    rejects = source.rejects.close()
    if rejects is not None:
        con.execute(f"CREATE TABLE rejects AS SELECT * FROM read_parquet({literal(str(rejects))})")
    else:
        con.execute(
            "CREATE TABLE rejects (source_file VARCHAR, source_row BIGINT, column_name VARCHAR, "
            "check_name VARCHAR, reason VARCHAR, record VARCHAR)"
        )


def _dedupe_group(contract: Contract, config: dict[str, Any]) -> list[str]:
    """The columns whose GROUP BY decides whether two passing rows can be in one de-duplication group.

    Rows whose primary key differs are in different groups whenever the groups include the key
    (``drop_exact_duplicates`` groups by every column), so the key decides; a de-duplication key
    is grouped by itself.
    """
    dedupe = config.get("deduplicate")
    group = list(dedupe["key"]) if dedupe else list(contract.column_names)
    key = list(contract.primary_key)
    return key if key and set(key) <= set(group) else group


def _repeats(con: Any, group: Sequence[str]) -> bool:
    """Whether two passing rows (``passed``) share the values of ``group``.

    Only a repeated 64-bit hash (a real repeat, or a collision) asks the columns themselves
    (:func:`lockgate.duckdb_session.repeating_hash_slices`). The hashes are counted within
    :data:`REPEATS_MEMORY`, :data:`REPEATS_PER_SLICE` rows at a time: under the gate's own limit
    they filled it on a big day (100M readings: the task's peak, 703 MiB).
    """
    from lockgate.duckdb_session import memory_at_most, repeating_hash_slices

    with memory_at_most(con, REPEATS_MEMORY):
        _, repeating = repeating_hash_slices(con, "passed", group, REPEATS_PER_SLICE)
    if not repeating:
        return False
    cols = ", ".join(ident(c) for c in group)
    found = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM passed GROUP BY {cols} HAVING count(*) > 1)").fetchone()
    return bool(found[0])


def _staged_columns(contract: Contract, ds: str, file_name: str) -> str:
    """SQL: the staged columns of a row of ``checked`` (its origin and date included).

    ``file_name``: SQL giving a row's file key from its number (:meth:`GateSource.file_names`).
    """
    cols = ", ".join(ident(n) for n in contract.column_names)
    # each staged row keeps where it was read, so a later failure (a load the warehouse refuses)
    # can name the raw file and row; the partition step drops these columns
    origin = f"{file_name} AS {ident(ORIGIN_COLUMNS[0])}, _row AS {ident(ORIGIN_COLUMNS[1])}"
    day = f"CAST({literal(ds)} AS DATE) AS {ident(DATE_PARTITION)}"
    return f"{cols}, {day}, {origin}"


def _deduplicated(con: Any, contract: Contract, config: dict[str, Any], staged_path: Path) -> int:
    """Relation ``passed`` made a table without the rows the de-duplication window drops, and
    written again to the staged file, in :func:`staged_order`; their count.

    Rows the window drops are counted as duplicates (rows in = passed + quarantined + duplicates).
    The window orders by file and row: a staged row's file key sorts as its file's number does
    (the gate numbers the files in the order of their keys). It reorders the rows: a sort restores
    the reading order.
    """
    window = dedupe_window(config, list(contract.column_names))
    origin = f"{ident(ORIGIN_COLUMNS[0])} AS _file, {ident(ORIGIN_COLUMNS[1])} AS _row"
    con.execute(
        f"""CREATE TABLE deduplicated AS SELECT * EXCLUDE (_copy, _file, _row) FROM (
                SELECT *, {window} AS _copy FROM (SELECT *, {origin} FROM passed)
            ) WHERE _copy = 1"""
    )
    con.execute("DROP VIEW passed")
    con.execute("ALTER TABLE deduplicated RENAME TO passed")
    with _one_thread_each(con):
        return _copy_in_order(con.cursor(), f"(SELECT * FROM passed ORDER BY {staged_order()})", staged_path)


@contextmanager
def _one_thread_each(con: Any) -> Iterator[None]:
    """DuckDB without worker threads: each statement runs on the thread that asked for it."""
    (threads,) = con.execute("SELECT current_setting('threads')").fetchone()
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(threads)}")


def _copy_in_order(cursor: Any, relation: str, path: Path) -> int:
    """``COPY relation TO path`` as Parquet on ``cursor`` (closed after), of one thread (see
    :func:`_one_thread_each`).

    With several threads DuckDB keeps the rows' order but cuts the row groups where its threads
    happen to be (10M readings: two runs, two files), and a rerun must write the same bytes. One
    thread cuts them alike every time, and spends less CPU on the write (3.6-4.2 vs 4.9 s at 10M).
    """
    try:
        sql = f"COPY {relation} TO {literal(str(path))} (FORMAT parquet, COMPRESSION zstd)"
        (copied,) = cursor.execute(sql).fetchone()
    finally:
        cursor.close()
    return int(copied)


def staged_order() -> str:
    """SQL: the staged rows' order, where each row was read (file, then row): the reading order.

    The order only has to be the same for the same rows: a rerun's staged file is byte for byte the
    last one (the replay and the three-run test compare it by sha256), and nothing downstream reads
    the rows in order (the partition step writes them with every thread, in no order). The gate
    reads the files in the order of their keys, and DuckDB keeps the insertion order, so the rows
    are in this order as read: only the de-duplication window, which reorders them, needs a sort (a
    sort of 10M readings by the key was ~9 s CPU of the gate's ~23 s).
    """
    return ", ".join(ident(c) for c in ORIGIN_COLUMNS)


def _quarantine(con: Any, ds: str, quarantine_path: Path, file_name: str) -> int:
    """Rows with problems and unreadable records to quarantine Parquet; relation ``quarantined``; their count."""
    con.execute(
        f"""
        CREATE TABLE quarantined AS
        SELECT source_file, source_row, column_name, check_name, reason, record,
               CAST({literal(ds)} AS DATE) AS {ident(DATE_PARTITION)}
        FROM (
            SELECT {file_name} AS source_file, _row AS source_row,
                   _problems[1]."column" AS column_name, _problems[1]."check" AS check_name,
                   format('row {{}}: {{}}', _row,
                          array_to_string(list_transform(_problems, lambda p: p.reason), '; ')) AS reason,
                   _record AS record
            FROM checked WHERE _problems IS NOT NULL
            UNION ALL SELECT * FROM rejects
        )
        """
    )
    copied = con.execute(
        f"COPY (SELECT * FROM quarantined ORDER BY source_file, source_row) TO {literal(str(quarantine_path))} "
        "(FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    return int(copied[0])


def _quarantine_summary(con: Any) -> tuple[dict[str, int], dict[str, int], dict[str, list[str]]]:
    """Quarantined rows by check and by column, and a few example reasons per check."""
    reasons = dict(
        con.execute("SELECT coalesce(check_name, 'parse'), count(*) FROM quarantined GROUP BY 1 ORDER BY 1").fetchall()
    )
    by_column = dict(
        con.execute(
            "SELECT coalesce(column_name, '(record)'), count(*) FROM quarantined GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    examples = {
        check: [_shown_reason(r, file) for r, file in found]
        for check, found in con.execute(
            f"SELECT coalesce(check_name, 'parse'), list((reason, source_file) ORDER BY source_file, source_row)"
            f"[1:{EXAMPLES_PER_CHECK}] FROM quarantined GROUP BY 1 ORDER BY 1"
        ).fetchall()
    }
    return reasons, by_column, examples


def _row_level_results(con: Any, contract: Contract, evaluated: int) -> list[dict[str, Any]]:
    """The ``quarantine`` expectations as check results (a ``mostly`` share fails the run)."""
    flagged = dict(
        con.execute(
            'SELECT p."check", count(*) FROM (SELECT unnest(_problems) AS p FROM checked WHERE _problems IS NOT NULL) '
            "GROUP BY 1"
        ).fetchall()
    )
    # a quarantine check moves its rows aside and the run goes on; with an explicit `mostly`, too
    # large a share of flagged rows fails the run (the source is broken, not a few readings)
    row_level = []
    for e in contract.expectations_with("quarantine"):
        count = flagged.get(e.label, 0)
        mostly = e.kwargs.get("mostly")
        row_level.append(
            {
                "check": e.label,
                "expectation": e.expectation,
                "kwargs": _jsonable(e.kwargs),
                "severity": "quarantine",
                "success": mostly is None or evaluated == 0 or (evaluated - count) / evaluated >= float(mostly),
                "unexpected_count": count,
                "unexpected_percent": 100.0 * count / evaluated if evaluated else 0.0,
                "element_count": evaluated,
                "engine": "duckdb",
            }
        )
    return row_level


def _in_sql(contract: Contract, check_engine: str) -> list[Expectation]:
    """The ``fail``/``warn`` expectations evaluated in SQL: Lockgate's own always, GX's unless GX was asked for."""
    return [
        e
        for e in contract.expectations_with("fail", "warn")
        if e.expectation in EXTENSIONS or (check_engine == "duckdb" and sql_supported(e))
    ]


#: what :func:`_sql_checks` found: the SQL-evaluated results by check label, and the primary-key check
SqlChecks = tuple[dict[str, dict[str, Any]], dict[str, Any] | None]


def _sql_checks(
    con: Any, contract: Contract, ds: str, check_engine: str, history: Sequence[int], unique: Sequence[str]
) -> SqlChecks:
    """The SQL-evaluated expectations on ``passed`` (results by label) and the primary-key check.

    ``unique``: columns known to have no repeated value among the passing rows (a uniqueness check
    over them, or over more columns, cannot fail and is not grouped again).
    """
    known = [unique] if unique else []
    context = CheckContext(ds=ds, history=tuple(history))
    in_sql = _in_sql(contract, check_engine)
    results = evaluate_in_sql(con, "passed", in_sql, columns=contract.column_names, context=context, unique=known)
    return {r["check"]: r for r in results}, primary_key_check(con, contract, unique=known)


def _table_checks(
    con: Any,
    contract: Contract,
    report: dict[str, Any],
    row_level: list[dict[str, Any]],
    ds: str,
    check_engine: str,
    history: Sequence[int],
    outputs: tuple[Path, Path],
    unique: Sequence[str],
    checked: SqlChecks | None = None,
) -> GateOutcome:
    """The ``fail``/``warn`` expectations and the key check on ``passed``; the outcome, or QualityGateFailed.

    ``unique``: see :func:`_sql_checks`. ``checked``: what :func:`_sql_checks` found already (None:
    it runs here); the expectations SQL does not evaluate go to GX here.
    """
    staged_path, quarantine_path = outputs
    names = contract.column_names
    table_checks = contract.expectations_with("fail", "warn")
    in_sql = _in_sql(contract, check_engine)
    in_gx = [e for e in table_checks if e not in in_sql]
    if checked is None:
        checked = _sql_checks(con, contract, ds, check_engine, history, unique)
    by_label, key_check = dict(checked[0]), checked[1]
    if in_gx:
        # GX needs the rows in memory: only for expectations the SQL engine does not translate
        key_first = [*contract.primary_key, *(n for n in names if n not in contract.primary_key)]
        cols = ", ".join(ident(n) for n in names)
        frame = con.sql(f"SELECT {cols} FROM passed ORDER BY {', '.join(ident(c) for c in key_first)}").df()
        by_label.update({r["check"]: r for r in run_gx(contract, frame, in_gx)})
    gx_results = [_jsonable(by_label[e.label]) for e in table_checks]
    builtin = [key_check] if key_check else []
    failed = [
        c for c in builtin + row_level + gx_results if not c["success"] and c["severity"] in ("fail", "quarantine")
    ]
    for check in failed:
        located = _duplicate_locations(con, check)
        if located:
            check["locations"] = located
    warnings = [c for c in gx_results if not c["success"] and c["severity"] == "warn"]
    report.update(
        {
            "checks": builtin + row_level + gx_results,
            "failed": [c["check"] for c in failed],
            "warnings": [c["check"] for c in warnings],
            "success": not failed,
        }
    )
    outcome = GateOutcome(report, staged_path, quarantine_path, failed, warnings)
    if failed:
        raise QualityGateFailed(format_failures(contract.dataset, ds, failed, report), report, failed)
    return outcome
