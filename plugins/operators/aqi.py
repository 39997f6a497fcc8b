"""Daily Air Quality Index per station: the flagship's SQL model over the curated hourly readings."""

from __future__ import annotations

from typing import Any

from lockgate.operators.model import ModelOperator

#: the model's SQL, below include/ (DuckDB; the AQI functions of lockgate.transforms.aqi_sql)
DAILY_AQI_SQL = "sql/models/agg_air_quality_daily.sql"


class DailyAqiOperator(ModelOperator):
    """The daily AQI per station as a SQL model (``include/sql/models/agg_air_quality_daily.sql``).

    A thin :class:`~lockgate.operators.model.ModelOperator`: reads the curated hourly ``readings``
    of the logical date, aggregates them by the EPA averaging periods and indexes every pollutant
    with the breakpoints in force on the date (or ``revision`` when given), and lands the result
    in the raw zone for the usual gate, partition and load. Its column lineage is derived from the
    SQL.

    :param dataset: the output dataset (``agg_air_quality_daily``).
    :param revision: an EPA breakpoint revision ("1999", "2012" or "2024") overriding the one in
        force on the date. Templated.
    """

    def __init__(self, *, revision: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("sql", DAILY_AQI_SQL)  # read when the task runs, not at parse time
        super().__init__(aqi_revision=revision, reads=["readings"], **kwargs)

    @property
    def revision(self) -> str | None:
        return self.aqi_revision
