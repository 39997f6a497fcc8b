"""The quality gate on Spark (``engine: spark``): the DuckDB gate's work, in Spark SQL.

One description of the work, two dialects: the typing, the problems, the row checks, the unit
conversion, the de-duplication window and the table checks are the SQL :mod:`lockgate.gate` and
its modules build for DuckDB, translated by :mod:`lockgate.spark_engine.dialect`; the table checks
run through the gate's own functions (``_table_checks``: GX vocabulary, results, key check,
repeated-key locations) on :class:`SparkSQL`, a connection that speaks DuckDB SQL to Spark.

What runs where (see ``docs/spark.md``):

1. **reading stays in Lockgate's readers** (:class:`lockgate.gate_source.GateSource`): a CSV or
   NDJSON record's row number, what makes it unreadable and its reason are defined by them, and no
   Spark reader numbers rows or rejects records alike (Spark's CSV reader splits a quoted line
   break, numbers nothing, and silently nulls what it cannot parse). They stream every file once
   into one Parquet file of strings (bounded memory), written where Spark reads it;
2. **Spark does the rest**: typing, checks, quarantine, de-duplication, the staged and quarantine
   files (written sorted by file and row, then joined into one file each, batch by batch), the
   table checks as aggregates;
3. the report's quarantine summary and column metrics are computed by DuckDB over the files Spark
   wrote: the metrics' distinct counts are DuckDB's HyperLogLog estimates, which Spark's
   HyperLogLog++ does not reproduce, and the report must be the same whichever engine ran.

Preprocessing steps other than ``convert_units``, ``drop_exact_duplicates`` and ``deduplicate``,
and files sliced by date are refused (:class:`SparkEngineUnavailable`) before anything is read,
rather than answered differently. Declared date/timestamp formats run (DuckDB's ``try_strptime``
rebuilt by the dialect, compared value by value in ``tests/spark/test_spark_formats.py``); a
format with a directive the dialect does not translate would be refused, naming the directive.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from lockgate.spark_engine.connection import SparkTarget, spark_session, spark_target
from lockgate.spark_engine.dialect import Untranslatable, to_spark
from lockgate.sql import literal


def ident(name: str) -> str:
    """A Spark SQL identifier (backquoted)."""
    return "`" + name.replace("`", "``") + "`"


def sql_text(value: str) -> str:
    """A Spark SQL string literal (Spark reads backslash escapes in literals: they are escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: a row's problems when a step has none to give (typed, so the steps' arrays concatenate)
NO_PROBLEMS = "CAST(NULL AS ARRAY<STRUCT<check: STRING, column: STRING, reason: STRING>>)"
#: preprocessing steps the Spark engine runs (others are refused before anything is read)
SUPPORTED_STEPS = ("convert_units", "drop_exact_duplicates", "deduplicate")


class SparkEngineUnavailable(AirflowFailException):
    """``engine: spark`` was asked for work the Spark engine does not run (no retry helps)."""


def run_gate_on_spark(
    contract: Any,
    files: list[Any],
    *,
    ds: str,
    workdir: Path,
    preprocess: dict[str, Any] | None = None,
    check_engine: str = "duckdb",
    history: Sequence[int] = (),
    references: Mapping[str, Any] | None = None,
    spark_conn_id: str | None = None,
    session: Any = None,
    log: Any = None,
) -> Any:
    """:func:`lockgate.gate.run_gate` on Spark: the same arguments, outcome and exceptions.

    ``session``: a SparkSession to use (tests share one); default: one on ``spark_conn_id``.
    """
    from lockgate.transforms.preprocess import check_columns, validate_preprocess

    config = validate_preprocess(preprocess)
    check_columns(config, {c.name: (c.type, c.nullable) for c in contract.columns})
    target = spark_target(spark_conn_id) if session is None else None
    _refuse_unsupported(contract, files, config, target)
    workdir.mkdir(parents=True, exist_ok=True)
    if log is not None and target is not None:
        log.info("gate %s ds=%s on Spark %s", contract.dataset, ds, target.shown)
    spark = session if session is not None else spark_session(target or spark_target(None))
    with engine_settings(spark):
        run = _SparkGate(spark, contract, files, ds=ds, workdir=workdir, config=config)
        return run.gate(check_engine, history)


@contextmanager
def engine_settings(spark: Any) -> Iterator[None]:
    """The session's SQL settings the engine's answers depend on (UTC, ...), restored after."""
    from lockgate.spark_engine.connection import ENGINE_CONF

    before = {key: spark.conf.get(key, None) for key in ENGINE_CONF}
    for key, value in ENGINE_CONF.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _refuse_unsupported(contract: Any, files: Sequence[Any], config: Mapping[str, Any], target: Any) -> None:
    where = f" ({target.shown})" if isinstance(target, SparkTarget) else ""
    steps = sorted(k for k, v in config.items() if v and k not in SUPPORTED_STEPS)
    found = []
    if steps:
        found.append(f"preprocessing step(s) {', '.join(steps)}")
    if any(f.slice_by for f in files):
        found.append("files sliced by date (slice_by)")
    found.extend(_untranslated_formats(contract))
    if found:
        raise SparkEngineUnavailable(
            f"{contract.dataset}: the quality gate on Spark{where} does not run {'; '.join(found)} yet; "
            "run this dataset with engine: duckdb (docs/spark.md)"
        )


def _untranslated_formats(contract: Any) -> list[str]:
    """The declared formats whose ``try_strptime`` the dialect does not translate, by column and
    directive (every directive a contract may declare is translated today: a guard for new ones)."""
    from lockgate.spark_engine.dialect import strptime_regex

    found = []
    for column in contract.columns:
        for fmt in column.formats:
            try:
                strptime_regex(fmt)
            except Untranslatable as exc:
                found.append(f"the declared format {fmt!r} of column {column.name} ({exc})")
    return found


class SparkSQL:
    """DuckDB-SQL statements run on Spark, answered like a DuckDB connection (``execute().fetchall()``).

    Each statement is translated by :func:`lockgate.spark_engine.dialect.to_spark`; results come
    back through Arrow, so instants are timezone-aware UTC datetimes, as DuckDB gives them.
    ``DESCRIBE`` answers with DuckDB's type names (the checks choose their SQL by them).
    """

    _TYPES = {
        "string": "VARCHAR",
        "bigint": "BIGINT",
        "int": "INTEGER",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP WITH TIME ZONE",
        "timestamp_ntz": "TIMESTAMP",
    }

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SparkSQL:
        text = sql.strip()
        if text.upper().startswith("DESCRIBE "):
            frame = self.spark.sql(to_spark(text[len("DESCRIBE ") :], params))
            self._rows = [(f.name, self._TYPES.get(f.dataType.simpleString(), "VARCHAR")) for f in frame.schema]
            return self
        frame = self.spark.sql(to_spark(text, params))
        table = frame.toArrow()
        # by position: result columns may share a name (two count(*)), which a dict per row would merge
        self._rows = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def sql(self, sql: str) -> Any:
        """A relation with ``.df()`` (pandas), for the expectations only GX evaluates."""
        frame = self.spark.sql(to_spark(sql))

        class _Relation:
            def df(self) -> Any:
                return frame.toArrow().to_pandas()

        return _Relation()


class _SparkGate:
    """One gate run on Spark; the steps are methods so each stays short."""

    def __init__(self, spark: Any, contract: Any, files: list[Any], *, ds: str, workdir: Path, config: Any) -> None:
        self.spark, self.contract, self.files, self.ds = spark, contract, files, ds
        self.workdir, self.config = workdir, config
        self.spark_dir = workdir / "spark"
        shutil.rmtree(self.spark_dir, ignore_errors=True)  # a retry starts from nothing
        self.spark_dir.mkdir(parents=True)
        self.drifts: list[dict[str, Any]] = []

    # -- 1. reading ---------------------------------------------------------------------------

    def _source(self) -> Any:
        from lockgate.gate import SchemaDriftError, _drift
        from lockgate.gate_source import GateSource, RejectSink
        from lockgate.progress import Progress
        from lockgate.transforms.preprocess import gate_made_columns

        names = self.contract.column_names
        gate_made = set(gate_made_columns(self.config))

        def drift(raw: Any) -> None:
            found = _drift(raw, list(names), gate_made)
            if found and self.contract.schema_drift["raw"] == "fail":
                raise SchemaDriftError(
                    f"{raw.key}: schema drift (added {found['added']}, missing {found['missing']}"
                    + (f", retyped {found['retyped']}" if found.get("retyped") else "")
                    + ") and the contract's schema_drift.raw policy is 'fail'"
                )
            if found:
                self.drifts.append(found)

        progress = Progress(f"gate {self.contract.dataset}", total=sum(f.rows for f in self.files), unit="rows")
        return GateSource(
            sorted(self.files, key=lambda f: f.key),
            list(names),
            {c.name for c in self.contract.columns if c.nullable},
            drift,
            RejectSink(self.workdir / "rejects.parquet"),
            progress,
        )

    def _strings(self, source: Any) -> Path:
        """Every readable record as strings, with its file and row, in one Parquet file for Spark."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.spark_dir / "strings.parquet"
        reader = source.reader()
        # the zone column is a dictionary for DuckDB; Spark reads plain strings
        schema = pa.schema([f.with_type(pa.string()) if f.name == "_tz" else f for f in reader.schema])
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch.cast(schema) if hasattr(batch, "cast") else _cast(batch, schema))
        return path

    # -- 2. typing and checks -----------------------------------------------------------------

    def _checked_sql(self, raw_names: Sequence[str]) -> str:
        """Spark SQL of table ``checked``: the DuckDB gate's ``checked``, step by step."""
        from lockgate.checks import Params
        from lockgate.gate import _row_problems, _typing_sql

        params = Params()
        layers, typed_exprs, type_problems = _typing_sql(self.contract, self.config, set())
        row_problems = _row_problems(self.contract, params, self.ds)

        def spark(sql: str) -> str:
            return to_spark(sql, params.values)

        carried = [f"{ident(n)} AS {ident(f'__lockgate_raw_{i}')}" for i, n in enumerate(raw_names)]
        steps = [f"filled AS (SELECT *, {', '.join(carried)} FROM _candidates)"]
        for i, layer in enumerate(layers):
            before = "filled" if i == 0 else f"_h{i - 1}"
            steps.append(f"_h{i} AS (SELECT *, {', '.join(spark(e) for e in layer)} FROM {before})")
        typing_input = f"_h{len(layers) - 1}" if layers else "filled"
        raw_refs = [ident(f"__lockgate_raw_{i}") for i in range(len(raw_names))]
        names = list(self.contract.column_names)
        steps.append(
            f"typed AS (SELECT _file, _row, {', '.join(raw_refs)}, {', '.join(spark(e) for e in typed_exprs)}, "
            f"{self._problem_list(type_problems, spark)} AS _p1 FROM {typing_input})"
        )
        steps.append(self._converted(names, raw_refs, spark))
        steps.append(f"checked AS (SELECT *, {self._problem_list(row_problems, spark)} AS _p3 FROM converted)")
        record = ", ".join(f"{sql_text(n)}, {r}" for n, r in zip(raw_names, raw_refs, strict=True))
        problems = (
            "filter(concat(coalesce(_p1, array()), coalesce(_p2, array()), coalesce(_p3, array())), p -> p IS NOT NULL)"
        )
        return f"""
            WITH {", ".join(steps)},
            flagged AS (
                SELECT *, CASE WHEN _p1 IS NULL AND _p2 IS NULL AND _p3 IS NULL THEN NULL
                               ELSE nullif_empty END AS _problems
                FROM (SELECT *, {problems} AS nullif_empty FROM checked)
            )
            SELECT _file, _row, {", ".join(ident(n) for n in names)},
                   CASE WHEN size(_problems) > 0 THEN _problems END AS _problems,
                   CASE WHEN size(_problems) > 0
                        THEN to_json(named_struct({record}), map('ignoreNullFields', 'false')) END AS _record
            FROM flagged
        """

    def _converted(self, names: Sequence[str], raw_refs: Sequence[str], spark: Any) -> str:
        """Step ``converted``: the ``convert_units`` step's value and unit, and its problem (``_p2``)."""
        from lockgate.transforms.preprocess import unit_conversion_sql

        keep = ", ".join(["_file", "_row", *raw_refs])
        units = self.config.get("convert_units")
        if not units:
            same = ", ".join(ident(n) for n in names)
            return f"converted AS (SELECT {keep}, {same}, _p1, {NO_PROBLEMS} AS _p2 FROM typed)"
        value_sql, unit_sql, problem_sql = unit_conversion_sql(units)
        replaced = {units["value"]: spark(value_sql), units["unit"]: spark(unit_sql)}
        columns = [f"{replaced[n]} AS {ident(n)}" if n in replaced else ident(n) for n in names]
        reason = spark(problem_sql)
        problem = f"CASE WHEN ({reason}) IS NOT NULL THEN {self._struct('unit', units['unit'], reason)} END"
        return f"converted AS (SELECT {keep}, {', '.join(columns)}, _p1, array({problem}) AS _p2 FROM typed)"

    @staticmethod
    def _struct(check: str, column: str, reason_sql: str) -> str:
        return f"named_struct('check', {sql_text(check)}, 'column', {sql_text(column)}, 'reason', {reason_sql})"

    @staticmethod
    def _problem_list(problems: Sequence[str], spark: Any) -> str:
        """The step's problems as one array for every row, NULL where a problem does not hold.

        Not the DuckDB gate's ``CASE WHEN <any problem> THEN [<problems>] END``, which writes every
        problem's condition twice: Spark analyses and compiles the whole text on each run (the
        readings contract's statement 104 -> 92 KB), and evaluates each condition for every row
        either way. Step ``flagged`` drops the NULLs and keeps no empty list: the same ``_problems``.
        """
        if not problems:
            return NO_PROBLEMS
        return spark(f"[{', '.join(problems)}]")

    # -- the run ------------------------------------------------------------------------------

    def gate(self, check_engine: str, history: Sequence[int]) -> Any:
        import duckdb

        from lockgate.gate import AccountingError, _check_timezones, _listed

        with duckdb.connect() as con:
            _check_timezones(con, self.files)
        source = self._source()
        strings = self._strings(source)
        if len(source.per_file) != len(self.files):
            raise AccountingError(
                f"{self.contract.dataset}: {len(self.files)} raw files, but {len(source.per_file)} read"
            )
        self.drifts.sort(key=lambda found: _listed(self.files)[found["file"]])
        self.spark.read.parquet(str(strings)).createOrReplaceTempView("_candidates")
        try:
            checked_sql = self._checked_sql(source.columns)
        except Untranslatable as exc:
            raise SparkEngineUnavailable(f"{self.contract.dataset}: the quality gate on Spark: {exc}") from None
        checked_path = self.spark_dir / "checked"
        self.spark.sql(checked_sql).write.mode("overwrite").parquet(str(checked_path))
        self.spark.read.parquet(str(checked_path)).createOrReplaceTempView("checked")
        return _Outputs(self, source).finish(check_engine, history)


class _Outputs:
    """The staged and quarantine files, the report, and the table checks of a gate run on Spark."""

    def __init__(self, run: _SparkGate, source: Any) -> None:
        self.run, self.source = run, source
        self.spark = run.spark
        self.file_name = sql_text(source.files[0].key) if len(source.files) == 1 else self._file_lookup()

    def _file_lookup(self) -> str:
        keys = ", ".join(sql_text(raw.key) for raw in self.source.files)
        return f"element_at(array({keys}), _file)"

    def _staged_columns(self) -> str:
        from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS

        cols = ", ".join(ident(n) for n in self.run.contract.column_names)
        origin = f"{self.file_name} AS {ident(ORIGIN_COLUMNS[0])}, _row AS {ident(ORIGIN_COLUMNS[1])}"
        return f"{cols}, DATE {sql_text(self.run.ds)} AS {ident(DATE_PARTITION)}, {origin}"

    def _passed(self) -> str:
        from lockgate.transforms.preprocess import dedupe_window

        window = dedupe_window(self.run.config, list(self.run.contract.column_names))
        columns = self._staged_columns()
        if window is None:
            return f"SELECT {columns}, _file, _row FROM checked WHERE _problems IS NULL"
        return (
            f"SELECT {columns}, _file, _row FROM (SELECT *, {to_spark(window)} AS _copy FROM checked "
            "WHERE _problems IS NULL) WHERE _copy = 1"
        )

    def _quarantine_sql(self) -> str:
        from lockgate.contracts import DATE_PARTITION

        rows = (
            f"SELECT {self.file_name} AS source_file, _row AS source_row, _problems[0].column AS column_name, "
            f"_problems[0].check AS check_name, "
            "concat('row ', CAST(_row AS STRING), ': ', array_join(transform(_problems, p -> p.reason), '; ')) "
            f"AS reason, _record AS record, DATE {sql_text(self.run.ds)} AS {ident(DATE_PARTITION)} "
            "FROM checked WHERE _problems IS NOT NULL"
        )
        rejects = self.source.rejects.close()
        if rejects is None:
            return rows
        self.spark.read.parquet(str(rejects)).createOrReplaceTempView("rejects")
        return f"{rows} UNION ALL SELECT *, DATE {sql_text(self.run.ds)} FROM rejects"

    def finish(self, check_engine: str, history: Sequence[int]) -> Any:
        from lockgate.gate import AccountingError, _table_checks

        run = self.run
        self.spark.sql(self._passed()).createOrReplaceTempView("_passed_all")
        staged_path = run.workdir / "staged.parquet"
        staged_cols = self._staged_columns_names()
        rows_passed = _write_one_file(
            self.spark.sql(f"SELECT {staged_cols} FROM _passed_all ORDER BY _file, _row"),
            run.spark_dir / "staged",
            staged_path,
            self._staged_schema(),
        )
        self.spark.read.parquet(str(staged_path)).createOrReplaceTempView("passed")
        quarantine_path = run.workdir / "quarantine.parquet"
        rows_quarantined = _write_one_file(
            self.spark.sql(f"SELECT * FROM ({self._quarantine_sql()}) ORDER BY source_file, source_row"),
            run.spark_dir / "quarantine",
            quarantine_path,
            _quarantine_schema(),
        )
        (evaluated, good) = SparkSQL(self.spark).execute(
            "SELECT count(*), count(*) FILTER (WHERE _problems IS NULL) FROM checked"
        ).fetchone() or (0, 0)
        rows_in = sum(f["rows"] for f in self.source.per_file)
        duplicates = good - rows_passed
        if rows_in != rows_passed + rows_quarantined + duplicates or evaluated + self.source.rejects.count != rows_in:
            raise AccountingError(
                f"{run.contract.dataset} ds={run.ds}: rows in {rows_in} != passed {rows_passed} + quarantined "
                f"{rows_quarantined} + duplicates {duplicates}"
            )
        report = self._report(rows_in, rows_passed, rows_quarantined, duplicates, quarantine_path, evaluated)
        row_level = report.pop("_row_level")
        con = SparkSQL(self.spark)
        outputs = (staged_path, quarantine_path)
        return _engine_spark(
            _table_checks(con, run.contract, report, row_level, run.ds, check_engine, history, outputs, [])
        )

    def _staged_columns_names(self) -> str:
        from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS

        return ", ".join(ident(c) for c in [*self.run.contract.column_names, DATE_PARTITION, *ORIGIN_COLUMNS])

    def _staged_schema(self) -> Any:
        import pyarrow as pa

        from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS, arrow_type

        # as the DuckDB gate writes them: a passing row has a value in every non-nullable column
        fields = [pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in self.run.contract.columns]
        fields += [pa.field(DATE_PARTITION, pa.date32(), nullable=False)]
        fields += [pa.field(ORIGIN_COLUMNS[0], pa.string(), nullable=False)]
        fields += [pa.field(ORIGIN_COLUMNS[1], pa.int64(), nullable=False)]
        return pa.schema(fields)

    def _report(
        self, rows_in: int, rows_passed: int, rows_quarantined: int, duplicates: int, quarantine: Path, evaluated: int
    ) -> dict[str, Any]:
        """The report's figures: the quarantine summary and column metrics by the gate's own functions."""
        import os

        import duckdb

        from lockgate.gate import _column_metrics, _file_entries, _quarantine_summary, _row_level_results

        run = self.run
        row_level = _row_level_results(_ProblemCounts(self.spark), run.contract, evaluated)
        for result in row_level:
            result["engine"] = "spark"
        checked = run.spark_dir / "checked"
        with duckdb.connect() as con:
            con.execute("SET TimeZone='UTC'")
            con.execute(f"CREATE VIEW quarantined AS SELECT * FROM read_parquet({literal(str(quarantine))})")
            con.execute(f"CREATE VIEW checked AS SELECT * FROM read_parquet({literal(str(checked / '*.parquet'))})")
            reasons, by_column, examples = _quarantine_summary(con)
            metrics = _column_metrics(con, run.contract)
        return {
            "column_metrics": metrics,
            "dataset": run.contract.dataset,
            "contract": os.path.basename(run.contract.path),
            "ds": run.ds,
            "files": _file_entries(self.source.per_file, run.files, {}),
            "rows_in": rows_in,
            "rows_passed": rows_passed,
            "rows_quarantined": rows_quarantined,
            "duplicates_removed": duplicates,
            "quarantine_by_check": reasons,
            "quarantine_by_column": by_column,
            "quarantine_examples": examples,
            "schema_drift": run.drifts,
            "_row_level": row_level,
        }


class _ProblemCounts:
    """Answers ``_row_level_results``' one query (problems by check over ``checked``) from Spark."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def execute(self, sql: str) -> SparkSQL:
        query = (
            "SELECT p.check, count(*) FROM (SELECT explode(_problems) AS p FROM checked "
            "WHERE _problems IS NOT NULL) GROUP BY 1"
        )
        con = SparkSQL(self.spark)
        con._rows = [tuple(r) for r in self.spark.sql(query).collect()]
        return con


def _engine_spark(outcome: Any) -> Any:
    """Which engine evaluated each check: ``spark`` where the gate said ``duckdb`` (its SQL, run on Spark)."""
    for check in outcome.report["checks"]:
        if check.get("engine") == "duckdb":
            check["engine"] = "spark"
    return outcome


def _quarantine_schema() -> Any:
    import pyarrow as pa

    from lockgate.contracts import DATE_PARTITION

    # as the DuckDB gate writes them: only a whole unreadable record has no column
    return pa.schema(
        [
            pa.field("source_file", pa.string(), nullable=False),
            pa.field("source_row", pa.int64(), nullable=False),
            pa.field("column_name", pa.string()),
            pa.field("check_name", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("record", pa.string(), nullable=False),
            pa.field(DATE_PARTITION, pa.date32(), nullable=False),
        ]
    )


def _cast(batch: Any, schema: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [column.cast(field.type) for column, field in zip(batch.columns, schema, strict=True)], schema=schema
    )


def _write_one_file(frame: Any, folder: Path, path: Path, schema: Any) -> int:
    """Spark writes ``frame`` (sorted) as part files; they are joined, in order, into one Parquet file.

    A sorted write range-partitions the rows, so part ``n`` holds rows before part ``n + 1``: read
    in name order, batch by batch, the parts give the rows in order (never the whole frame in memory).
    """
    import pyarrow.parquet as pq

    frame.write.mode("overwrite").parquet(str(folder))
    parts = sorted(folder.glob("part-*.parquet"))
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches():
                writer.write_batch(_cast(batch.select(schema.names), schema))
                rows += batch.num_rows
    return rows
