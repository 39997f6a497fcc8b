"""Partitioning: staged rows to hive-partitioned, zstd-compressed Parquet in the curated zone."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from lockgate import pii
from lockgate.contracts import DATE_PARTITION, ORIGIN_COLUMNS
from lockgate.hooks.lake import content_name, dump_json, safe_key, sha256_file
from lockgate.layout import MANIFEST, zone_prefix
from lockgate.operators.base import LakeOperator
from lockgate.sql import ident, literal

if TYPE_CHECKING:
    from airflow.sdk import Context


def _hive_partition(key: str) -> dict[str, str]:
    """The hive partition of a file key: ``.../ds=2026-01-02/region=north/part-0.parquet`` -> its pairs."""
    return dict(segment.split("=", 1) for segment in key.split("/")[:-1] if "=" in segment)


def _count_rows(con: Any, path: Path) -> int:
    (rows,) = con.execute("SELECT count(*) FROM read_parquet($1)", [str(path)]).fetchone()
    return int(rows)


def _contract_rows(con: Any, staged: Path) -> str:
    """The staged rows without the gate's origin columns (they stay in the staged zone only)."""
    relation = f"read_parquet({literal(str(staged))})"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    origin = [c for c in ORIGIN_COLUMNS if c in present]
    if not origin:
        return relation
    return f"(SELECT * EXCLUDE ({', '.join(ident(c) for c in origin)}) FROM {relation})"


class PartitionOperator(LakeOperator):
    """Write the staged rows of a logical date as ``curated/<dataset>/ds=<date>/<key>=<value>/*.parquet``.

    Partition keys come from the contract (below the logical date). A rerun for the same date
    replaces that date's partitions and manifest; other dates are never touched. The manifest
    (``_manifest.json``) lists every file with its rows and sha256 and is what the load reads.

    :param dataset: the dataset to partition.
    """

    template_fields: tuple[str, ...] = ("dataset",)

    @property
    def schema(self) -> dict[str, str]:
        """The curated schema this contract produces: column -> type."""
        return {c.name: c.type for c in self.contract.storage_columns}

    def _check_curated_schema(self, ds: str) -> None:
        """Schema-drift policy of the curated zone: ``freeze`` fails when the contract's columns
        differ from those of the latest other date already curated; ``evolve`` lets them through."""
        manifests = sorted(
            o.key
            for o in self.lake.list(f"curated/{self.dataset}")
            if o.key.endswith(f"/{MANIFEST}") and f"/ds={ds}/" not in o.key
        )
        if not manifests:
            return
        previous = self.lake.read_json(manifests[-1]).get("schema")
        if previous is None or previous == self.schema:
            return
        added = sorted(set(self.schema) - set(previous))
        removed = sorted(set(previous) - set(self.schema))
        retyped = sorted(
            f"{c} {previous[c]} -> {t}" for c, t in self.schema.items() if c in previous and previous[c] != t
        )
        change = f"added {added}, removed {removed}, retyped {retyped} (compared with {manifests[-1]})"
        if self.contract.schema_drift["curated"] == "freeze":
            raise AirflowFailException(
                f"{self.contract.path}: the curated schema of {self.dataset} is frozen but the contract changed it: "
                f"{change}. Set schema_drift.curated: evolve to publish the new schema."
            )
        self.log.warning("curated schema of %s evolves: %s", self.dataset, change)

    def execute(self, context: Context) -> dict[str, Any]:
        import duckdb

        ds = self.logical_ds(context)
        staged_key = f"{zone_prefix('staged', self.dataset, ds)}/part-0.parquet"
        if not self.lake.exists(staged_key):
            raise AirflowException(f"nothing staged at {self.lake.uri(staged_key)}: did the quality gate run?")
        self._check_curated_schema(ds)
        keys = [DATE_PARTITION, *self.contract.partition_keys]
        order = ", ".join(ident(c) for c in (self.contract.primary_key or self.contract.column_names))
        curated_prefix = zone_prefix("curated", self.dataset, ds)
        with self.workdir() as work:
            staged = self.lake.local_copy(staged_key, work / "in")
            out = work / "out"
            con = duckdb.connect()
            try:
                # one thread: the same input always gives the same files, so reruns are byte-identical
                con.execute("SET threads = 1")
                con.execute("SET TimeZone='UTC'")
                # bounded memory whatever the day's size: DuckDB spills the sort to disk
                con.execute("SET memory_limit = '1GB'")
                con.execute(f"SET temp_directory = {literal(str(work / 'spill'))}")
                rows = _count_rows(con, staged)
                if rows:
                    # personal data is hashed or masked here, so it never reaches the curated zone in clear
                    try:
                        select = pii.select_list(self.contract, con)
                    except pii.PiiKeyMissing as exc:
                        raise AirflowFailException(f"{self.contract.path}: {exc}") from None
                    con.execute(
                        f"COPY (SELECT {select} FROM {_contract_rows(con, staged)} ORDER BY {order}) "
                        f"TO {literal(str(out))} (FORMAT parquet, COMPRESSION zstd, "
                        f"PARTITION_BY ({', '.join(ident(k) for k in keys)}), FILENAME_PATTERN 'part-{{i}}')"
                    )
                files: list[dict[str, Any]] = []
                for written in sorted(out.rglob("*.parquet")) if rows else []:
                    # named by content: reruns give the same keys, and a path-walking reader that
                    # listed an older version can never open this version's bytes under its name
                    path = written.rename(written.with_name(content_name("part", written, ".parquet")))
                    relative = path.relative_to(out).as_posix()
                    file_rows = _count_rows(con, path)
                    files.append(
                        {
                            "path": path,
                            "key": safe_key("curated", self.dataset, relative),
                            "rows": file_rows,
                            "bytes": path.stat().st_size,
                            "sha256": sha256_file(path),
                        }
                    )
            finally:
                con.close()

            files.sort(key=lambda f: f["key"])
            for entry in files:
                entry.pop("path")
            checksum = hashlib.sha256("".join(f["sha256"] for f in files).encode()).hexdigest()
            manifest = {
                "dataset": self.dataset,
                "ds": ds,
                "run_id": str(context["run_id"]),
                "partition_keys": keys,
                "schema": self.schema,
                "files": files,
                "rows": sum(f["rows"] for f in files),
                "bytes": sum(f["bytes"] for f in files),
                "checksum": checksum,
            }
            # the manifest travels with the files: on a local lake it is swapped in with them, on
            # S3 it is written after them and is the commit point (see LakeHook.replace_prefix)
            date_dir = out / f"{DATE_PARTITION}={ds}"
            date_dir.mkdir(parents=True, exist_ok=True)
            (date_dir / MANIFEST).write_text(dump_json(manifest), encoding="utf-8")
            # replace this date only (see LakeHook.replace_prefix)
            self.lake.replace_prefix(date_dir, curated_prefix)
        self.lineage.inputs.append(self.lake_dataset(f"staged/{self.dataset}", self.contract.storage_columns))
        self.lineage.outputs.append(
            self.lake_dataset(
                f"curated/{self.dataset}",
                self.contract.storage_columns,
                row_count=manifest["rows"],
                size_bytes=manifest["bytes"],
                partitions=[_hive_partition(f["key"]) for f in files] or [{DATE_PARTITION: ds}],
            )
        )
        self.log.info(
            "%s ds=%s: %d rows in %d files under %s",
            self.dataset,
            ds,
            manifest["rows"],
            len(files),
            self.lake.uri(curated_prefix),
        )
        return {"rows": manifest["rows"], "files": len(files), "checksum": checksum}
