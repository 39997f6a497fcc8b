"""The gate's one pass over its typed rows: the passing ones to the staged file as they come.

The statement that types and checks the rows (``lockgate.gate._checked_sql``) streams its result
as Arrow batches, and :class:`TypedSplit` splits each batch:

* rows of another date (from a file sliced by a column, ``_outside``) are counted per file and
  left out: they are another date's input, not this one's;
* rows with a problem (``_problems``: a flag, with the row's raw values in ``_raw``) go to a
  Parquet file in the task's work folder; typed again from it, with their problems and records,
  they become table ``checked`` (``lockgate.gate._typed_again``): the quarantine, its summary and
  the row-level results come from it;
* the passing rows flow on into a DuckDB of one thread that writes the staged file while they
  come (:func:`lockgate.gate._copy_in_order` explains the one thread: a rerun writes the same bytes).

So no table holds the day. The rows are typed once, only failing rows are stored apart, and the
checks read the staged file afterwards, as a hand-written gate does. Before this module, every
row went into a table in the scratch database and was read back for the staged file. At 10M
readings the insert cost ~4.5 s of CPU and the copy ~3 s (bench/NOTES.md, "Where the gate's time
goes").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.gate_source import FILE_COLUMN

#: whether a typed row has a problem (NULL: the row passes)
PROBLEMS_COLUMN = "_problems"
#: true for a row of a sliced file that falls on another date
OUTSIDE_COLUMN = "_outside"


@dataclass
class TypedSplit:
    """Splits the typed rows' batches (see the module doc); counts what it saw.

    :param problems_path: the Parquet file of the rows with a problem (written even when empty).
    :param kept: the columns of a row with a problem that the file keeps (what reading it back needs).
    """

    problems_path: Path
    kept: Sequence[str]
    #: rows typed for this date (rows of other dates are not), and of them the passing ones
    evaluated: int = 0
    passed: int = 0
    #: rows of another date per file number (:data:`lockgate.gate_source.FILE_COLUMN`)
    outside: dict[int, int] = field(default_factory=dict)
    #: the exception that stopped the split, kept with its type (DuckDB only sees its text)
    error: BaseException | None = None
    _writer: Any = None

    def passing(self, batches: Iterable[Any], columns: Sequence[str]) -> Iterator[Any]:
        """The passing rows of ``batches``, only ``columns`` of them, in order."""
        try:
            for batch in batches:
                rows = self._split(batch)
                if rows.num_rows:
                    yield rows.select(list(columns))
        except BaseException as exc:
            self.error = exc
            raise

    def close(self, schema: Any) -> None:
        """Finish the problems file (an empty one of ``schema`` when no row had a problem)."""
        import pyarrow.parquet as pq

        if self._writer is None:
            pq.write_table(schema.empty_table().select(list(self.kept)), self.problems_path)
        else:
            self._writer.close()
            self._writer = None

    def _split(self, batch: Any) -> Any:
        import pyarrow.compute as pc

        problems, outside = batch.column(PROBLEMS_COLUMN), batch.column(OUTSIDE_COLUMN)
        other_dates = outside.true_count
        # a row of another date never has a problem (it is not this date's to judge)
        failing = len(problems) - problems.null_count
        self.evaluated += batch.num_rows - other_dates
        if other_dates:
            counted = pc.value_counts(batch.filter(outside).column(FILE_COLUMN))
            for entry in counted.to_pylist():
                number = int(entry["values"])
                self.outside[number] = self.outside.get(number, 0) + int(entry["counts"])
        if failing:
            self._keep(batch.filter(problems.is_valid()).select(list(self.kept)))
        if not failing and not other_dates:
            self.passed += batch.num_rows
            return batch
        passing = batch.filter(pc.and_(problems.is_null(), pc.invert(outside)))
        self.passed += passing.num_rows
        return passing

    def _keep(self, rows: Any) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.problems_path, rows.schema)
        self._writer.write_batch(rows)
