"""The flagship's daily AQI as a SQL model on a 2011 date: the 1999 PM2.5 table is the one used.

The readings of 2011-01-03 (the deterministic sample) go through the flagship's own tasks up to
the curated zone, then ``compute_daily_aqi`` (the SQL model) and its gate and partition. Each
station's AQI and dominant pollutant must equal the Python reference
(:func:`lockgate.transforms.aqi.sub_index` with the revision in force on the date), and the PM2.5
sub-index must differ from what the 2024 table would give wherever the tables disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.hooks.iceberg import CatalogHook
from lockgate.sample_data import generate
from lockgate.transforms.aqi import category, dominant, sub_index
from tests.support.pipeline import READINGS_TO_CURATED, run_chain

DS = "2011-01-03"
RUN = "manual__2011-01-03T00:00:00+00:00"
COLUMNS = {
    "pm25_24h": "pm25",
    "pm10_24h": "pm10",
    "o3_8h_max": "o3_8h",
    "o3_1h_max": "o3_1h",
    "co_8h_max": "co",
    "so2_1h_max": "so2",
    "no2_1h_max": "no2",
}


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    home = tmp_path_factory.mktemp("lockgate_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOCKGATE_HOME", str(home))
        for name in ("AIRFLOW_CONN_LOCKGATE_LAKE", "AIRFLOW_CONN_LOCKGATE_WAREHOUSE", "AIRFLOW_CONN_LOCKGATE_ALERTS"):
            mp.delenv(name, raising=False)
        generate(DS, Path(home) / "sources")
        tasks = (*READINGS_TO_CURATED, "compute_daily_aqi", "gate_daily_aqi", "partition_daily_aqi")
        run = run_chain(str(Path(home) / "sources"), DS, RUN, tasks=tasks)
        assert run.results["compute_daily_aqi"]["rows"] > 0
        yield CatalogHook().read_date("agg_air_quality_daily", DS).read_all().to_pylist()


def test_a_2011_date_uses_the_1999_table(daily: list[dict[str, Any]]) -> None:
    assert {row["breakpoint_revision"] for row in daily} == {"1999"}
    for row in daily:
        subs = {COLUMNS[c]: sub_index(COLUMNS[c], row[c], on=DS) for c in COLUMNS}
        best = dominant(subs)
        assert best is not None
        assert row["aqi"] == best[0], row
        assert row["dominant_pollutant"] == best[1].removesuffix("_8h").removesuffix("_1h"), row
        assert row["category"] == category(best[0])
    # the 1999 table, not the 2024 one: they disagree on most PM2.5 values of the day
    differ = [
        r for r in daily if sub_index("pm25", r["pm25_24h"], revision="2024") != sub_index("pm25", r["pm25_24h"], on=DS)
    ]
    assert len(differ) > len(daily) // 2
