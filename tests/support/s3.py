"""S3 helpers for tests: a local moto server and the Airflow ``aws`` connection pointing at it.

Nothing here ever talks to real AWS: :data:`FAKE_AWS_ENV` (fake keys, no profile, no config files,
no instance metadata) is applied for the whole test session by ``tests/conftest.py``, and the
connection below carries an explicit ``endpoint_url``.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Self

from tests.support.net import LOOPBACK

#: Default Airflow connection id used by the ``aws_conn_id`` / ``s3_bucket`` fixtures.
TEST_AWS_CONN_ID = "lockgate_test_aws"
FAKE_ACCESS_KEY = "testing-access-key"
FAKE_SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"

#: Environment that keeps boto3/botocore away from any real credentials or endpoints.
FAKE_AWS_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
    "AWS_SESSION_TOKEN": "testing-session-token",
    "AWS_SECURITY_TOKEN": "testing-session-token",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: Variables removed for the session (they would point boto somewhere else).
UNSET_AWS_ENV: tuple[str, ...] = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


def aws_conn_json(endpoint_url: str) -> str:
    """JSON form of an Airflow ``aws`` connection talking to ``endpoint_url`` with fake keys."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": FAKE_ACCESS_KEY,
            "password": FAKE_SECRET_KEY,
            "extra": {
                "endpoint_url": endpoint_url,
                "region_name": REGION,
                # moto on an IP address: bucket names cannot go in the host name.
                "config_kwargs": {"s3": {"addressing_style": "path"}},
            },
        }
    )


def aws_conn_env(endpoint_url: str, conn_id: str = TEST_AWS_CONN_ID) -> dict[str, str]:
    """``{"AIRFLOW_CONN_<ID>": <json>}`` for an ``aws`` connection to ``endpoint_url``.

    Use with ``for k, v in aws_conn_env(moto_server, "my_conn").items(): monkeypatch.setenv(k, v)``.
    """
    return {f"AIRFLOW_CONN_{conn_id.upper()}": aws_conn_json(endpoint_url)}


def lake_conn_env(url: str, aws_conn_id: str | None = None, **extra: str) -> tuple[str, str]:
    """``AIRFLOW_CONN_LOCKGATE_LAKE`` in Airflow's JSON form: the lake at ``url`` (a folder or
    ``s3://bucket/prefix``, written with ``aws_conn_id``), plus any other ``extra`` settings.

    Use with ``monkeypatch.setenv(*lake_conn_env(url, aws_conn_id))``.
    """
    settings = {"url": url, **({"aws_conn_id": aws_conn_id} if aws_conn_id else {}), **extra}
    return "AIRFLOW_CONN_LOCKGATE_LAKE", json.dumps({"conn_type": "generic", "extra": settings})


def unique_bucket_name(prefix: str = "lockgate-t-") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


class MotoS3Server:
    """``moto.server.ThreadedMotoServer`` on 127.0.0.1, on a port picked by the OS."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint_url = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def empty_and_delete_bucket(hook: object, bucket: str) -> None:
    """Delete every object (all versions are irrelevant on moto defaults) and then the bucket."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    assert isinstance(hook, S3Hook)
    if not hook.check_for_bucket(bucket):
        return
    keys = hook.list_keys(bucket_name=bucket) or []
    for start in range(0, len(keys), 1000):
        hook.delete_objects(bucket=bucket, keys=keys[start : start + 1000])
    hook.get_conn().delete_bucket(Bucket=bucket)


@contextlib.contextmanager
def temporary_bucket(aws_conn_id: str = TEST_AWS_CONN_ID) -> Iterator[str]:
    """Create a uniquely named bucket through ``S3Hook``; empty and delete it afterwards."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    hook = S3Hook(aws_conn_id=aws_conn_id)
    bucket = unique_bucket_name()
    hook.create_bucket(bucket_name=bucket, region_name=REGION)
    try:
        yield bucket
    finally:
        empty_and_delete_bucket(S3Hook(aws_conn_id=aws_conn_id), bucket)


def create_kms_key(aws_conn_id: str = TEST_AWS_CONN_ID) -> tuple[str, str]:
    """A new symmetric key in the (moto) KMS behind ``aws_conn_id``: ``(key id, key ARN)``."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    kms = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="kms").get_conn()
    metadata = kms.create_key(Description="lockgate test lake key")["KeyMetadata"]
    return str(metadata["KeyId"]), str(metadata["Arn"])


def stored_objects(aws_conn_id: str, bucket: str, prefix: str) -> dict[str, dict[str, str | None]]:
    """Every object under ``prefix``, read back from the S3 API without LakeHook.

    key -> ``{"sha256": ..., "sse": ServerSideEncryption, "kms_key": SSEKMSKeyId}`` (the last two
    from ``HeadObject``, i.e. what S3 itself reports for the stored object).
    """
    import hashlib

    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    client = S3Hook(aws_conn_id=aws_conn_id).get_conn()
    out: dict[str, dict[str, str | None]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            head = client.head_object(Bucket=bucket, Key=key)
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            out[key] = {
                "sha256": hashlib.sha256(body).hexdigest(),
                "sse": head.get("ServerSideEncryption"),
                "kms_key": head.get("SSEKMSKeyId"),
            }
    return out
