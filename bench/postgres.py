"""The PostgreSQL every load is measured against: the machine's server, or a throwaway one.

``BENCH_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth) names the
server; the benchmark creates the database ``lockgate_bench`` (or ``$BENCH_PG_DATABASE``) on it and
drops it at the end. When nothing answers there, a throwaway server is started from the local PostgreSQL binaries with
``tests/support/pg.py`` (its settings differ - fsync off - and are recorded with the results).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from tests.support import pg as test_pg

DEFAULT_SERVER_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: ``BENCH_PG_DATABASE`` lets two benchmark runs share a server without dropping each other's database
DATABASE = os.environ.get("BENCH_PG_DATABASE") or "lockgate_bench"
SETTINGS = ("shared_buffers", "fsync", "synchronous_commit", "wal_level", "max_wal_size", "work_mem")


@dataclass
class Warehouse:
    """The benchmark database: its URL, and how it was obtained."""

    server_dsn: str
    dsn: str
    origin: str  # "machine" or "throwaway"

    def execute(self, *statements: str) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    def drop_tables(self, *tables: str) -> None:
        self.execute(*(f"DROP TABLE IF EXISTS {sql_ident(t)}" for t in tables))

    def checkpoint(self) -> None:
        """Flush the previous measurement's dirty buffers so it does not bill the next one."""
        self.execute("CHECKPOINT")

    def info(self) -> dict[str, Any]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            version = conn.execute("SELECT version()").fetchone()
            settings = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SETTINGS}  # type: ignore[index]
        psql = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
        return {
            "origin": self.origin,
            "dsn": test_pg.redact(self.dsn),
            "version": version[0] if version else None,
            "settings": settings,
            "psql": psql,
        }


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def warehouse(say: Any = print) -> Iterator[Warehouse]:
    """Create ``lockgate_bench`` (dropping a leftover one), yield it, drop it afterwards."""
    server_dsn = os.environ.get("BENCH_PG_DSN") or DEFAULT_SERVER_DSN
    throwaway = None
    origin = "machine"
    if not test_pg.can_connect(server_dsn):
        say(f"no PostgreSQL answers at {test_pg.redact(server_dsn)}; starting a throwaway server")
        throwaway = test_pg.start_throwaway_postgres()
        server_dsn = throwaway.dsn()
        origin = "throwaway"
    try:
        test_pg.drop_database(server_dsn, DATABASE)
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        try:
            yield Warehouse(server_dsn, test_pg.dsn_for_database(server_dsn, DATABASE), origin)
        finally:
            test_pg.drop_database(server_dsn, DATABASE)
    finally:
        if throwaway is not None:
            throwaway.stop()
