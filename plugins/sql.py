"""SQL building blocks: identifier quoting and template rendering.

Identifiers are always quoted with the dialect's quoting; values are always bound parameters.
Templates live in ``include/sql/<dialect>/`` and are rendered with Jinja, never concatenated.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lockgate.config import include_dir

DIALECTS = ("duckdb", "postgres", "redshift")

#: contract type -> SQL type per dialect
SQL_TYPES: dict[str, dict[str, str]] = {
    "duckdb": {
        "string": "VARCHAR",
        "integer": "BIGINT",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
    },
    "postgres": {
        "string": "text",
        "integer": "bigint",
        "double": "double precision",
        "boolean": "boolean",
        "date": "date",
        "timestamp": "timestamptz",
    },
    # Redshift: VARCHAR counts bytes and defaults to 256; 65535 is its maximum (storage is by length)
    "redshift": {
        "string": "VARCHAR(65535)",
        "integer": "BIGINT",
        "double": "DOUBLE PRECISION",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
    },
}


def ident(name: str) -> str:
    """Quote an identifier (DuckDB, PostgreSQL and Redshift all use ANSI double quotes)."""
    if "\x00" in name:
        raise ValueError(f"identifier contains a NUL byte: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(*parts: str) -> str:
    """``schema.table`` with each part quoted; empty parts are skipped."""
    return ".".join(ident(p) for p in parts if p)


def literal(text: str) -> str:
    """A SQL string literal, for constant text the engine itself generates (never user values)."""
    return "'" + text.replace("'", "''") + "'"


@lru_cache(maxsize=8)
def _environment(dialect: str) -> Any:
    import jinja2

    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    env = jinja2.Environment(
        # a dialect's own template wins; SQL both dialects write the same way lives once in common/
        loader=jinja2.FileSystemLoader([str(include_dir() / "sql" / dialect), str(include_dir() / "sql" / "common")]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - SQL, not HTML; identifiers go through the ident filter
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ident"] = ident
    env.filters["sqltype"] = lambda t: SQL_TYPES[dialect][t]
    return env


def render(dialect: str, template: str, **params: Any) -> str:
    """Render ``include/sql/<dialect>/<template>``."""
    return str(_environment(dialect).get_template(template).render(**params))


def render_statement(dialect: str, template: str, **params: Any) -> str:
    """Render a template that holds exactly one statement."""
    (statement,) = split_statements(render(dialect, template, **params))
    return statement


def split_statements(sql: str) -> list[str]:
    """Split a rendered template on ``;`` at line ends (templates never put ``;`` inside literals)."""
    return [s.strip() for s in sql.split(";\n") if s.strip().rstrip(";").strip()]
