"""The same logical date run three times leaves the same lake file set, key for key and byte for byte.

The whole air_quality_daily chain runs three times for one DAG run (as clearing and rerunning it
in Airflow would) on a local lake and on an S3 lake (moto server). After each run every object
under the lake root is listed and hashed without LakeHook; the three listings must be equal.
Curated file names carry no run id, uuid or clock: they are named by their content.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from lockgate.sample_data import generate
from tests.support.pipeline import run_chain
from tests.support.s3 import lake_conn_env, stored_objects

pytestmark = pytest.mark.integration

DS = "2026-01-02"
RUN = "scheduled__2026-01-02T00:00:00+00:00"
CURATED_FILE = re.compile(r"curated/[a-z_]+/ds=2026-01-02/(region=[a-z]+/)?(part-\d{20}\.parquet|_manifest\.json)")


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_three_runs_of_a_date_leave_an_identical_lake(
    backend: str, request: pytest.FixtureRequest, lockgate_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if backend == "s3":
        bucket, aws_conn_id = request.getfixturevalue("s3_bucket"), request.getfixturevalue("aws_conn_id")
        monkeypatch.setenv(*lake_conn_env(f"s3://{bucket}/lake", aws_conn_id))

        def lake_files() -> dict[str, str]:
            objects = stored_objects(aws_conn_id, bucket, "lake/")
            return {key.removeprefix("lake/"): str(meta["sha256"]) for key, meta in objects.items()}

    else:
        root = tmp_path / "lake"
        monkeypatch.setenv(*lake_conn_env(str(root)))

        def lake_files() -> dict[str, str]:
            return {
                p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*"))
                if p.is_file()
            }

    generate(DS, tmp_path / "sources")
    listings = []
    for _ in range(3):
        run_chain(str(tmp_path / "sources"), DS, RUN)
        listings.append(lake_files())

    first = listings[0]
    assert listings[1] == first
    assert listings[2] == first
    curated = sorted(k for k in first if k.startswith("curated/"))
    assert {k.split("/")[1] for k in curated} == {"readings", "stations", "agg_air_quality_daily"}
    assert all(CURATED_FILE.fullmatch(k) for k in curated), curated
    assert not any(k.startswith(".staging/") for k in first)  # no publish leftovers
