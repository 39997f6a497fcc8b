"""The bounded-DuckDB helpers the gate and the load share: repeated hashes by slice, a lower limit meanwhile."""

from __future__ import annotations

import duckdb
import pytest

from lockgate.duckdb_session import memory_at_most, repeating_hash_slices, size_bytes


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # 1,000 keys; key 7 twice, and two rows with a NULL key (NULLs group together, as in a GROUP BY)
    con.execute(
        "CREATE TABLE t AS SELECT i AS k, 'v' || i AS v FROM range(1000) r(i) "
        "UNION ALL SELECT 7, 'again' UNION ALL SELECT NULL, 'a' UNION ALL SELECT NULL, 'b'"
    )
    return con


def slice_of(con: duckdb.DuckDBPyConnection, where: str, slices: int) -> int:
    return int(con.execute(f"SELECT hash(k) % {slices} FROM t WHERE {where} LIMIT 1").fetchone()[0])


@pytest.mark.parametrize("per_slice", [10_000, 1003, 100, 7])
def test_the_slices_holding_a_repeated_value_are_found_whatever_the_slice_size(
    con: duckdb.DuckDBPyConnection, per_slice: int
) -> None:
    slices, found = repeating_hash_slices(con, "t", ["k"], per_slice)
    assert slices == -(-1003 // per_slice)
    expected = {slice_of(con, "k = 7", slices), slice_of(con, "k IS NULL", slices)} if slices > 1 else {0}
    assert set(found) == expected
    assert found == sorted(found)


def test_no_slice_is_found_where_no_value_repeats(con: duckdb.DuckDBPyConnection) -> None:
    assert repeating_hash_slices(con, "t", ["k", "v"], 100) == (11, [])  # (7, 'again') is a row of its own
    assert repeating_hash_slices(con, "(SELECT * FROM t WHERE k <> $1)", ["k"], 10_000, [7]) == (1, [])
    assert repeating_hash_slices(con, "(SELECT * FROM t WHERE false)", ["k"], 10) == (1, [])


def test_a_lower_limit_holds_meanwhile_and_the_connection_s_own_comes_back(con: duckdb.DuckDBPyConnection) -> None:
    def limit() -> int:
        return size_bytes(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])

    con.execute("SET memory_limit = '256MB'")
    own = limit()
    with memory_at_most(con, "64MB"):
        assert limit() == pytest.approx(64 * 10**6, rel=0.01)
    assert limit() == pytest.approx(own, abs=2**20 // 10)
    con.execute("SET memory_limit = '32MB'")
    with memory_at_most(con, "64MB"):  # never raised above the connection's own
        assert limit() == pytest.approx(32 * 10**6, rel=0.01)
    assert limit() == pytest.approx(32 * 10**6, rel=0.01)
