"""Merge-on-read position deletes as another engine (Spark, Trino) writes them, for tests: pyiceberg
itself only rewrites data files when it deletes rows."""

from __future__ import annotations

from pathlib import Path

from lockgate.hooks.iceberg import CatalogHook


def add_position_deletes(
    catalog: CatalogHook, dataset: str, data_file: object, positions: list[int], out: Path
) -> None:
    """Commit merge-on-read position deletes of rows ``positions`` of one data file, as Spark or
    Trino would (pyiceberg itself only rewrites files): a delete file and a DELETES manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyiceberg.manifest import (
        DataFile,
        DataFileContent,
        FileFormat,
        ManifestContent,
        ManifestEntry,
        ManifestEntryStatus,
        ManifestWriterV2,
    )
    from pyiceberg.table.snapshots import Operation
    from pyiceberg.table.update.snapshot import _FastAppendFiles

    target: DataFile = data_file  # type: ignore[assignment]
    schema = pa.schema(
        [
            pa.field("file_path", pa.string(), nullable=False, metadata={"PARQUET:field_id": "2147483546"}),
            pa.field("pos", pa.int64(), nullable=False, metadata={"PARQUET:field_id": "2147483545"}),
        ]
    )
    local = out / "deletes.parquet"
    pq.write_table(pa.table({"file_path": [target.file_path] * len(positions), "pos": positions}, schema), local)
    key = catalog._lake_key(target.file_path).rsplit("/", 1)[0] + "/deletes-00001.parquet"
    catalog.lake.put_file(local, key)
    deletes = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=catalog.lake.uri(key),
        file_format=FileFormat.PARQUET,
        partition=target.partition,
        record_count=len(positions),
        file_size_in_bytes=local.stat().st_size,
        spec_id=target.spec_id,
    )

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self) -> ManifestContent:
            return ManifestContent.DELETES

        @property
        def _meta(self) -> dict[str, str]:
            return {**super()._meta, "content": "deletes"}

    class AddDeletes(_FastAppendFiles):
        def _manifests(self) -> list[object]:  # type: ignore[override]
            spec = self._transaction.table_metadata.spec()
            writer = DeleteManifestWriter(spec, self.schema(), self.new_manifest_output(), self._snapshot_id, "null")
            with writer:
                entry = ManifestEntry.from_args(
                    status=ManifestEntryStatus.ADDED, snapshot_id=self._snapshot_id, data_file=deletes
                )
                writer.add(entry)
            return [*super()._manifests(), writer.to_manifest_file()]

    table = catalog.table(dataset)
    with table.transaction() as txn:
        AddDeletes(operation=Operation.DELETE, transaction=txn, io=table.io).commit()
