"""``models:`` in pipeline specs: what DAG build time (CI) refuses, with file, line and field, and
that a broken model never hides the other pipelines; the SQL analysis on its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lockgate.contracts import load_contract
from lockgate.models import ModelSqlError, analyse, schema_of
from lockgate.pipelines.factory import BROKEN_TAG, build_dags
from lockgate.pipelines.spec import PipelineSpecError, load_spec

REPO = Path(__file__).resolve().parents[2]
EPA = REPO / "dags" / "pipelines" / "epa_pm25_aqi.yaml"


def broken_copy(folder: Path, name: str, old: str, new: str) -> Path:
    """The EPA pipeline under another DAG id, with one edit."""
    text = EPA.read_text(encoding="utf-8")
    assert old in text
    path = folder / f"{name}.yaml"
    path.write_text(text.replace(old, new, 1).replace("dag_id: epa_pm25_aqi", f"dag_id: {name}"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, after: str = "") -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and needle in line) + 1


CASES = {
    # (old text, new text, field, the message, the line's text)
    "unknown_column": (
        "max(daily_mean_pm25) AS daily_mean_pm25,",
        "max(daily_mean_pm2) AS daily_mean_pm25,",
        "models.0.sql",
        r"Column 'daily_mean_pm2' could not be resolved",
        "sql: |",
    ),
    "unknown_dataset": (
        "FROM epa_pm25_daily\n",
        "FROM epa_pm25_hourly\n",
        "models.0.sql",
        r"reads 'epa_pm25_hourly': neither a dataset of this pipeline nor a published dataset",
        "sql: |",
    ),
    "does_not_parse": (
        "GROUP BY s.state, s.county",
        "GROUP BY s.state, s.county HAVING (",
        "models.1.sql",
        r"the SQL does not parse as DuckDB \(line \d+, column \d+\)",
        "sql: |",
    ),
    "missing_column": (
        "             aqi_revision_on(date) AS breakpoint_revision\n",
        "             aqi_revision_on(date) AS revision\n",
        "models.0.sql",
        r"gives no column\(s\) breakpoint_revision .*; the SQL gives column\(s\) revision",
        "sql: |",
    ),
    "not_loaded": (
        "  - dataset: epa_county_daily_aqi\n    table: agg_epa_county_daily_aqi\n",
        "",
        "models.1.name",
        r"model 'epa_county_daily_aqi' goes nowhere: add a load for it",
        "- name: epa_county_daily_aqi",
    ),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, list[PipelineSpecError]]:
    """A folder with the good EPA pipeline and one broken copy per case, built as Airflow would."""
    folder = tmp_path_factory.mktemp("pipelines")
    (folder / "epa_pm25_aqi.yaml").write_text(EPA.read_text(encoding="utf-8"), encoding="utf-8")
    for name, (old, new, *_rest) in CASES.items():
        # same datasets and tables as the good file: a broken file never builds, so it takes nothing
        broken_copy(folder, f"broken_{name}", old, new)
    dags, errors = build_dags(folder)
    return folder, dags, errors


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_model_fails_dag_build_with_file_line_and_field(
    built: tuple[Path, list, list[PipelineSpecError]], case: str
) -> None:
    folder, dags, errors = built
    _, _, field, message, line_text = CASES[case]
    path = folder / f"broken_{case}.yaml"
    (error,) = [e for e in errors if Path(e.path) == path]
    assert error.fields == [field], error.lines()
    (_, what, line) = error.problems[0]
    assert re.search(message, what), what
    index = int(field.split(".")[1])
    anchor = "- name: epa_site_daily_aqi" if index == 0 else "- name: epa_county_daily_aqi"
    assert line == line_of(path, line_text, after=anchor)
    assert re.match(rf".*broken_{case}\.yaml:{line}: {re.escape(field)}: ", error.lines()[0])
    # the broken file stands in as a paused broken-spec DAG carrying the message
    stand_in = next(d for d in dags if d.dag_id == f"broken_{case}")
    assert BROKEN_TAG in stand_in.tags


def test_a_broken_model_never_hides_the_other_pipelines(built: tuple[Path, list, list[PipelineSpecError]]) -> None:
    _, dags, errors = built
    assert len(errors) == len(CASES)
    good = next(d for d in dags if d.dag_id == "epa_pm25_aqi")
    assert BROKEN_TAG not in good.tags
    assert {"model_epa_site_daily_aqi", "model_epa_county_daily_aqi"} <= set(good.task_ids)
    # dependencies come from the datasets the SQL reads
    assert good.get_task("model_epa_site_daily_aqi").upstream_task_ids == {"partition_epa_pm25_daily"}
    assert good.get_task("model_epa_county_daily_aqi").upstream_task_ids == {
        "partition_epa_site_daily_aqi",
        "partition_epa_sites",
    }
    assert good.get_task("gate_epa_county_daily_aqi").upstream_task_ids == {"model_epa_county_daily_aqi"}


def test_a_model_reading_a_published_dataset_of_another_pipeline(tmp_path: Path) -> None:
    """``readings`` is the flagship's: a contract, not a dataset of this pipeline; no task wires to it."""
    sql = (
        "      SELECT site_id, date, max(daily_mean_pm25) AS daily_mean_pm25,\n"
        "             (SELECT count(*) FROM readings)::INTEGER AS aqi, 'Good' AS category,\n"
        "             aqi_revision_on(date) AS breakpoint_revision\n"
        "      FROM epa_pm25_daily GROUP BY site_id, date\n"
    )
    text = EPA.read_text(encoding="utf-8")
    start = text.index("      SELECT site_id,")
    end = text.index("      GROUP BY site_id, date\n") + len("      GROUP BY site_id, date\n")
    path = tmp_path / "other.yaml"
    path.write_text(text[:start] + sql + text[end:], encoding="utf-8")
    spec = load_spec(path)
    assert spec.models[0].reads == {"epa_pm25_daily": "epa_pm25_daily", "readings": "readings"}


def test_analyse_alone() -> None:
    schemas = {"readings": schema_of(load_contract("readings").storage_columns)}
    got = analyse(
        "WITH d AS (SELECT station_id, avg(value) AS v FROM readings GROUP BY 1) SELECT station_id, v AS mean FROM d",
        schemas=schemas,
        contract_columns=["station_id", "mean"],
    )
    assert got.reads == ("readings",)
    assert got.lineage == {"station_id": (("readings", "station_id"),), "mean": (("readings", "value"),)}
    with pytest.raises(ModelSqlError, match="exactly one SELECT"):
        analyse("SELECT 1 AS a; SELECT 2 AS a", schemas=schemas, contract_columns=["a"])
    with pytest.raises(ModelSqlError, match="table functions"):
        analyse("SELECT * FROM read_csv('x.csv')", schemas=schemas, contract_columns=["a"])


def test_a_model_whose_sql_went_wrong_fails_its_task_without_retrying() -> None:
    """A Python DAG's model is checked when it runs: an unknown column fails at once, naming it."""
    from airflow.sdk.exceptions import AirflowFailException

    from lockgate.operators.model import ModelOperator

    op = ModelOperator(task_id="m", dataset="agg_air_quality_daily", sql="SELECT station_idd FROM readings")
    with pytest.raises(AirflowFailException, match="model agg_air_quality_daily: Column 'station_idd' could not be"):
        op.execute({"ds": "2026-01-02", "run_id": "r"})
