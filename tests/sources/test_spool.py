"""The bounded-memory spool writers and identifier quoting the sources share (no servers needed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from lockgate.sources.base import ParquetSpool
from lockgate.sources.sql import qualified_table, quote_identifier
from lockgate.sources.watermark import decode, encode


def test_parquet_spool_writes_one_row_group_per_batch_and_keeps_the_first_schema(tmp_path: Path) -> None:
    spool = ParquetSpool(tmp_path / "x.parquet", description="sql:db/t")
    spool.write_rows(["id", "note"], [(1, None), (2, None)])
    spool.write_rows(["id", "note"], [(3, "late text"), (4, 5)])  # note was all NULL: kept as text
    spool.close()
    parquet = pq.ParquetFile(tmp_path / "x.parquet")
    assert (parquet.num_row_groups, spool.rows) == (2, 4)
    assert parquet.read().to_pydict() == {"id": [1, 2, 3, 4], "note": [None, None, "late text", "5"]}


def test_parquet_spool_names_the_column_a_value_does_not_fit(tmp_path: Path) -> None:
    spool = ParquetSpool(tmp_path / "x.parquet", description="sql:db/t")
    spool.write_rows(["id", "amount"], [(1, 1.5)])
    with pytest.raises(ValueError, match=r"sql:db/t: column 'amount': a value does not fit the column's type double"):
        spool.write_rows(["id", "amount"], [(2, "n/a")])
    spool.close()


def test_identifiers_are_quoted_for_the_hook_dialect() -> None:
    ansi = SimpleNamespace(escape_word_format='"{}"')
    mysql = SimpleNamespace(escape_word_format="`{}`")
    assert qualified_table(ansi, 'public.or"ders') == '"public"."or""ders"'
    assert quote_identifier(mysql, "up`dated") == "`up``dated`"
    assert quote_identifier(object(), "x") == '"x"'  # a hook without a dialect: ANSI quotes


@pytest.mark.parametrize("value", [7, 2.5, "2026-01-02T10:00:00+00:00"])
def test_watermark_values_round_trip(value: object) -> None:
    from datetime import date, datetime
    from decimal import Decimal

    for v in (value, Decimal("12.50"), date(2026, 1, 2), datetime.fromisoformat("2026-01-02T10:00:00+01:00")):
        assert decode(*encode(v)) == v
    with pytest.raises(TypeError, match="boolean"):
        encode(True)
