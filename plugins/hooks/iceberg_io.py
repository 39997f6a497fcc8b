"""pyiceberg's FileIO for an S3 lake: every object Iceberg writes carries server-side encryption.

Kept apart from :mod:`lockgate.hooks.iceberg` so that importing the catalog hook (DAG files do,
through the operators) does not import pyarrow; pyiceberg imports this module by name
(catalog property ``py-io-impl``) when it opens a table.
"""

from __future__ import annotations

import os
import tempfile
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from pyiceberg.io.pyarrow import PyArrowFile, PyArrowFileIO

if TYPE_CHECKING:
    from pyiceberg.io import OutputStream

#: the properties pyiceberg's own fsspec FileIO reads the encryption from
SSE = "s3.server-side-encryption"
SSE_KMS_KEY = "s3.sse-kms-key-id"
#: the Airflow aws connection whose S3 client writes
AWS_CONN = "lockgate.aws-conn-id"


# -- FileIO -------------------------------------------------------------------------------------


class _EncryptedUpload:
    """An output stream that spools to a local file and uploads it, with SSE, on close.

    Iceberg writes metadata JSON, manifests and manifest lists through this; pyarrow's S3
    filesystem cannot set server-side encryption headers, boto3 can.
    """

    def __init__(self, client: Any, bucket: str, key: str, extra: dict[str, str]) -> None:
        self._client, self._bucket, self._key, self._extra = client, bucket, key, extra
        self._spool = tempfile.NamedTemporaryFile(prefix="lockgate-iceberg-", delete=False)  # noqa: SIM115

    def write(self, data: bytes) -> int:
        return self._spool.write(data)

    def tell(self) -> int:
        return self._spool.tell()

    def close(self) -> None:
        if self._spool.closed:
            return
        self._spool.close()
        try:
            self._client.upload_file(self._spool.name, self._bucket, self._key, ExtraArgs=dict(self._extra))
        finally:
            os.unlink(self._spool.name)

    def __enter__(self) -> _EncryptedUpload:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # a failed write publishes nothing
            self._spool.close()
            os.unlink(self._spool.name)


class _EncryptedOutputFile(PyArrowFile):
    def __init__(self, io: LakeFileIO, location: str, **kwargs: Any) -> None:
        super().__init__(location=location, **kwargs)
        self._io = io

    def create(self, overwrite: bool = False) -> OutputStream:
        if not overwrite and self.exists():
            raise FileExistsError(f"Cannot create file, already exists: {self.location}")
        bucket, _, key = self.location.split("://", 1)[1].partition("/")
        stream: Any = _EncryptedUpload(self._io.s3_client, bucket, key, self._io.sse_args)
        return cast("OutputStream", stream)


class LakeFileIO(PyArrowFileIO):
    """pyiceberg's pyarrow FileIO, with S3 writes going through boto3 with server-side encryption.

    Reads and deletes stay pyarrow's. The S3 client is the amazon provider's for the aws
    connection named by the ``lockgate.aws-conn-id`` property; the SSE arguments come from the
    ``s3.server-side-encryption`` and ``s3.sse-kms-key-id`` properties (the names pyiceberg's own
    fsspec FileIO uses).
    """

    @cached_property
    def s3_client(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.properties.get(AWS_CONN, "aws_default")).get_conn()

    @cached_property
    def sse_args(self) -> dict[str, str]:
        args = {"ServerSideEncryption": self.properties.get(SSE, "AES256")}
        if key := self.properties.get(SSE_KMS_KEY):
            args["SSEKMSKeyId"] = key
        return args

    def new_output(self, location: str) -> PyArrowFile:
        scheme, netloc, path = self.parse_location(location, self.properties)
        if scheme not in ("s3", "s3a", "s3n"):
            return super().new_output(location)
        return _EncryptedOutputFile(
            self, location, fs=self.fs_by_scheme(scheme, netloc), path=path, buffer_size=1024 * 1024
        )
