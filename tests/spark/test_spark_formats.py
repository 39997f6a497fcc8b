"""Declared date/timestamp formats on Spark give DuckDB's answers (issue 20).

The typing of a column with ``format:`` (``lockgate.coerce``) checks each value against an RE2
pattern, then reads it with DuckDB's ``try_strptime``; on Spark the same SQL runs through
``lockgate.spark_engine.dialect.to_spark``, which rebuilds ``try_strptime`` from a Java regex and
integer arithmetic. Here every supported directive is typed by both engines over seeded generated
values (valid ones, day/month/hour/minute/second edges, leap days, 1- and 3-digit widths, name
case, white space, signs, offsets, fraction widths, mutations): each row must give the same typed
value and the same problems with the same reasons. One Spark query per format.
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lockgate.coerce import typed_column_layers
from lockgate.contracts import Column
from lockgate.spark_engine.gate import SparkSQL, engine_settings
from lockgate.sql import ident, literal

#: (column type, format, column zone): every directive the typing accepts, alone and together
FORMATS = [
    ("date", "%Y-%m-%d", None),
    ("date", "%d/%m/%Y", None),
    ("date", "%d.%m.%y", None),
    ("date", "%Y%m%d", None),
    ("date", "%d %b %Y", None),
    ("date", "%B %d, %Y", None),
    ("date", "100%% %m-%d-%Y", None),
    ("timestamp", "%Y-%m-%d %H:%M:%S", "America/Chicago"),
    ("timestamp", "%d/%m/%Y %H:%M", None),
    ("timestamp", "%Y-%m-%dT%H:%M:%S.%f", "Asia/Kolkata"),
    ("timestamp", "%Y-%m-%d %H:%M:%S%z", None),
    ("timestamp", "%Y-%m-%d %H:%M:%S.%f %z", None),
    ("timestamp", "%m/%d/%y %I:%M %p", "America/New_York"),
    ("timestamp", "%d %B %Y %I:%M:%S%p%z", None),
    ("timestamp", "%Y%m%d%H%M%S", None),
]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
#: numbers each numeric directive is given: in range, at and past its edges, other widths
EDGES = {
    "Y": ["2024", "2023", "2000", "1900", "0000", "0001", "9999", "1", "11", "202", "20245", "+202", "-202"],
    "y": ["00", "68", "69", "99", "7", "123", "-1"],
    "m": ["01", "1", "12", "13", "00", "0", "2", "02", "4", "123", "+1", " 1"],
    "d": ["01", "1", "28", "29", "30", "31", "32", "00", "0", "123", "-1", " 9"],
    "H": ["00", "0", "9", "23", "24", "29", "123"],
    "I": ["12", "1", "01", "00", "0", "13", "11"],
    "M": ["00", "0", "5", "59", "60", "99"],
    "S": ["00", "0", "59", "60", "61"],
    "f": ["0", "5", "05", "123", "123456", "000001", "1234567", ""],
    "b": ["Jan", "jan", "JAN", "fEb", "Sep", "Sept", "May", "Mai", "Zzz", "Dec"],
    "B": ["January", "january", "FEBRUARY", "May", "Sept", "September", "Septembre", "Jun", "zzz"],
    "p": ["AM", "am", "Pm", "pM", "a", "PMX"],
    "z": ["Z", "z", "+00:00", "+05:30", "+0530", "-05", "-23:59", "+24:00", "+05:60", "+5", "+05:3", "UTC", ""],
}


def _valid(directive: str, rng: random.Random) -> str:
    """A random value a directive reads."""
    month = rng.randrange(12)
    numbers = {
        "Y": f"{rng.choice([rng.randrange(1, 10000), rng.randrange(1900, 2100)]):04d}",
        "y": f"{rng.randrange(100):02d}",
        "m": f"{month + 1:02d}" if rng.random() < 0.7 else str(month + 1),
        "d": f"{rng.randrange(1, 32):02d}" if rng.random() < 0.7 else str(rng.randrange(1, 32)),
        "H": f"{rng.randrange(24):02d}",
        "I": f"{rng.randrange(1, 13):02d}",
        "M": f"{rng.randrange(60):02d}",
        "S": f"{rng.randrange(60):02d}",
        "f": str(rng.randrange(10**6)).zfill(rng.randrange(1, 7))[-6:],
        "b": MONTHS[month][:3],
        "B": MONTHS[month],
        "p": rng.choice(["AM", "PM", "am", "pm"]),
        "z": rng.choice(["Z", f"{rng.choice('+-')}{rng.randrange(24):02d}:{rng.randrange(60):02d}", "+0100", "-03"]),
    }
    return numbers[directive]


def _parts(fmt: str) -> list[tuple[bool, str]]:
    from lockgate.coerce import format_parts

    return format_parts(fmt)


def _render(fmt: str, values: dict[str, str]) -> str:
    return "".join(values[text] if d and text != "%" else ("%" if d else text) for d, text in _parts(fmt))


def generated(fmt: str, seed: int, count: int = 160) -> list[str | None]:
    """Values for ``fmt``: valid ones, each directive at its edges, leap days, mutations."""
    rng = random.Random(seed)
    directives = [text for d, text in _parts(fmt) if d and text != "%"]
    out: list[str | None] = [None, "", "   ", "x"]
    for _ in range(count):
        values = {d: _valid(d, rng) for d in directives}
        out.append(_render(fmt, values))
        edge = rng.choice(directives)
        out.append(_render(fmt, {**values, edge: rng.choice(EDGES[edge])}))
    for year in ("2024", "2023", "2000", "1900", "2100", "0000", "0004"):
        for month, day in (("02", "29"), ("02", "28"), ("02", "30"), ("04", "31"), ("04", "30"), ("12", "31")):
            values = {d: _valid(d, rng) for d in directives}
            values |= {"Y": year, "y": year[2:], "m": month, "d": day, "b": MONTHS[int(month) - 1][:3]}
            values["B"] = MONTHS[int(month) - 1]
            out.append(_render(fmt, values))
    for value in list(out[4:60]):
        out.extend(_mutations(value or "", rng))
    return out


def _mutations(value: str, rng: random.Random) -> list[str]:
    at = rng.randrange(len(value) + 1)
    return [
        f" {value} ",
        f"\t{value}",
        value.replace(" ", "  ", 1),
        value.replace(" ", "\t", 1),
        value.replace(" ", rng.choice(["\x0b", "\x0c", "\r", "\n", "\xa0", "\u2003"]), 1),
        f"\r{value}\n",
        value[:at] + rng.choice(" +-0Z:a") + value[at:],
        value[:at] + value[at + 1 :],
        value.upper(),
        value.lower(),
    ]


def _select(column: Column, k: int) -> str:
    """The typing of ``column`` over the values ``k`` of the table ``formats_in``, as the gate builds it."""
    layers, typed, problems = typed_column_layers(column)
    source = f"SELECT i, v AS {ident(column.name)}, _tz FROM formats_in WHERE k = {k}"
    ctes = f"f{k}v0 AS ({source})"  # named apart: Spark takes the WITHs of a UNION to the top
    for n, layer in enumerate(layers, 1):
        helpers = ", ".join(f"{sql} AS {ident(alias)}" for alias, sql in layer.items())
        ctes += f", f{k}v{n} AS (SELECT *, {helpers} FROM f{k}v{n - 1})"
    # each problem's check and reason (a struct with NULL rows does not come through Arrow from Spark)
    checks = ", ".join(
        f"struct_extract(({p}), {literal(field)}) AS p{k}_{field}"
        for k, p in enumerate(problems)
        for field in ("check", "reason")
    )
    return f"WITH {ctes} SELECT i, {typed} AS typed, {checks} FROM f{k}v{len(layers)}"


def registered(spark: Any, rows: list[list[str | None]]) -> Any:
    """A DuckDB connection (in UTC) and the Spark session, each with the table ``formats_in``:
    ``rows[k][i]`` as the row (k, i, v, _tz)."""
    import pyarrow as pa

    data = [(k, i, v, "Europe/Berlin") for k, values in enumerate(rows) for i, v in enumerate(values)]
    schema = pa.schema([("k", pa.int64()), ("i", pa.int64()), ("v", pa.string()), ("_tz", pa.string())])
    table = pa.Table.from_pylist([dict(zip(schema.names, row, strict=True)) for row in data], schema)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.register("formats_in", table)
    spark.createDataFrame(table.to_pandas()).createOrReplaceTempView("formats_in")
    return con


def on_both(spark: Any, rows: list[list[str | None]], selects: list[str]) -> tuple[list[Any], list[Any]]:
    """The rows of ``selects`` (DuckDB SQL over ``formats_in``), tagged by their place, from DuckDB
    and from Spark: one query each."""
    con = registered(spark, rows)
    sql = " UNION ALL ".join(f"SELECT {k} AS k, * FROM ({s}) AS s{k}" for k, s in enumerate(selects))
    sql = f"SELECT * FROM ({sql}) AS u ORDER BY k, i"
    duck = con.execute(sql).fetchall()
    with engine_settings(spark):
        on_spark = SparkSQL(spark).execute(sql).fetchall()
    return duck, on_spark


@pytest.mark.parametrize("ctype", ["date", "timestamp"])
def test_every_declared_format_types_every_value_as_duckdb_does(spark: Any, ctype: str) -> None:
    """The typing of a column with ``format:`` (value and problems with their reasons), row by row."""
    formats = [(f, zone) for t, f, zone in FORMATS if t == ctype]
    rows = [generated(f, seed=zlib.crc32(f.encode())) for f, _ in formats]
    selects = [
        _select(Column("at", ctype, nullable=False, formats=(f,), timezone=zone), k)
        for k, (f, zone) in enumerate(formats)
    ]
    duck, on_spark = on_both(spark, rows, selects)
    assert len(duck) == sum(map(len, rows))
    for k, (f, _) in enumerate(formats):
        typed = [r[2] for r in duck if r[0] == k]
        assert len(typed) // 5 < sum(v is not None for v in typed) < len(typed) * 4 // 5, f"{f}: read and refused"
    for d, s in zip(duck, on_spark, strict=True):
        assert s == d, (formats[d[0]][0], rows[d[0]][d[1]])


def test_try_strptime_alone_reads_what_duckdb_reads(spark: Any) -> None:
    """The translated function itself, unguarded: every generated value, whether the typing's
    pattern takes it or not, gives DuckDB's instant (microseconds since 1970 UTC) or NULL."""
    from lockgate.spark_engine.dialect import to_spark

    formats = sorted({f for _, f, _ in FORMATS})
    rows = []
    for fmt in formats:
        values = generated(fmt, seed=zlib.crc32(fmt.encode()) + 1)
        rows.append(values + [v.replace("Z", "+00:00") for v in values if v and "Z" in v])  # as the typing gives %z
    con = registered(spark, rows)
    reads = " UNION ALL ".join(
        f"SELECT k, i, try_strptime(v, {literal(f)}) AS t FROM formats_in WHERE k = {k}" for k, f in enumerate(formats)
    )
    duck = con.execute(f"SELECT k, i, epoch_us(t) FROM ({reads}) ORDER BY k, i").fetchall()
    with engine_settings(spark):
        on_spark = spark.sql(f"SELECT k, i, unix_micros(t) FROM ({to_spark(reads)}) ORDER BY k, i").collect()
    assert sum(r[2] is not None for r in duck) > len(duck) // 5
    for d, s in zip(duck, on_spark, strict=True):
        assert tuple(s) == d, (formats[d[0]], rows[d[0]][d[1]])


CONTRACT = """\
dataset: formats_parity
version: 1
description: two declared formats, one of them with two choices
owner: tests
columns:
  id: {type: string, nullable: false}
  day: {type: date, format: ["%d/%m/%Y", "%Y%m%d"], nullable: false}
  at: {type: timestamp, format: "%d %b %Y %I:%M:%S %p", timezone: America/Chicago}
  value: {type: double}
primary_key: [id]
"""
GATE_CSV = """\
id,day,at,value
a,02/01/2026,02 Jan 2026 03:04:05 PM,1.5
b,20260102,02 jan 2026 12:00:00 am,2
c,29/02/2024,08 Mar 2026 02:30:00 AM,3
d,29/02/2023,01 Nov 2026 01:30:00 AM,4
e,31/04/2026,02 Jan 2026 13:00:00 PM,5
f,2026-01-02,02 Sept 2026 01:00:00 PM,6
g, 1/1/2026 ,  2 JAN 2026  1:2:3 pm ,7
h,00000101,31 Dec 9999 11:59:59 PM,8
i,,02 Jan 2026 03:04:05,9
j,01/13/2026,,10
"""


def gated_with(run: Any, contract: Any, files: list[Any], work: Path, **extra: Any) -> dict[str, Any]:
    """One engine's outputs (as tests/spark/test_spark_gate_parity.py compares them) for ``contract``."""
    import pyarrow.parquet as pq

    from lockgate.gate import QualityGateFailed

    try:
        report = run(contract, files, ds="2026-01-02", workdir=work, **extra).report
    except QualityGateFailed as failed:
        report = failed.report
    return {
        "report": report,
        "staged": pq.read_table(work / "staged.parquet"),
        "quarantine": pq.read_table(work / "quarantine.parquet"),
    }


def test_the_gate_with_declared_formats_answers_as_duckdb(spark: Any, tmp_path: Path) -> None:
    """A contract with two declared formats (one with two choices): staged rows, quarantine rows and
    reasons, and the report are DuckDB's."""
    from lockgate.contracts import load_contract
    from lockgate.gate import run_gate
    from lockgate.spark_engine.gate import run_gate_on_spark
    from tests.spark.test_spark_gate_parity import same_answers
    from tests.unit.test_gate import raw_file

    (tmp_path / "formats_parity.yaml").write_text(CONTRACT)
    contract = load_contract(tmp_path / "formats_parity.yaml")
    path = tmp_path / "in.csv"
    path.write_text(GATE_CSV)
    files = [raw_file(path, "raw/in.csv")]
    duck = gated_with(run_gate, contract, files, tmp_path / "duck")
    on_spark = gated_with(run_gate_on_spark, contract, files, tmp_path / "spark", session=spark)
    assert duck["staged"].num_rows == 2  # a, b (c is in the zone's spring-forward gap, g has a double space)
    assert duck["quarantine"].num_rows == 8
    same_answers(duck, on_spark)


def test_a_format_directive_the_dialect_does_not_translate_is_refused_by_name(tmp_path: Path) -> None:
    """A directive without a translation stops the task before anything is read, naming it."""
    import dataclasses

    from airflow.sdk.exceptions import AirflowFailException

    from lockgate.contracts import load_contract
    from lockgate.spark_engine.gate import run_gate_on_spark

    (tmp_path / "formats_parity.yaml").write_text(CONTRACT)
    contract = load_contract(tmp_path / "formats_parity.yaml")
    # %j (day of the year) is no directive a contract may declare: built here as a future one would be
    columns = [dataclasses.replace(c, formats=("%Y-%j",)) if c.name == "day" else c for c in contract.columns]
    odd = dataclasses.replace(contract, columns=columns)
    refused = r"does not run the declared format '%Y-%j' of column day \(try_strptime directive %j"
    with pytest.raises(AirflowFailException, match=refused):
        run_gate_on_spark(odd, [], ds="2026-01-02", workdir=tmp_path / "w", spark_conn_id="nowhere")
    assert not (tmp_path / "w").exists()
