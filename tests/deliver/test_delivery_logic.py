"""lockgate.delivery as pure logic: batches, keys, the plan of a rerun, rejections, the spec's checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pytest

from lockgate import delivery
from lockgate.checks import Params
from lockgate.config import dags_dir
from lockgate.delivery import Ack, RateLimiter
from lockgate.pipelines.spec import PipelineSpecError, contract_for, load_spec

ROWS = [{"id": f"k{i}", "n": i} for i in range(7)]


def keyed(rows: list[dict[str, object]], size: int = 3) -> tuple[str, list[delivery.Batch]]:
    return delivery.keyed(delivery.split(rows, size), pipeline="p", dataset="d", ds="2026-01-02")


def acks(batches: list[delivery.Batch], version: str, numbers: list[int], run: str = "r1") -> list[Ack]:
    chosen = [b for b in batches if b.number in numbers]
    return [Ack(b.number, b.key, len(b.rows), b.content_hash, version, run) for b in chosen]


def test_batches_are_numbered_cover_every_row_once_and_hash_their_content() -> None:
    batches = delivery.split(ROWS, 3)
    assert [(b.number, b.first, len(b.rows)) for b in batches] == [(1, 1, 3), (2, 4, 3), (3, 7, 1)]
    assert [r for b in batches for r in b.rows] == ROWS
    assert batches[0].content_hash == delivery.content_hash(ROWS[:3])
    assert delivery.split([], 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        delivery.split(ROWS, 0)


def test_streamed_digests_equal_the_hashes_of_whole_batches_without_holding_rows() -> None:
    names = ["id", "n", "at", "x"]
    tuples = [(f"k{i}", i, date(2026, 1, 2), float("nan") if i == 4 else i / 3) for i in range(7)]
    rows = delivery.json_rows(names, tuples)
    chunks = [tuples[0:3], tuples[3:6], tuples[6:7]]
    streamed = delivery.digest_batches(names, iter(chunks))
    held = delivery.split(rows, 3)
    # the same batches, hashes and so keys as batches built in memory: existing audits stay valid
    assert [(b.number, b.first, b.count, b.content_hash) for b in streamed] == [
        (b.number, b.first, b.count, b.content_hash) for b in held
    ]
    assert all(b.rows == [] for b in streamed)
    assert delivery.keyed(streamed, pipeline="p", dataset="d", ds="x") == delivery.keyed(
        [replace(b, rows=[], size=b.count) for b in held], pipeline="p", dataset="d", ds="x"
    )
    # the whole date as one unit, hashed chunk by chunk: the hash of all rows at once
    whole = delivery.digest_whole(names, iter(chunks))
    assert (whole.count, whole.content_hash) == (7, delivery.content_hash(rows))
    assert delivery.digest_whole(names, iter([])).content_hash == delivery.content_hash([])
    assert delivery.digest_whole(names, iter([])).count == 0


def test_keys_derive_from_pipeline_dataset_date_batch_and_content() -> None:
    version, batches = keyed(ROWS)
    again_version, again = keyed([dict(r) for r in ROWS])
    assert (version, [b.key for b in batches]) == (again_version, [b.key for b in again])  # deterministic
    assert len({b.key for b in batches}) == 3
    base = delivery.idempotency_key("p", "d", "2026-01-02", 1, "h")
    for other in (
        delivery.idempotency_key("q", "d", "2026-01-02", 1, "h"),
        delivery.idempotency_key("p", "e", "2026-01-02", 1, "h"),
        delivery.idempotency_key("p", "d", "2026-01-03", 1, "h"),
        delivery.idempotency_key("p", "d", "2026-01-02", 2, "h"),
        delivery.idempotency_key("p", "d", "2026-01-02", 1, "i"),
    ):
        assert other != base
    # one changed row changes the version, so every batch of the date gets a new key
    changed = [*ROWS[:6], {"id": "k6", "n": 99}]
    _, new = keyed(changed)
    assert not {b.key for b in new} & {b.key for b in batches}


def test_the_plan_of_first_delivery_retry_unchanged_and_changed_reruns() -> None:
    version, batches = keyed(ROWS)
    first = delivery.plan(version, batches, [])
    assert ([b.number for b in first.send], first.reason) == ([1, 2, 3], "first delivery: 3 batch(es), 7 row(s)")
    resumed = delivery.plan(version, batches, acks(batches, version, [1, 2]))
    assert [b.number for b in resumed.send] == [3]
    assert resumed.reason == "resumed after batch 2 of 3: 1 batch(es) left"
    assert not resumed.supersede
    unchanged = delivery.plan(version, batches, acks(batches, version, [1, 2, 3], run="r7"))
    assert (unchanged.send, unchanged.reason) == ([], "unchanged since r7: nothing sent")
    # an out-of-order acknowledgement is not sent again either
    assert [b.number for b in delivery.plan(version, batches, acks(batches, version, [2])).send] == [1, 3]

    new_version, new = keyed([*ROWS, {"id": "k7", "n": 7}])
    changed = delivery.plan(new_version, new, acks(batches, version, [1, 2, 3]))
    assert [b.number for b in changed.send] == [1, 2, 3]
    assert changed.supersede
    assert "rows 7 -> 8" in changed.reason
    assert "1 of 3 batch(es) differ" in changed.reason
    assert changed.reason.endswith("re-sending the date with new keys")
    # the new version partly out while an old acknowledgement was left standing: resume, and supersede it
    mixed = delivery.plan(new_version, new, acks(batches, version, [3]) + acks(new, new_version, [1]))
    assert [b.number for b in mixed.send] == [2, 3]
    assert mixed.supersede


def test_rejected_rows_named_by_the_receiver_and_the_message() -> None:
    _, batches = keyed(ROWS)
    assert delivery.rejected_indexes({"rejected": [2, 0, 9, True]}, 3) == [0, 2]
    assert delivery.rejected_indexes({"errors": [{"index": 1, "msg": "x"}, {"row": 2}]}, 3) == [1, 2]
    assert delivery.rejected_indexes("not json", 3) == []
    message = delivery.rejection_message("delivery x", batches[1], 3, 400, "bad", [1], ["id", "n"])
    assert message.splitlines()[:3] == [
        f"delivery x: batch 2 of 3 (rows 4-6, idempotency key {batches[1].key}) was rejected with HTTP 400: bad",
        "rejected row(s) of the batch:",
        "  row 5: id='k4', n=4",
    ]
    assert "first row(s)" in delivery.rejection_message("x", batches[0], 3, 400, "bad", [], ["id"])


def test_secrets_are_redacted_longest_first() -> None:
    assert delivery.redact("token abc123 and abc123456", ["abc123", "abc123456", ""]) == "token *** and ***"


def test_the_rate_limit_spaces_calls() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == [0.25, 0.25]
    RateLimiter(None, clock=lambda: 0.0, sleep=sleep).wait()
    assert len(slept) == 2


def test_the_selection_filters_projects_and_orders_by_the_key() -> None:
    types = {"id": "string", "aqi": "integer", "category": "string"}
    params = Params()
    sql = delivery.selection_sql(
        "t", types=types, order_by=["id"], bind=params, where={"aqi": {"gt": 150}}, columns=["id", "aqi"]
    )
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('b', 200, 'x'), ('a', 160, 'y'), ('c', 10, 'z'), ('d', NULL, 'n')) "
        "AS v(id, aqi, category)"
    )
    assert con.execute(sql, params.values).fetchall() == [("a", 160), ("b", 200)]


def test_the_spec_checks_of_a_delivery() -> None:
    contracts = {"sales_supply_chain": contract_for("sales_supply_chain")}
    raw = [
        {"dataset": "sales_supply_chain", "to": "table", "conn_id": "c", "table": "t", "columns": ["sku"]},
        {"dataset": "sales_supply_chain", "to": "http", "conn_id": "c", "format": "csv", "where": {"nope": 1}},
        {"dataset": "other", "to": "http", "conn_id": "c"},
        {"dataset": "sales_supply_chain", "to": "http", "conn_id": "c", "id": "deliver_sales_supply_chain_table"},
    ]
    found, problems = delivery.parse_deliveries(raw, contracts, ["sales_supply_chain"])
    assert [d.id for d in found] == [
        "deliver_sales_supply_chain_table",
        "deliver_sales_supply_chain_http",
        "deliver_sales_supply_chain_table",
    ]
    assert [(".".join(str(p) for p in where), message) for where, message in problems] == [
        ("deliver.0.columns", "an upsert needs the primary key: add event_id"),
        ("deliver.1.format", "format is not a setting of a http delivery"),
        (
            "deliver.1.where.nope",
            "unknown column 'nope'; columns: "
            + ", ".join(sorted(c.name for c in contracts["sales_supply_chain"].storage_columns)),
        ),
        ("deliver.2.dataset", "dataset 'other' is not loaded by this pipeline: only loaded dates are delivered"),
        ("deliver.3.id", "task id 'deliver_sales_supply_chain_table' is used twice; give the delivery an id"),
    ]


def test_personal_data_cannot_be_tested_unless_delivered_in_clear() -> None:
    args = {"columns": None, "types": {"email": "string"}, "pii": {"email": "hash"}, "primary_key": [], "kind": "http"}
    assert delivery.selection_problems(where={"email": "a@b"}, pii_policy="protected", **args) == [
        ("where", "email is personal data (hashed before delivery): it cannot be tested")
    ]
    assert delivery.selection_problems(where={"email": "a@b"}, pii_policy="clear", **args) == []


def test_lineage_names() -> None:
    assert delivery.http_lineage("https://api.example.com", "/v1/alerts") == (
        "https://api.example.com:443",
        "/v1/alerts",
    )
    assert delivery.http_lineage("http://h:8080/base", "x") == ("http://h:8080", "/base/x")
    assert delivery.sqlalchemy_lineage("postgres", "db", None, "pos", "stations") == (
        "postgres://db:5432",
        "pos.public.stations",
    )


def test_a_broken_deliver_entry_names_file_line_and_field(tmp_path: Path) -> None:
    text = (dags_dir() / "pipelines" / "sales_distribution.yaml").read_text()
    assert "    format: parquet\n" in text
    broken = text.replace("    format: parquet\n", "    format: xlsx\n")
    path = tmp_path / "sales.yaml"
    path.write_text(broken)
    with pytest.raises(PipelineSpecError) as schema_error:
        load_spec(path)
    ((where, message, line),) = schema_error.value.problems
    assert (where, line) == ("deliver.0.format", broken.splitlines().index("    format: xlsx") + 1)
    assert "xlsx" in message

    broken = text.replace("    table: inventory_movements\n", "    table: inventory_movements\n    columns: [sku]\n")
    path.write_text(broken)
    with pytest.raises(PipelineSpecError) as semantic_error:
        load_spec(path)
    assert [(w, m) for w, m, _ in semantic_error.value.problems] == [
        ("deliver.1.columns", "an upsert needs the primary key: add event_id")
    ]
    assert semantic_error.value.problems[0][2] == broken.splitlines().index("    columns: [sku]") + 1
