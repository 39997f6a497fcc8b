"""A DuckDB connection with bounded memory for one task: the gate and the partition step share it.

No Airflow import here: a gate run outside a task (a benchmark, a test) does not pay for one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lockgate.sql import ident, literal

#: the least memory a thread of the partitioned write is given (bytes)
THREAD_MEMORY = 16 * 2**20


def task_threads() -> int:
    """The CPUs this task may run on (its affinity: a container's or a pool's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def bounded_duckdb(work: Path, memory_limit: str, database: Path | None = None, threads: int | None = None) -> Any:
    """A DuckDB connection whose memory is bounded whatever the day's size: at most
    ``memory_limit``, spilling beyond it to ``work/spill`` (the task's own folder, removed after
    it), with as many threads as the task has CPUs (fewer when the limit is too small for them).

    ``database``: a scratch database file (any file of that name is removed first: nothing of a
    last run is found), for a table far larger than ``memory_limit``. A large table written to a
    file is compressed as it is written (dictionaries, bit-packing, constants), once; one in an
    in-memory database is kept uncompressed, so beyond the limit its blocks spill to disk in full
    and are read back in full (10M readings: ~1.3 GB where the file's table is a fraction, ~2.5 s
    CPU more for the gate).

    A partitioned write buffers up to ``partitioned_write_flush_threshold`` rows per partition
    and thread before it writes them out (DuckDB's default, 524,288, held ~1 GB at 10M readings
    and fails under a small limit instead of spilling); the threshold here is sized to the limit.

    ``threads``: at most this many (a writer that must cut its row groups alike every run: one).
    """
    import duckdb

    limit = size_bytes(memory_limit)
    # each thread buffers its own rows: a small limit gets fewer threads (as DuckDB's own advice for
    # an out-of-memory error says), never less than one
    threads = max(1, min(threads or task_threads(), task_threads(), limit // THREAD_MEMORY))
    flush = max(16_384, min(524_288, limit // (threads * 8192)))
    if database is None:
        con = duckdb.connect()
    else:
        for stale in (database, database.with_name(database.name + ".wal")):
            stale.unlink(missing_ok=True)
        con = duckdb.connect(str(database))
    con.execute(f"SET threads = {threads}")
    con.execute(f"SET memory_limit = {literal(memory_limit)}")
    con.execute(f"SET temp_directory = {literal(str(work / 'spill'))}")
    con.execute(f"SET partitioned_write_flush_threshold = {flush}")
    # every connection of the database reads and writes instants in UTC, its cursors too (a session
    # setting would stop at this connection: the gate streams its typing statement on a cursor)
    con.execute("SET GLOBAL TimeZone='UTC'")
    return con


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS.update({"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40})


def size_bytes(size: str) -> int:
    """``'1GB'``, ``'512MiB'``... in bytes (DuckDB's units: KB, MB, GB are powers of 1000)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", size, re.IGNORECASE)
    if not match:
        raise ValueError(f"memory_limit {size!r}: expected a size such as '1GB' or '512MiB'")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").upper()])


@contextmanager
def memory_at_most(con: Any, memory_limit: str) -> Iterator[None]:
    """The connection's statements within ``memory_limit`` meanwhile, or within its own limit where
    that is lower (its own limit is restored after, as DuckDB shows it: to 0.1 MiB)."""
    (before,) = con.execute("SELECT current_setting('memory_limit')").fetchone()
    lower = size_bytes(memory_limit) < size_bytes(before)
    if lower:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
    try:
        yield
    finally:
        if lower:
            con.execute(f"SET memory_limit = {literal(before)}")


def repeating_hash_slices(
    con: Any, relation: str, columns: Sequence[str], per_slice: int, params: Sequence[Any] = ()
) -> tuple[int, list[int]]:
    """Where a 64-bit hash of ``columns`` repeats in ``relation`` (SQL, with ``params``): (the
    number of slices, the slices in which one does).

    Equal values have equal hashes (DuckDB's GROUP BY relies on it, NULLs, -0.0 and NaN included),
    so a slice without a repeated hash has no repeated value. The rows are sliced by hash modulo the
    number of slices, at most ``per_slice`` rows a slice: counting the distinct hashes of 100M rows
    at once did not stay within 96MB, while 20M-row slices stay within 128MB and 10M-row ones within
    64MB (each slice reads ``relation`` again). Counting the distinct hashes costs half of grouping
    them (10M readings, one thread: 0.8 against 1.6 s).
    """
    names = ", ".join(ident(c) for c in columns)
    (total,) = con.execute(f"SELECT count(*) FROM {relation}", list(params)).fetchone()
    slices = max(1, -(-int(total) // per_slice))
    found = []
    for part in range(slices):
        where = f"WHERE hash({names}) % {slices} = {part}" if slices > 1 else ""
        sql = f"SELECT count(*) - count(DISTINCT hash({names})) FROM {relation} {where}"
        (repeats,) = con.execute(sql, list(params)).fetchone()
        if repeats:
            found.append(part)
    return slices, found
