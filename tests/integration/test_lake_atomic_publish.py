"""Republishing a date while readers read it: what each kind of reader sees, on both backends.

Two versions of one date alternate (A: 3 regions x 10 rows, B: 2 or 3 regions x 7 rows, every row
tagged with its version) while a thread reads the date again and again:

* the readers of the published file lists must return exactly A or exactly B, always, on a local
  lake and on S3: ``LakeHook.published_files`` (the manifest), DuckDB
  ``read_parquet(LakeHook.published_uris(...), hive_partitioning = true)``, and the
  ``pyarrow.dataset`` of ``LakeHook.published_dataset`` (scanned by pyarrow, and by DuckDB on S3).
  A read that a publish overtakes (its files replaced before it opened them) fails with "file
  not found" and is counted as a retry; it never returns rows;
* path-walking readers (DuckDB ``read_parquet('.../**/*.parquet', hive_partitioning = true)``,
  ``pyarrow.dataset`` over the folder) on a local lake are not atomic against a swap (see
  ``LakeHook.replace_prefix``: both stat listed names by path and skip the ones that vanished).
  What is checked is what holds: they read whole versions while no publish falls into a walk,
  and a read a publish falls into holds no file twice and nothing but A's or B's rows; how often
  that happened is printed, not asserted, since it depends on the machine's timing;
* a path-walker on S3 cannot be given atomicity either (no rename, no multi-object commit): what
  is guaranteed and checked is that every read it completes holds all rows of A or all rows of
  B, never only part of a version.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from lockgate.hooks.lake import STAGING, LakeHook, content_name, dump_json
from tests.support.s3 import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, REGION, lake_conn_env

pytestmark = pytest.mark.integration

DATASET = "curated/meters"
PREFIX = f"{DATASET}/ds=2026-01-02"
Layout = dict[str, tuple[list[str], int]]
#: version -> (regions, rows per region): a republish that changes the date's partition folders
VERSIONS: Layout = {"A": (["north", "south", "east"], 10), "B": (["north", "west"], 7)}
#: a republish that keeps them (the usual rerun: same regions, other rows)
SAME_FOLDERS: Layout = {"A": (["north", "south", "east"], 10), "B": (["north", "south", "east"], 7)}
#: reads of each version every reader must have completed before the publishing stops (a local
#: publish is cheap, so the local readers race many more swaps than the S3 ones)
ENOUGH = {"local": 100, "s3": 3}


def _version(root: Path, name: str, layout: Layout = VERSIONS) -> Path:
    """A ds=<date> tree as PartitionOperator builds it: content-named files plus ``_manifest.json``."""
    regions, rows = layout[name]
    tree = root / name
    files = []
    for region in regions:
        folder = tree / f"region={region}"
        folder.mkdir(parents=True)
        written = folder / "part-0.parquet"
        pq.write_table(pa.table({"version": [name] * rows, "n": list(range(rows))}), written)
        path = written.rename(folder / content_name("part", written, ".parquet"))
        key = f"{PREFIX}/{path.relative_to(tree).as_posix()}"
        files.append({"key": key, "rows": rows, "bytes": path.stat().st_size})
    (tree / "_manifest.json").write_text(dump_json({"version": name, "files": files}))
    return tree


def _counts(versions: list[Any]) -> list[tuple[str, int]]:
    return sorted(Counter(versions).items())


@dataclass
class Watch:
    """What one reader saw: exact versions, anything else, and how many reads failed (retried)."""

    exact: Counter[str] = field(default_factory=Counter)
    other: list[list[tuple[str, int]]] = field(default_factory=list)
    failed: int = 0


def _hammer(
    readers: dict[str, Callable[[], list[tuple[str, int]]]],
    publish: Callable[[int], None],
    enough: int,
    layout: Layout = VERSIONS,
) -> dict[str, Watch]:
    """Publish versions alternately until every reader has read each version ``enough`` times."""
    watches = {name: Watch() for name in readers}
    exact = {(name, len(regions) * rows) for name, (regions, rows) in layout.items()}
    stop = threading.Event()
    errors: list[BaseException] = []

    def read_forever() -> None:
        try:
            while not stop.is_set():
                for name, read in readers.items():
                    try:
                        rows = read()
                    except (duckdb.IOException, FileNotFoundError, OSError):
                        watches[name].failed += 1  # a file listed before a swap vanished: retry
                        continue
                    if len(rows) == 1 and (rows[0][0], rows[0][1]) in exact:
                        watches[name].exact[rows[0][0]] += 1
                    else:
                        watches[name].other.append(rows)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read_forever)
    reader.start()
    # a bound on a wedged test, not a timed assertion: the loop ends when every reader has seen enough
    deadline = time.monotonic() + 240
    try:
        i = 0
        while time.monotonic() < deadline and not errors:
            if all(min(w.exact[v] for v in VERSIONS) >= enough for w in watches.values()):
                break
            publish(i)
            i += 1
    finally:
        stop.set()
        reader.join()
    assert errors == []
    print(f"{i} publishes:", {name: (dict(w.exact), len(w.other), w.failed) for name, w in watches.items()})
    return watches


def _manifest_reader(lake: LakeHook, workdir: Path) -> Callable[[], list[tuple[str, int]]]:
    con = duckdb.connect()

    def read() -> list[tuple[str, int]]:
        files = [str(lake.local_copy(o.key, workdir)) for o in lake.published_files(PREFIX)]
        table = con.execute("SELECT version FROM read_parquet($1)", [files]).fetchall()
        return _counts([v for (v,) in table])

    return read


def _published_readers(lake: LakeHook) -> dict[str, Callable[[], list[tuple[str, int]]]]:
    """The dataset-level readers a user is pointed to: DuckDB over the published URIs (local lake)
    or over the published pyarrow dataset (S3, where DuckDB has no httpfs here), and pyarrow."""
    con = duckdb.connect()

    def duckdb_published() -> list[tuple[str, int]]:
        if lake.is_s3:
            relation = con.from_arrow(lake.published_dataset(DATASET))
            try:
                return _counts([v for (v,) in relation.project("version").fetchall()])
            except duckdb.InvalidInputException as exc:
                if "reading the Arrow source failed" not in str(exc):
                    raise
                raise OSError(str(exc)) from exc  # pyarrow's read failed (an object gone): a retry
        rows = con.execute(
            "SELECT version FROM read_parquet($1, hive_partitioning = true)", [lake.published_uris(DATASET)]
        ).fetchall()
        return _counts([v for (v,) in rows])

    def pyarrow_published() -> list[tuple[str, int]]:
        return _counts(lake.published_dataset(DATASET).to_table(columns=["version"])["version"].to_pylist())

    return {"duckdb_published": duckdb_published, "pyarrow_published": pyarrow_published}


@pytest.mark.parametrize("layout", [SAME_FOLDERS, VERSIONS], ids=["same-folders", "other-folders"])
def test_local_published_readers_are_atomic_while_a_date_is_republished(
    layout: Layout, lockgate_home: Path, tmp_path: Path
) -> None:
    lake = LakeHook()
    trees = {name: _version(tmp_path, name, layout) for name in layout}
    lake.replace_prefix(trees["A"], PREFIX)
    root = lockgate_home / "lake" / DATASET
    con = duckdb.connect()

    def duckdb_glob() -> list[tuple[str, int]]:
        rows = con.execute(
            "SELECT version FROM read_parquet($1, hive_partitioning = true)", [f"{root}/**/*.parquet"]
        ).fetchall()
        return _counts([v for (v,) in rows])

    def pyarrow_dataset() -> list[tuple[str, int]]:
        table = pads.dataset(root, format="parquet", partitioning="hive").to_table()
        # a walk that found no file at all has no columns but the partition keys
        return _counts(table["version"].to_pylist()) if "version" in table.column_names else []

    def publish(i: int) -> None:
        lake.replace_prefix(trees["B" if i % 2 == 0 else "A"], PREFIX)
        # pacing, not timing: rows of two versions in one read would need several publishes of
        # the date inside that one read (see LakeHook.replace_prefix); back-to-back publishes in
        # a tight loop are not what a date ever sees
        time.sleep(0.005)

    atomic = {"manifest": _manifest_reader(lake, tmp_path / "w"), **_published_readers(lake)}
    watches = _hammer({"duckdb": duckdb_glob, "pyarrow": pyarrow_dataset, **atomic}, publish, ENOUGH["local"], layout)
    full = {name: len(regions) * rows for name, (regions, rows) in layout.items()}
    for name, watch in watches.items():
        assert min(watch.exact[v] for v in layout) >= ENOUGH["local"], (name, watch)
        for rows in watch.other:
            # a read a publish fell into: no file read twice, no rows but A's or B's
            assert all(version in full and count <= full[version] for version, count in rows), (name, rows)
    for name in atomic:  # the atomic readers: exactly one version, always
        assert watches[name].other == [], (name, watches[name].other)
    print(
        "path-walker reads a publish fell into (part of a version / rows of two):",
        {
            name: (sum(len(r) < 2 for r in w.other), sum(len(r) >= 2 for r in w.other))
            for name, w in watches.items()
            if name not in atomic
        },
    )
    assert not list((lockgate_home / "lake" / STAGING).iterdir())  # nothing left staged


def test_s3_published_readers_are_atomic_and_path_walkers_never_get_part_of_a_version(
    s3_bucket: str, aws_conn_id: str, moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pyarrow.fs as pafs

    monkeypatch.setenv(*lake_conn_env(f"s3://{s3_bucket}/lake", aws_conn_id))
    lake = LakeHook()
    trees = {name: _version(tmp_path, name) for name in VERSIONS}
    lake.replace_prefix(trees["A"], PREFIX)
    s3fs = pafs.S3FileSystem(
        access_key=FAKE_ACCESS_KEY,
        secret_key=FAKE_SECRET_KEY,
        region=REGION,
        scheme="http",
        endpoint_override=moto_server.removeprefix("http://"),
    )
    walker_reads: list[list[tuple[str, int]]] = []

    def pyarrow_s3_walker() -> list[tuple[str, int]]:
        dataset = pads.dataset(f"{s3_bucket}/lake/{DATASET}", format="parquet", partitioning="hive", filesystem=s3fs)
        rows = _counts(dataset.to_table()["version"].to_pylist())
        walker_reads.append(rows)
        return rows

    atomic = {"manifest": _manifest_reader(LakeHook(), tmp_path / "w"), **_published_readers(LakeHook())}
    watches = _hammer(
        {**atomic, "pyarrow_s3": pyarrow_s3_walker},
        lambda i: lake.replace_prefix(trees["B" if i % 2 == 0 else "A"], PREFIX),
        ENOUGH["s3"],
    )
    for name in atomic:
        assert watches[name].other == [], (name, watches[name].other)
        assert min(watches[name].exact[v] for v in VERSIONS) >= ENOUGH["s3"], name
    # a path-walker on S3: every completed read holds a whole version (plus, while a publish is
    # under way, possibly files of the other one), never a strict part of one
    full = {name: len(regions) * rows for name, (regions, rows) in VERSIONS.items()}
    for rows in walker_reads:
        assert any(dict(rows).get(name) == count for name, count in full.items()), rows
    assert min(watches["pyarrow_s3"].exact[v] for v in VERSIONS) >= ENOUGH["s3"]
    assert lake.list(STAGING) == []  # nothing left staged


def test_a_killed_local_publish_leaves_nothing_visible_and_is_cleaned_up(lockgate_home: Path, tmp_path: Path) -> None:
    lake = LakeHook()
    trees = {name: _version(tmp_path, name) for name in VERSIONS}
    lake.replace_prefix(trees["A"], PREFIX)
    live_a = [o.key for o in lake.list(DATASET)]
    # what a run killed half-way through building its new tree leaves behind
    leftover = lockgate_home / "lake" / STAGING / f"{hashlib.sha256(PREFIX.encode()).hexdigest()[:16]}-killed"
    (leftover / "region=west").mkdir(parents=True)
    (leftover / "region=west" / "part-1.parquet").write_bytes(b"half written")
    assert [o.key for o in lake.list(DATASET)] == live_a  # invisible in the dataset
    lake.replace_prefix(trees["B"], PREFIX)
    assert not leftover.exists()
    assert sorted(o.key for o in lake.list(DATASET)) == sorted(
        [
            f"{PREFIX}/_manifest.json",
            *(f["key"] for f in json.loads((trees["B"] / "_manifest.json").read_text())["files"]),
        ]
    )
    lake.replace_prefix(None, PREFIX)  # an empty day replaces the date with nothing
    assert lake.list(DATASET) == []
    assert not list((lockgate_home / "lake" / STAGING).iterdir())


def test_a_killed_s3_publish_leaves_nothing_visible_and_is_cleaned_up(
    s3_bucket: str, aws_conn_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    monkeypatch.setenv(*lake_conn_env(f"s3://{s3_bucket}/lake", aws_conn_id))
    lake = LakeHook()
    raw = S3Hook(aws_conn_id=aws_conn_id)
    trees = {name: _version(tmp_path, name) for name in VERSIONS}
    lake.replace_prefix(trees["A"], PREFIX)
    live_a = [o.key for o in lake.list(DATASET)]
    # objects a run killed during its upload leaves in the staging area
    tag = hashlib.sha256(PREFIX.encode()).hexdigest()[:16]
    raw.load_string("half written", f"lake/{STAGING}/{tag}/region=west/part-1.parquet", s3_bucket)
    assert [o.key for o in lake.list(DATASET)] == live_a  # invisible in the dataset
    lake.replace_prefix(trees["B"], PREFIX)
    keys = raw.list_keys(bucket_name=s3_bucket, prefix="lake/") or []
    manifest_b = json.loads((trees["B"] / "_manifest.json").read_text())
    assert sorted(keys) == sorted(
        [f"lake/{PREFIX}/_manifest.json", *(f"lake/{f['key']}" for f in manifest_b["files"])]
    )  # the leftover is gone, A's files too, nothing else is there
    assert [o.key for o in lake.published_files(PREFIX)] == [f["key"] for f in manifest_b["files"]]
