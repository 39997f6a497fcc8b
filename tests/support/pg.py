"""PostgreSQL helpers for tests.

* :func:`start_throwaway_postgres` -- ``initdb`` + ``pg_ctl start`` of a private, disposable server
  from the local Debian binaries (``/usr/lib/postgresql/<major>/bin``), listening on 127.0.0.1 only,
  trust auth, superuser ``postgres``, durability switched off for speed.  As root, the server
  programs (which refuse to run as root) are run as the ``postgres`` system user.
* :func:`temporary_database` -- ``CREATE DATABASE lockgate_t_<hex>`` on a server, ``DROP ... WITH (FORCE)``
  afterwards; yields a ``postgresql://`` URL for it.
* :func:`airflow_conn_env` -- ``(AIRFLOW_CONN_<ID>, postgres://...)`` pair for an Airflow connection.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests.support.net import LOOPBACK, free_port

#: Env var naming an existing server to use instead of a throwaway one (admin DSN, any database).
PG_DSN_ENV = "LOCKGATE_TEST_PG_DSN"
#: Optional override of the directory holding initdb/pg_ctl/postgres.
PG_BINDIR_ENV = "LOCKGATE_TEST_PG_BINDIR"
#: Prefix of every database created by :func:`temporary_database`.
TEST_DB_PREFIX = "lockgate_t_"
PG_SYSTEM_USER = "postgres"
PG_SUPERUSER = "postgres"

_REQUIRED_PROGRAMS = ("initdb", "pg_ctl", "postgres")


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL: binaries missing, or running as root without a ``postgres`` user."""


# --------------------------------------------------------------------------------------------- DSNs


def to_url(dsn: str, *, dbname: str | None = None, scheme: str = "postgresql") -> str:
    """Normalise a libpq DSN (URL or ``key=value`` form) to a URL, optionally switching the database.

    Unix-socket hosts (``/path``) are kept as a ``host=`` query parameter, like libpq does.
    """
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    if dbname is not None:
        params["dbname"] = dbname
    host = str(params.pop("host", "") or "")
    port = str(params.pop("port", "") or "")
    user = str(params.pop("user", "") or "")
    password = str(params.pop("password", "") or "")
    database = str(params.pop("dbname", "") or "")
    query: dict[str, str] = {k: str(v) for k, v in params.items()}
    if host.startswith("/") or "," in host:
        query = {"host": host, **query}
        host = ""
    auth = ""
    if user:
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        auth += "@"
    netloc = auth + (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    url = f"{scheme}://{netloc}/{quote(database, safe='')}"
    if query:
        url += "?" + urlencode(query)
    return url


def dsn_for_database(server_dsn: str, dbname: str) -> str:
    """Same server and credentials as ``server_dsn``, database ``dbname``, as a ``postgresql://`` URL."""
    return to_url(server_dsn, dbname=dbname)


def redact(dsn: str) -> str:
    """The DSN (as a URL) with any password replaced by ``***``, for error messages."""
    with contextlib.suppress(psycopg.Error):
        dsn = to_url(dsn)
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)


def airflow_conn_env(conn_id: str, dsn: str) -> tuple[str, str]:
    """Env var ``(name, value)`` defining Airflow connection ``conn_id`` for the PostgreSQL ``dsn``.

    Use with ``monkeypatch.setenv(*airflow_conn_env("lockgate_pg", pg_dsn))``.

    Airflow's connection type for PostgreSQL is ``postgres``.  The Airflow 3 task SDK's
    ``Connection.from_uri`` does map a ``postgresql://`` scheme to ``conn_type="postgres"``
    (``Connection._normalize_conn_type``), but ``postgres://`` is the canonical form
    (what ``Connection.get_uri()`` produces) and is what older parsers expect, so we emit that.
    The database goes in the URI path (Airflow's ``schema`` field, which ``PostgresHook`` uses as
    the database name); extra libpq parameters become query parameters (connection extras).
    """
    if not conn_id:
        raise ValueError("conn_id must not be empty")
    return f"AIRFLOW_CONN_{conn_id.upper()}", to_url(dsn, scheme="postgres")


def can_connect(dsn: str, timeout: int = 3) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=timeout, autocommit=True) as conn:
            conn.execute("select 1")
        return True
    except psycopg.Error:
        return False


# --------------------------------------------------------------------------------------- databases


def unique_db_name(prefix: str = TEST_DB_PREFIX) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def create_database(server_dsn: str, dbname: str) -> str:
    """Create ``dbname`` on the server of ``server_dsn``; return a DSN URL for it."""
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return dsn_for_database(server_dsn, dbname)


def drop_database(server_dsn: str, dbname: str) -> None:
    """Drop ``dbname`` even if sessions are still connected to it (PostgreSQL 13+)."""
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@contextlib.contextmanager
def temporary_database(server_dsn: str, prefix: str = TEST_DB_PREFIX) -> Iterator[str]:
    """Fresh uniquely named database on ``server_dsn`` for the duration of the block; yields its URL."""
    dbname = unique_db_name(prefix)
    dsn = create_database(server_dsn, dbname)
    try:
        yield dsn
    finally:
        drop_database(server_dsn, dbname)


# ------------------------------------------------------------------------------ throwaway server


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> (15,) or (9, 6)
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_pg_bindir() -> Path:
    """Directory with ``initdb``, ``pg_ctl`` and ``postgres``: ``$LOCKGATE_TEST_PG_BINDIR``, else the
    highest ``/usr/lib/postgresql/*/bin``, else wherever ``initdb`` is on ``PATH``."""
    candidates: list[Path] = []
    if override := os.environ.get(PG_BINDIR_ENV):
        candidates.append(Path(override))
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True))
    if on_path := shutil.which("initdb"):
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / prog).is_file() and os.access(bindir / prog, os.X_OK) for prog in _REQUIRED_PROGRAMS):
            return bindir
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found under /usr/lib/postgresql/*/bin "
        f"or on PATH; install Debian's postgresql package, set {PG_BINDIR_ENV}, or point {PG_DSN_ENV} "
        "at a running server"
    )


def _run_as_user() -> pwd.struct_passwd | None:
    """The account to run the server programs as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            "running as root, and initdb/postgres refuse to run as root, but there is no "
            f"'{PG_SYSTEM_USER}' system user to run them as; create it (e.g. `useradd --system "
            f"{PG_SYSTEM_USER}`, or install Debian's postgresql package), run the tests as a "
            f"non-root user, or set {PG_DSN_ENV} to a running server"
        ) from None


def _clean_env() -> dict[str, str]:
    # PG* variables (PGDATA, PGPORT, PGHOST...) would silently change what initdb/pg_ctl do.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


@dataclass
class ThrowawayPostgres:
    """A private PostgreSQL server living in ``root``; :meth:`stop` shuts it down and deletes ``root``."""

    bindir: Path
    root: Path
    port: int
    host: str = LOOPBACK
    user: str = PG_SUPERUSER
    run_as: str | None = None
    stopped: bool = field(default=False, init=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def command(self, args: Sequence[str]) -> list[str]:
        """``args`` wrapped so that they run as :attr:`run_as` (when set)."""
        return _as_user(self.run_as, args)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(no server log: {exc})"

    def stop(self) -> None:
        """Stop the server (fast shutdown, then SIGKILL via pg_ctl if needed) and delete its files."""
        if self.stopped:
            return
        self.stopped = True
        try:
            if (self.datadir / "postmaster.pid").exists():
                pg_ctl = str(self.bindir / "pg_ctl")
                for mode in ("fast", "immediate"):
                    result = subprocess.run(
                        self.command(
                            [
                                pg_ctl,
                                "-D",
                                str(self.datadir),
                                "-m",
                                mode,
                                "-w",
                                "-t",
                                "30",
                                "stop",
                            ]
                        ),
                        cwd=self.root,
                        env=_clean_env(),
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if result.returncode == 0:
                        break
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _as_user(user: str | None, args: Sequence[str]) -> list[str]:
    if user is None:
        return list(args)
    if runuser := shutil.which("runuser"):
        return [runuser, "-u", user, "--", *args]
    if su := shutil.which("su"):
        return [su, user, "-s", "/bin/sh", "-c", shlex.join(args)]
    raise PostgresUnavailable(f"running as root but neither runuser nor su is available to switch to '{user}'")


def _run(cmd: Sequence[str], *, cwd: Path, what: str, timeout: float) -> None:
    result = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}): {shlex.join(cmd)}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )


def start_throwaway_postgres(
    *,
    port: int | None = None,
    bindir: Path | None = None,
    timeout: float = 60.0,
    attempts: int = 3,
) -> ThrowawayPostgres:
    """initdb + start a disposable PostgreSQL server on 127.0.0.1; call ``.stop()`` (or use ``with``).

    Trust auth for superuser ``postgres``; ``fsync``, ``synchronous_commit`` and ``full_page_writes``
    are off -- never put data you care about in it.  The unix socket lives in the temp dir so it
    never collides with a system server.  If the chosen port turns out to be taken, another free
    port is tried (up to ``attempts`` times) unless ``port`` was given explicitly.
    """
    bindir = bindir or find_pg_bindir()
    account = _run_as_user()
    run_as = account.pw_name if account else None

    root = Path(tempfile.mkdtemp(prefix="lockgate-pg-", dir="/tmp" if Path("/tmp").is_dir() else None))
    server = ThrowawayPostgres(bindir=bindir, root=root, port=port or free_port(), run_as=run_as)
    atexit.register(server.stop)
    try:
        server.socket_dir.mkdir()
        if account is not None:
            for path in (root, server.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        _run(
            server.command(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(server.datadir),
                    "-U",
                    PG_SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            cwd=root,
            what="initdb",
            timeout=timeout,
        )
        for attempt in range(1, attempts + 1):
            options = " ".join(
                [
                    f"-c listen_addresses={LOOPBACK}",
                    f"-c port={server.port}",
                    f"-c unix_socket_directories={server.socket_dir}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                    "-c shared_buffers=64MB",
                    "-c max_wal_size=1GB",
                    "-c log_min_messages=warning",
                ]
            )
            try:
                _run(
                    server.command(
                        [
                            str(bindir / "pg_ctl"),
                            "-D",
                            str(server.datadir),
                            "-l",
                            str(server.logfile),
                            "-w",
                            "-t",
                            str(int(timeout)),
                            "-o",
                            options,
                            "start",
                        ]
                    ),
                    cwd=root,
                    what="pg_ctl start",
                    timeout=timeout + 10,
                )
            except RuntimeError as exc:
                port_taken = "could not bind" in server.log_tail() or "Address already in use" in server.log_tail()
                if port is None and port_taken and attempt < attempts:
                    server.port = free_port()
                    continue
                raise RuntimeError(f"{exc}\n--- server log ---\n{server.log_tail()}") from None
            break
        _wait_until_accepting(server, timeout)
        return server
    except BaseException:
        server.stop()
        raise


def _wait_until_accepting(server: ThrowawayPostgres, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(server.dsn(), connect_timeout=2, autocommit=True) as conn:
                conn.execute("select 1")
            return
        except psycopg.Error as exc:
            last_error = exc
            time.sleep(0.1)
    raise RuntimeError(
        f"throwaway PostgreSQL on port {server.port} did not accept connections: {last_error}\n"
        f"--- server log ---\n{server.log_tail()}"
    )
