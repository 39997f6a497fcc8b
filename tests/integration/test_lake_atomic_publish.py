"""Republishing a date never shows a reader rows of two versions, nor an empty date.

A path-walking reader racing the swap can miss part of the old version (see
``LakeHook.replace_prefix``); those reads are counted apart, and never contain two versions.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from lockgate.hooks.lake import LakeHook

PREFIX = "curated/meters/ds=2026-01-02"


def _version(root: Path, name: str, regions: list[str], rows: int) -> Path:
    """A local ds=<date> tree: one file per region, every row tagged with the version's name."""
    tree = root / name
    for region in regions:
        folder = tree / f"region={region}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"version": [name] * rows, "n": list(range(rows))}), folder / "part-0.parquet")
    return tree


def test_readers_never_mix_versions_while_a_date_is_republished(lockgate_home: Path, tmp_path: Path) -> None:
    lake = LakeHook()
    versions = {
        "A": _version(tmp_path, "A", ["north", "south", "east"], 10),
        "B": _version(tmp_path, "B", ["north", "west"], 7),
    }
    expected = {("A", 30), ("B", 14)}
    lake.replace_prefix(versions["A"], PREFIX)
    root = lockgate_home / "lake" / "curated" / "meters"
    seen: list[tuple[str, int]] = []
    partial: list[object] = []
    mixes: list[object] = []
    stop = threading.Event()

    def read_forever() -> None:
        con = duckdb.connect()
        while not stop.is_set():
            for reader in ("duckdb", "pyarrow"):
                try:
                    if reader == "duckdb":
                        rows = con.execute(
                            "SELECT version, count(*) FROM read_parquet($1, hive_partitioning = true) GROUP BY 1",
                            [f"{root}/**/*.parquet"],
                        ).fetchall()
                    else:
                        table = pads.dataset(root, format="parquet", partitioning="hive").to_table()
                        rows = [(v, table["version"].to_pylist().count(v)) for v in set(table["version"].to_pylist())]
                except (duckdb.IOException, FileNotFoundError, OSError):
                    continue  # a file listed before a swap vanished: the read fails, it never mixes
                if len(rows) != 1:
                    mixes.append(rows)  # rows of both versions in one read (or none at all)
                elif (rows[0][0], rows[0][1]) not in expected:
                    partial.append(rows)  # part of one version: the walker raced the swap
                else:
                    seen.append((rows[0][0], rows[0][1]))

    reader = threading.Thread(target=read_forever)
    reader.start()
    deadline = time.monotonic() + 60
    try:
        i = 0
        # republish until the reader has watched both versions come and go a few times
        while time.monotonic() < deadline and min(sum(v == name for v, _ in seen) for name in "AB") < 5:
            lake.replace_prefix(versions["B" if i % 2 == 0 else "A"], PREFIX)
            i += 1
            time.sleep(0.005)
    finally:
        stop.set()
        reader.join()
    assert mixes == []
    assert min(sum(v == name for v, _ in seen) for name in "AB") >= 5  # both versions really came and went


def test_a_killed_publish_leaves_nothing_visible_and_is_cleaned_up(lockgate_home: Path, tmp_path: Path) -> None:
    lake = LakeHook()
    lake.replace_prefix(_version(tmp_path, "A", ["north"], 3), PREFIX)
    # what a run killed half-way through building its new tree leaves behind
    staging = lockgate_home / "lake" / ".staging"
    import hashlib

    leftover = staging / f"{hashlib.sha256(PREFIX.encode()).hexdigest()[:16]}-killed"
    (leftover / "region=west").mkdir(parents=True)
    (leftover / "region=west" / "part-0.parquet").write_bytes(b"half written")
    assert [o.key for o in lake.list("curated/meters")] == [f"{PREFIX}/region=north/part-0.parquet"]
    lake.replace_prefix(_version(tmp_path, "B", ["south"], 2), PREFIX)
    assert not leftover.exists()
    assert [o.key for o in lake.list("curated/meters")] == [f"{PREFIX}/region=south/part-0.parquet"]
    lake.replace_prefix(None, PREFIX)  # an empty day replaces the date with nothing
    assert lake.list("curated/meters") == []
