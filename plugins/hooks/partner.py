"""Hooks for delivery targets: an HTTP API, a partner's drop folder or bucket, another database.

Each hook owns its connection and the protocol's library does the protocol: retries with backoff
and ``Retry-After`` are urllib3's ``Retry`` mounted on the http provider's ``HttpHook``; S3 writes
are the lake's (the amazon provider's ``S3Hook`` with server-side encryption on every write); the
upsert statement is the common-sql provider's dialect's. Every hook has an embedded default for a
connection that is not defined, so the demo delivers without servers: HTTP batches become JSON
files, a drop goes to a folder, an upsert to a DuckDB file, all under ``$LOCKGATE_HOME``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from lockgate.config import lockgate_home
from lockgate.hooks.lake import LakeHook, safe_key

#: statuses worth another try: rate limited, and the server errors a retry can cure
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: connection extras that are settings, not headers (the http provider sends the others as headers)
_NOT_HEADERS = {"timeout", "verify", "verify_ssl", "proxies", "proxy", "stream", "cert", "max_redirects", "trust_env"}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "root"


@dataclass(frozen=True)
class ApiResponse:
    """What a receiver answered to one batch, after urllib3's retries."""

    status: int
    text: str
    #: the statuses of the attempts urllib3 retried before this answer (429, 500...)
    retried: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None


class ApiDeliveryHook(BaseHook):
    """POST JSON batches to an Airflow http connection (host, port, schema; login/password for
    basic auth; extras are headers, as for the http provider's ``HttpHook``).

    Retries: urllib3's ``Retry`` on the ``HttpHook``'s session: up to ``max_retries`` retries of a
    429 or 5xx answer or a dropped connection, waiting what ``Retry-After`` says when the receiver
    sends it, else ``backoff_seconds * 2**(n-1)`` (at most ``max_backoff_seconds``). POST is
    retried on purpose: every batch carries an ``Idempotency-Key``.

    When the connection is not defined, batches are written as JSON files under
    ``$LOCKGATE_HOME/outbox/<conn id>/`` instead (the embedded default), answered 200.
    """

    conn_name_attr = "http_conn_id"
    default_conn_name = "http_default"
    conn_type = "http"
    hook_name = "Lockgate delivery API"

    def __init__(
        self,
        http_conn_id: str,
        *,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.http_conn_id = http_conn_id
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout_seconds = timeout_seconds

    @cached_property
    def connection(self) -> Any | None:
        try:
            return self.get_connection(self.http_conn_id)
        except AirflowNotFoundException:
            return None

    @property
    def outbox(self) -> Path:
        """Where batches go when the connection is not defined."""
        return lockgate_home() / "outbox" / _slug(self.http_conn_id)

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]`` of the receiver, or the outbox as a ``file://`` URL."""
        conn = self.connection
        if conn is None:
            return f"file://{self.outbox}"
        host = conn.host or "localhost"
        base = host if "://" in host else f"{conn.schema or 'http'}://{host}"
        return f"{base}:{conn.port}" if conn.port else base

    def secrets(self) -> list[str]:
        """Values that must never appear in a log or the audit: the password (and its basic-auth
        encoding) and every header value."""
        conn = self.connection
        if conn is None:
            return []
        headers = [str(v) for k, v in conn.extra_dejson.items() if k not in _NOT_HEADERS]
        # the Authorization header basic auth sends (a receiver echoing it would leak the password)
        basic = base64.b64encode(f"{conn.login}:{conn.password}".encode()).decode() if conn.password else None
        return [s for s in (conn.password, basic, *headers) if s]

    def retry(self) -> Any:
        """The urllib3 retry policy (Retry-After honoured on 429 and 503, backoff otherwise)."""
        from urllib3.util.retry import Retry

        return Retry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            backoff_factor=self.backoff_seconds,
            backoff_max=self.max_backoff_seconds,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # POST too: batches are idempotent by their key
            respect_retry_after_header=True,
            raise_on_status=False,  # the last answer comes back; the operator records it
        )

    def post(self, endpoint: str, body: bytes, headers: dict[str, str], *, name: str) -> ApiResponse:
        """Send one batch; ``name`` names the outbox file when the connection is not defined."""
        if self.connection is None:
            return self._to_outbox(endpoint, body, headers, name)
        from airflow.providers.http.hooks.http import HttpHook
        from requests.adapters import HTTPAdapter

        hook = HttpHook(method="POST", http_conn_id=self.http_conn_id, adapter=HTTPAdapter(max_retries=self.retry()))
        response = hook.run(
            endpoint,
            data=cast("Any", body),  # bytes: requests sends them as they are
            headers={"Content-Type": "application/json", **headers},
            extra_options={"check_response": False, "timeout": self.timeout_seconds},
        )
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        retried = tuple(int(h.status) for h in history if h.status is not None)
        return ApiResponse(int(response.status_code), response.text, retried)

    def outbox_for(self, endpoint: str) -> Path:
        """The folder an endpoint's batches go to when the connection is not defined."""
        return self.outbox / _slug(endpoint)

    def _to_outbox(self, endpoint: str, body: bytes, headers: dict[str, str], name: str) -> ApiResponse:
        folder = self.outbox_for(endpoint)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{_slug(name)}.json"
        tmp = target.with_name(f".tmp-{target.name}")
        document = {"headers": headers, "body": json.loads(body)}
        tmp.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(target)
        return ApiResponse(200, json.dumps({"written": str(target)}))


class PartnerDropHook(LakeHook):
    """A partner's drop zone: an ``s3://bucket/prefix`` or a folder, like a lake (same connection
    extras: ``url``, ``aws_conn_id``, ``sse``/``sse_kms_key_id``), written with the lake's
    encrypted S3 path. When the connection is not defined: ``$LOCKGATE_HOME/partner_drops/<conn id>``.

    :param partner_conn_id: the Airflow connection of the drop zone.
    """

    conn_name_attr = "partner_conn_id"
    default_conn_name = "partner_default"
    conn_type = "lockgate_partner_drop"
    hook_name = "Lockgate partner drop"

    def __init__(self, partner_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(lake_conn_id=partner_conn_id, **kwargs)
        self.partner_conn_id = partner_conn_id

    @cached_property
    def _settings(self) -> dict[str, Any]:
        try:
            conn = self.get_connection(self.partner_conn_id)
        except AirflowNotFoundException:
            return {"url": str(lockgate_home() / "partner_drops" / _slug(self.partner_conn_id))}
        extra = conn.extra_dejson
        url = extra.get("url") or conn.host
        if not url:
            raise ValueError(f"connection {self.partner_conn_id!r} has no extra 'url' (s3://bucket/prefix or a folder)")
        return {**extra, "url": url}

    def drop(self, local_file: Path, folder: str, name: str, marker: dict[str, Any]) -> str:
        """Publish one file as ``folder/name``, whole or not at all; returns its key.

        The folder's ``_SUCCESS`` goes first (the folder is incomplete from now on), the file is
        written under a temporary name (``_tmp-<name>``: partners skip names starting with ``_``),
        moved to its final name (S3: a server-side copy, encrypted like the upload, then the
        temporary object is deleted), and ``_SUCCESS`` (``marker`` as JSON) is written last: a
        partner that waits for it never reads a partial or stale file.
        """
        final = safe_key(folder, name)
        temporary = safe_key(folder, f"_tmp-{name}")
        success = safe_key(folder, "_SUCCESS")
        self.delete([success])
        self.put_file(local_file, temporary)
        if self.is_s3:
            self._move_s3(temporary, final)
        else:
            self._local_path(temporary).replace(self._local_path(final))
        self.write_json(success, marker)
        return final

    def _move_s3(self, source: str, target: str) -> None:
        """S3 has no rename: a server-side copy, encrypted like every write here (the managed copy
        turns multipart above 5 GB), then the source goes."""
        bucket = self._bucket_prefix[0]
        self.s3_hook.get_conn().copy(
            {"Bucket": bucket, "Key": self._s3_key(source)}, bucket, self._s3_key(target), ExtraArgs=dict(self.sse_args)
        )
        self.delete([source])


class TableUpsertHook(BaseHook):
    """Upsert rows into a table of another database, in one transaction.

    A defined connection is opened through its provider's hook (common-sql's ``DbApiHook``:
    postgres, mysql, ...), and the statement is that hook's dialect's upsert (PostgreSQL:
    ``INSERT ... ON CONFLICT (key) DO UPDATE``). When the connection is not defined, the table
    lives in the DuckDB file ``$LOCKGATE_HOME/origin/<conn id>.duckdb`` and is created from the
    contract when absent (the embedded default).
    """

    conn_name_attr = "sql_conn_id"
    default_conn_name = "sql_default"
    conn_type = "generic"
    hook_name = "Lockgate upsert target"

    def __init__(self, sql_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sql_conn_id = sql_conn_id

    @cached_property
    def connection(self) -> Any | None:
        try:
            return self.get_connection(self.sql_conn_id)
        except AirflowNotFoundException:
            return None

    @property
    def duckdb_path(self) -> Path:
        return lockgate_home() / "origin" / f"{_slug(self.sql_conn_id)}.duckdb"

    def lineage(self, table: str) -> tuple[str, str]:
        """(namespace, name) of the table by the OpenLineage naming spec."""
        from lockgate.delivery import sqlalchemy_lineage

        conn = self.connection
        if conn is None:
            return f"duckdb://{self.duckdb_path}", f"{self.duckdb_path.stem}.main.{table}"
        return sqlalchemy_lineage(str(conn.conn_type), conn.host, conn.port, conn.schema, table)

    def upsert(
        self,
        table: str,
        columns: Sequence[str],
        chunks: Iterable[Sequence[Sequence[Any]]],
        key: Sequence[str],
        *,
        create: Callable[[], str] | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Insert or update the rows by ``key``, all in one transaction; returns the rows written.

        ``chunks``: the rows a chunk at a time (one ``executemany`` each: memory holds one chunk,
        the transaction holds them all). ``before_commit``: called after the last chunk, inside the
        transaction; raising rolls everything back. ``create``: for the embedded default, a callable
        returning the CREATE TABLE statement.
        """
        if self.connection is None:
            return self._upsert_duckdb(table, columns, chunks, key, create, before_commit)
        hook = self.connection.get_hook()
        written = 0
        db = hook.get_conn()
        try:
            if hasattr(db, "autocommit"):
                db.autocommit = False
            cursor = db.cursor()
            sql = hook.dialect.generate_replace_sql(table, list(columns), list(columns), replace_index=list(key))
            for chunk in chunks:
                if chunk:
                    cursor.executemany(sql, [tuple(r) for r in chunk])
                    written += len(chunk)
            if before_commit is not None:
                before_commit()
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()
        return written

    def _upsert_duckdb(
        self,
        table: str,
        columns: Sequence[str],
        chunks: Iterable[Sequence[Sequence[Any]]],
        key: Sequence[str],
        create: Callable[[], str] | None,
        before_commit: Callable[[], None] | None,
    ) -> int:
        import duckdb

        from lockgate.sql import ident

        self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.duckdb_path))
        try:
            con.execute("SET TimeZone='UTC'")
            con.begin()
            if create is not None:
                con.execute(create())
            names = ", ".join(ident(c) for c in columns)
            marks = ", ".join("?" for _ in columns)
            updates = ", ".join(f"{ident(c)} = excluded.{ident(c)}" for c in columns if c not in key)
            action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
            sql = (
                f"INSERT INTO {ident(table)} ({names}) VALUES ({marks}) "
                f"ON CONFLICT ({', '.join(ident(k) for k in key)}) {action}"
            )
            written = 0
            for chunk in chunks:
                if chunk:
                    con.executemany(sql, [list(r) for r in chunk])
                    written += len(chunk)
            if before_commit is not None:
                before_commit()
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()
        return written
