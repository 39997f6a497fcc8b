"""Routing: distribute the gated rows of one dataset to other datasets by declared rules."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate.contracts import Contract, load_contract
from lockgate.hooks.lake import safe_key, sha256_file
from lockgate.layout import MANIFEST, raw_prefix, zone_prefix
from lockgate.operators.base import LakeOperator
from lockgate.pipelines import predicates
from lockgate.sql import ident, literal

if TYPE_CHECKING:
    from airflow.sdk import Context

MATCH_MODES = ("first", "all")
UNROUTED_FILE = "unrouted.parquet"


class RoutingAccountingError(RuntimeError):
    """Rows in != rows routed + rows unrouted: a row would be lost or doubled."""


@dataclass(frozen=True)
class RoutePlan:
    """One rule resolved against the contracts: its SQL condition and the target's projection."""

    index: int
    target: str
    when: dict[str, Any]
    projection: list[tuple[str, str]]  # (target column, source column)


def plan_rules(
    rules: Sequence[Mapping[str, Any]], source: Contract, targets: Mapping[str, Contract]
) -> list[RoutePlan]:
    """Check the rules against the contracts (pure; raises ``ValueError`` naming the rule)."""
    types = {c.name: c.type for c in source.columns}
    plans = []
    for i, rule in enumerate(rules):
        target = targets[rule["target"]]
        predicates.validate(rule["when"], types, path=f"rules.{i}.when")
        mapping = dict(rule.get("columns") or {})
        projection = []
        for column in target.column_names:
            origin = mapping.get(column, column)
            if origin not in types:
                raise ValueError(
                    f"rules.{i}: column {column!r} of {target.dataset} has no source column in {source.dataset}"
                )
            projection.append((column, origin))
        plans.append(RoutePlan(i, target.dataset, dict(rule["when"]), projection))
    return plans


def route_counts_balance(rows_in: int, routed: Mapping[str, int], unrouted: int, matched: int, match: str) -> bool:
    """Every row accounted for: ``first`` sends a row to one target, ``all`` to one or more."""
    if match == "first":
        return rows_in == sum(routed.values()) + unrouted
    return rows_in == matched + unrouted and sum(routed.values()) >= matched


def _picked(match: str, rule: RoutePlan, plans: Sequence[RoutePlan]) -> str:
    """SQL: the rows ``rule`` writes (table ``routing``). With ``first`` the rows whose first match it
    is; with ``all`` the rows whose first match *among the rules into the same target* it is (a row
    matching two rules into one target is written once)."""
    if match == "first":
        return f"_rule = {rule.index}"
    same = [p for p in plans if p.target == rule.target]
    return "(CASE " + " ".join(f"WHEN _hit_{p.index} THEN {p.index}" for p in same) + f" END) = {rule.index}"


class RouteOperator(LakeOperator):
    """Route the gated rows of a logical date to other datasets, by rules declared in the pipeline.

    Reads ``staged/<dataset>/ds=<date>/part-0.parquet`` (what the quality gate passed), evaluates
    every rule's predicate (:mod:`lockgate.pipelines.predicates`) in DuckDB and writes each
    target's rows, projected onto the target's contract, into the raw zone with an ingestion
    manifest (``raw/<target>/ds=<date>/run=<run>/<task>/routed.parquet``): each target then goes
    through its own quality gate, partition and load. Rows that match no rule go to
    ``quarantine/<dataset>/ds=<date>/unrouted.parquet`` with the reason; the routing report lands
    in ``quality/<dataset>/ds=<date>/route.json``.

    Every row is accounted for (``match="first"``: rows in = sum of rows routed + rows unrouted),
    and the task fails if that ever does not hold.

    :param dataset: the dataset whose gated rows are routed.
    :param rules: ``[{"target": dataset, "when": predicate, "columns": {target col: source col}}]``,
        in order of precedence.
    :param match: ``first`` (a row goes to the first matching rule) or ``all`` (to every one).
    :param max_unrouted_percent: fail (after publishing the quarantine) when more rows than this
        share match no rule: the feed changed, not a few rows.
    :param target_contracts: target dataset -> contract name or path (default: the dataset's).
    """

    template_fields: tuple[str, ...] = ("dataset",)
    ui_color = "#f3ead9"

    def __init__(
        self,
        *,
        rules: Sequence[Mapping[str, Any]],
        match: str = "first",
        max_unrouted_percent: float | None = None,
        target_contracts: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if match not in MATCH_MODES:
            raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}, not {match!r}")
        if not rules:
            raise ValueError("a route needs at least one rule")
        self.rules = [dict(r) for r in rules]
        self.match = match
        self.max_unrouted_percent = max_unrouted_percent
        self.target_contracts = dict(target_contracts or {})

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(r["target"] for r in self.rules))

    def _target_contracts(self) -> dict[str, Contract]:
        return {t: load_contract(self.target_contracts.get(t, t)) for t in self.targets}

    def execute(self, context: Context) -> dict[str, Any]:
        import duckdb

        ds = self.logical_ds(context)
        run_id = str(context["run_id"])
        staged_key = f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet"
        if not self.lake.exists(staged_key):
            raise AirflowException(f"nothing staged at {self.lake.uri(staged_key)}: did the quality gate run?")
        contracts = self._target_contracts()
        try:
            plans = plan_rules(self.rules, self.contract, contracts)
        except ValueError as exc:
            raise AirflowFailException(f"route {self.task_id}: {exc}") from None
        types = {c.name: c.type for c in self.contract.columns}

        with self.workdir() as work:
            staged = self.lake.local_copy(staged_key, work / "in")
            con = duckdb.connect()
            try:
                # one thread: the same input always gives the same files, so reruns are byte-identical
                con.execute("SET threads = 1")
                con.execute("SET TimeZone='UTC'")
                outcome = self._route(con, staged, staged_key, plans, types, ds, work)
            finally:
                con.close()
            self._publish(outcome, contracts, ds, run_id)

        report = outcome["report"]
        self.log.info(
            "%s ds=%s: %d rows in, routed %s, %d unrouted",
            self.dataset,
            ds,
            report["rows_in"],
            json.dumps(report["routed"]),
            report["rows_unrouted"],
        )
        limit = self.max_unrouted_percent
        if limit is not None and report["rows_in"] and 100.0 * report["rows_unrouted"] / report["rows_in"] > limit:
            raise AirflowFailException(
                f"route {self.task_id}: {report['rows_unrouted']} of {report['rows_in']} rows of {self.dataset} "
                f"ds={ds} match no rule (more than {limit}%); see {self.lake.uri(outcome['unrouted_key'])}"
            )
        return {k: report[k] for k in ("rows_in", "routed", "rows_unrouted", "rows_matched")}

    def _route(
        self,
        con: Any,
        staged: Path,
        staged_key: str,
        plans: list[RoutePlan],
        types: dict[str, str],
        ds: str,
        work: Path,
    ) -> dict[str, Any]:
        from lockgate.checks import Params

        params = Params()
        hits = ", ".join(f"{predicates.to_sql(p.when, params, types)} AS _hit_{p.index}" for p in plans)
        first_hit = "CASE " + " ".join(f"WHEN _hit_{p.index} THEN {p.index}" for p in plans) + " END"
        con.execute(
            f"CREATE TABLE routing AS SELECT *, {first_hit} AS _rule FROM ("
            f"SELECT *, {hits} FROM read_parquet({literal(str(staged))}, file_row_number = true))",
            params.values,
        )

        files = self._write_targets(con, plans, work)
        unrouted_path = work / UNROUTED_FILE
        unrouted = self._write_unrouted(con, plans, staged_key, ds, unrouted_path)
        (rows_in,) = con.execute("SELECT count(*) FROM routing").fetchone()
        (matched,) = con.execute("SELECT count(*) FROM routing WHERE _rule IS NOT NULL").fetchone()
        counts = ", ".join(f"count(*) FILTER (WHERE {_picked(self.match, p, plans)})" for p in plans)
        per_rule = con.execute(f"SELECT {counts} FROM routing").fetchone()
        routed = {target: entry["rows"] for target, entry in files.items()}
        if not route_counts_balance(int(rows_in), routed, int(unrouted), int(matched), self.match):
            raise AirflowFailException(
                f"route {self.task_id}: {self.dataset} ds={ds}: rows in {rows_in} != routed "
                f"{sum(routed.values())} ({json.dumps(routed)}) + unrouted {unrouted} (match={self.match})"
            )
        report = {
            "dataset": self.dataset,
            "ds": ds,
            "task_id": self.task_id,
            "match": self.match,
            "rows_in": int(rows_in),
            "rows_matched": int(matched),
            "rows_unrouted": int(unrouted),
            "routed": routed,
            "rules": [
                {"target": p.target, "when": p.when, "describe": predicates.describe(p.when), "rows": int(n)}
                for p, n in zip(plans, per_rule, strict=True)
            ],
        }
        return {"files": files, "unrouted_path": unrouted_path, "report": report}

    def _write_targets(self, con: Any, plans: list[RoutePlan], work: Path) -> dict[str, dict[str, Any]]:
        """Each target's rows (table ``routing``) to ``out/<target>/routed.parquet`` in the staged
        order: its file's path and row count, by target."""
        files: dict[str, dict[str, Any]] = {}
        for target in dict.fromkeys(p.target for p in plans):
            out = work / "out" / target / "routed.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            # rules into one target may map columns differently: one SELECT per rule
            selects = [
                f"SELECT {', '.join(f'{ident(src)} AS {ident(dst)}' for dst, src in p.projection)}, file_row_number "
                f"FROM routing WHERE {_picked(self.match, p, plans)}"
                for p in plans
                if p.target == target
            ]
            con.execute(
                f"COPY (SELECT * EXCLUDE (file_row_number) FROM ({' UNION ALL '.join(selects)}) "
                f"ORDER BY file_row_number) TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd)"
            )
            (rows,) = con.execute(f"SELECT count(*) FROM read_parquet({literal(str(out))})").fetchone()
            files[target] = {"path": out, "rows": int(rows)}
        return files

    def _write_unrouted(self, con: Any, plans: list[RoutePlan], staged_key: str, ds: str, path: Path) -> int:
        """The rows no rule matched to ``path``, each with a reason naming its row and the rules; their count."""
        source_columns = [c.name for c in self.contract.columns]
        record = "CAST(to_json({" + ", ".join(f"{literal(c)}: {ident(c)}" for c in source_columns) + "}) AS VARCHAR)"
        rules_text = "; ".join(f"{p.target} when {predicates.describe(p.when)}" for p in plans)
        con.execute(
            f"""COPY (
                SELECT CAST($1 AS VARCHAR) AS source_file, file_row_number + 1 AS source_row,
                       CAST(NULL AS VARCHAR) AS column_name, 'route' AS check_name,
                       format('row {{}}: matched no routing rule of {{}} ({{}})', file_row_number + 1, $2, $3)
                           AS reason,
                       {record} AS record, CAST($4 AS DATE) AS {ident("ds")}
                FROM routing WHERE _rule IS NULL ORDER BY file_row_number
            ) TO {literal(str(path))} (FORMAT parquet, COMPRESSION zstd)""",
            [staged_key, self.task_id, rules_text, ds],
        )
        (unrouted,) = con.execute(f"SELECT count(*) FROM read_parquet({literal(str(path))})").fetchone()
        return int(unrouted)

    def _publish(self, outcome: dict[str, Any], contracts: Mapping[str, Contract], ds: str, run_id: str) -> None:
        for target, entry in outcome["files"].items():
            prefix = safe_key(raw_prefix(target, ds, run_id), self.task_id)
            # a retry of this task replaces what an earlier try of it wrote
            self.lake.delete_prefix(prefix)
            key = safe_key(prefix, "routed.parquet")
            checksum = sha256_file(entry["path"])
            obj = self.lake.put_file(entry["path"], key)
            self.lake.write_json(
                safe_key(prefix, MANIFEST),
                {
                    "dataset": target,
                    "ds": ds,
                    "run_id": run_id,
                    "source_name": self.task_id,
                    "source": self.lake.uri(f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet"),
                    "files": [
                        {
                            "key": key,
                            "source": "routed",
                            "format": "parquet",
                            "bytes": obj.size,
                            "rows": entry["rows"],
                            "sha256": checksum,
                        }
                    ],
                    "rows": entry["rows"],
                    "bytes": obj.size,
                },
            )
            self.lineage.outputs.append(
                self.lake_dataset(
                    f"raw/{target}", contracts[target].columns, row_count=entry["rows"], size_bytes=obj.size
                )
            )
        outcome["unrouted_key"] = f"{zone_prefix('quarantine', self.dataset, ds)}/{UNROUTED_FILE}"
        self.lake.put_file(outcome["unrouted_path"], outcome["unrouted_key"])
        self.lake.write_json(f"{zone_prefix('quality', self.dataset, ds)}/route.json", outcome["report"])
        self.lineage.inputs.append(self.lake_dataset(f"staged/{self.dataset}", self.contract.storage_columns))
        self.lineage.outputs.append(
            self.lake_dataset(f"quarantine/{self.dataset}", row_count=outcome["report"]["rows_unrouted"])
        )
