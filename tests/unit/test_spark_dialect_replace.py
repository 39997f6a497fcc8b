"""regexp_replace on the Spark engine: DuckDB replaces the first match unless told 'g', Spark every match.

The typing's only ``regexp_replace`` (an offset written ``Z`` read by ``%z``) asks DuckDB for every
match, which is what Spark's function does; the dialect translates that form and refuses the other
rather than answering differently.
"""

from __future__ import annotations

import re

import duckdb
import pytest

from lockgate.coerce import typed_column_layers
from lockgate.contracts import Column
from lockgate.spark_engine.dialect import Untranslatable, to_spark

VALUES = ["2026-01-02 03:04:05Z", "2026-01-02 03:04:05z", "Z2026Z", "no zone", "ZZZ", ""]


def test_the_global_form_is_spark_regexp_replace_with_duckdbs_answers() -> None:
    sql = "SELECT regexp_replace(v, '[Zz]', '+00:00', 'g') FROM t"
    assert to_spark(sql) == "SELECT REGEXP_REPLACE(v, '[Zz]', '+00:00') FROM t"
    # Spark's regexp_replace is Java's replaceAll: for this pattern what Python's re.sub gives
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT v, regexp_replace(v, '[Zz]', '+00:00', 'g') FROM unnest($vs) AS t(v)", {"vs": VALUES}
        ).fetchall()
    assert rows == [(v, re.sub("[Zz]", "+00:00", v)) for v in VALUES]


def test_the_first_match_form_is_refused_naming_it() -> None:
    with pytest.raises(Untranslatable, match=r"without the 'g' option replaces the first match only"):
        to_spark("SELECT regexp_replace(v, '[Zz]', '+00:00') FROM t")


def test_the_typing_of_an_offset_format_translates() -> None:
    column = Column(name="at", type="timestamp", nullable=True, formats=("%Y-%m-%d %H:%M:%S%z",))
    helpers, expr, problems = typed_column_layers(column, required=False)
    sql = " ".join(s for layer in helpers for s in layer.values())
    assert "regexp_replace" in sql
    assert "'g'" in sql
    for part in [*(s for layer in helpers for s in layer.values()), expr, *problems]:
        assert "REGEXP_REPLACE" not in part.upper() or "'g'" in part
        to_spark(f"SELECT {part} AS x FROM t")  # raises Untranslatable on the first-match form
