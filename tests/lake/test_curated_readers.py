"""The warehouse load reads a curated date through the Iceberg table: when another engine deleted
rows of the date merge-on-read (a delete file, the data files untouched), the load, its
reconciliation and its audit see the table's rows, never the deleted ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.hooks.iceberg import CatalogHook
from lockgate.hooks.warehouse import WarehouseHook
from lockgate.sample_data import generate
from tests.lake.deletes import add_position_deletes
from tests.support.pipeline import READINGS_TO_CURATED, context, operator, run_chain

pytestmark = pytest.mark.integration

DS = "2026-01-02"
KEY = ("station_id", "observed_at", "pollutant")


def test_the_load_honours_another_engines_position_deletes(lockgate_home: Path, tmp_path: Path) -> None:
    generate(DS, lockgate_home / "sources")
    run_chain(str(lockgate_home / "sources"), DS, "manual__first", tasks=READINGS_TO_CURATED)
    catalog = CatalogHook()
    published = catalog.read_date("readings", DS).read_all()
    first_file = catalog.date_files("readings", DS)[0]
    add_position_deletes(catalog, "readings", first_file, [0, 1, 2, 3, 4], tmp_path)
    current = catalog.read_date("readings", DS).read_all()
    assert current.num_rows == published.num_rows - 5

    result = operator("load_fact_air_quality_hourly").execute(context(DS, "manual__after_deletes"))

    assert result["rows_loaded"] == current.num_rows
    assert result["checksum"] == catalog.local_date("readings", DS, tmp_path / "w").checksum
    warehouse = WarehouseHook()
    loaded = warehouse.query(f"SELECT {', '.join(KEY)} FROM {warehouse.table('fact_air_quality_hourly')}")
    expected = set(zip(*(current[k].to_pylist() for k in KEY), strict=True))
    assert {tuple(row) for row in loaded} == expected
    assert len(loaded) == len(expected)
