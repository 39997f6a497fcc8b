"""Routing predicates: validation, Python evaluation, and DuckDB SQL that agrees with it row for row."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from lockgate.checks import Params
from lockgate.pipelines.predicates import PredicateError, columns, describe, evaluate, first_match, to_sql, validate

TYPES = {
    "kind": "string",
    "qty": "integer",
    "price": "double",
    "paid": "boolean",
    "day": "date",
    "at": "timestamp",
}

ROWS: list[dict[str, Any]] = [
    {
        "kind": "sale",
        "qty": 2,
        "price": 9.5,
        "paid": True,
        "day": date(2026, 1, 2),
        "at": datetime(2026, 1, 2, 9, tzinfo=UTC),
    },
    {
        "kind": "refund",
        "qty": 1,
        "price": 9.5,
        "paid": False,
        "day": date(2026, 1, 2),
        "at": datetime(2026, 1, 2, 23, tzinfo=UTC),
    },
    {"kind": "restock", "qty": 40, "price": None, "paid": None, "day": date(2026, 1, 1), "at": None},
    {"kind": None, "qty": None, "price": None, "paid": None, "day": None, "at": None},
    {
        "kind": "gift_card",
        "qty": 0,
        "price": 0.0,
        "paid": True,
        "day": date(2026, 1, 3),
        "at": datetime(2026, 1, 3, tzinfo=UTC),
    },
    {
        "kind": "Sale",
        "qty": -3,
        "price": 1e6,
        "paid": False,
        "day": date(2025, 12, 31),
        "at": datetime(2025, 12, 31, 22, tzinfo=UTC),
    },
]

PREDICATES: list[dict[str, Any]] = [
    {"kind": "sale"},
    {"kind": {"ne": "sale"}},
    {"kind": {"in": ["sale", "refund"]}},
    {"kind": {"not_in": ["sale", "refund"]}},
    {"kind": {"is_null": True}},
    {"kind": {"is_null": False}, "qty": {"ge": 1}},
    {"kind": {"matches": "^[Ss]ale$"}},
    {"qty": {"gt": 0, "le": 2}},
    {"price": {"lt": 10}},
    {"paid": True},
    {"day": {"ge": "2026-01-02"}},
    {"at": {"lt": "2026-01-02T12:00:00+00:00"}},
    {"not": {"kind": "sale"}},
    {"not": {"qty": {"gt": 5}}},
    {"any": [{"kind": "restock"}, {"price": {"ge": 100}}]},
    {"all": [{"kind": {"in": ["sale", "Sale"]}}, {"not": {"paid": True}}]},
    {"any": [{"not": {"kind": {"is_null": False}}}, {"qty": 0}]},
]


def duckdb_results(predicate: dict[str, Any]) -> list[bool]:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    schema = pa.schema(
        [
            ("kind", pa.string()),
            ("qty", pa.int64()),
            ("price", pa.float64()),
            ("paid", pa.bool_()),
            ("day", pa.date32()),
            ("at", pa.timestamp("us", tz="UTC")),
        ]
    )
    table = pa.Table.from_pylist(
        [{**r, "_n": i} for i, r in enumerate(ROWS)], schema=schema.append(pa.field("_n", pa.int64()))
    )
    con.register("t", table)
    params = Params()
    sql = to_sql(predicate, params, TYPES)
    rows = con.execute(f"SELECT {sql} FROM t ORDER BY _n", params.values).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("predicate", PREDICATES, ids=describe)
def test_sql_agrees_with_python_row_for_row(predicate: dict[str, Any]) -> None:
    validate(predicate, TYPES)
    expected = [evaluate(predicate, row, TYPES) for row in ROWS]
    assert duckdb_results(predicate) == expected  # never NULL: every row is true or false


def test_null_compares_false_and_not_negates() -> None:
    missing = ROWS[3]
    assert evaluate({"kind": "sale"}, missing, TYPES) is False
    assert evaluate({"kind": {"ne": "sale"}}, missing, TYPES) is False
    assert evaluate({"not": {"kind": "sale"}}, missing, TYPES) is True
    assert evaluate({"kind": {"is_null": True}}, missing, TYPES) is True


def test_values_are_typed_by_the_column() -> None:
    assert evaluate({"day": "2026-01-02"}, ROWS[0], TYPES)
    assert evaluate({"qty": 2.0}, ROWS[0], TYPES)  # 2.0 is the integer 2
    assert evaluate({"at": {"ge": "2026-01-02T10:00:00+01:00"}}, ROWS[0], TYPES)  # 09:00Z


@pytest.mark.parametrize(
    ("predicate", "path", "problem"),
    [
        ({}, "when", "non-empty mapping"),
        ({"knd": "sale"}, "when.knd", "unknown column 'knd'"),
        ({"kind": {"like": "s%"}}, "when.kind", "unknown operator(s) like"),
        ({"qty": "two"}, "when.qty", "'two' is not an integer"),
        ({"qty": {"in": []}}, "when.qty.in", "non-empty list"),
        ({"qty": {"in": [1, "x"]}}, "when.qty.in.1", "'x' is not an integer"),
        ({"paid": {"gt": True}}, "when.paid.gt", "needs an ordered column"),
        ({"qty": {"matches": "1+"}}, "when.qty.matches", "needs a string column"),
        ({"kind": {"matches": "("}}, "when.kind.matches", "not a valid regular expression"),
        ({"day": "yesterday"}, "when.day", "is not a date"),
        ({"any": []}, "when.any", "non-empty list"),
        ({"all": [{"kind": "sale"}, {"nope": 1}]}, "when.all.1.nope", "unknown column"),
        ({"not": {"kind": {"is_null": "yes"}}}, "when.not.kind.is_null", "true or false"),
        ({"kind": ["sale", "refund"]}, "when.kind", "is not a string"),
    ],
)
def test_invalid_predicates_name_the_path(predicate: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(PredicateError) as caught:
        validate(predicate, TYPES)
    assert caught.value.path == path
    assert problem in caught.value.problem


def test_helpers() -> None:
    predicate = {"kind": {"in": ["sale", "refund"]}, "any": [{"qty": {"gt": 1}}, {"not": {"paid": True}}]}
    assert columns(predicate) == {"kind", "qty", "paid"}
    assert describe(predicate) == "kind in [sale, refund] and (qty > 1 or not paid = True)"
    rules = [{"target": "a", "when": {"kind": "refund"}}, {"target": "b", "when": {"qty": {"ge": 1}}}]
    assert [first_match(rules, row, TYPES) for row in ROWS] == [1, 0, 1, None, None, None]
