"""Delivery: a logical date's good rows handed to someone else, exactly once (pure logic).

A delivery (``deliver:`` in a YAML pipeline, :class:`lockgate.operators.deliver.DeliverOperator`
in a Python DAG) sends the rows a date *loaded* to one target:

* ``http`` - an Airflow http connection: JSON batches of ``batch_size`` rows, at most
  ``rate_limit`` requests a second, retried with backoff (``Retry-After`` honoured);
* ``partner_drop`` - one CSV or Parquet file per date under another S3 prefix or folder, written
  under a temporary name, then the final one, then a ``_SUCCESS`` marker;
* ``table`` - an upsert on the contract's primary key into a table of another database (a
  common-sql connection), one transaction per date.

What is sent: the rows of the date's curated (published) version that satisfy ``where`` (the
routing predicates' syntax, :mod:`lockgate.pipelines.predicates`), with ``columns`` only, ordered
by the primary key so the same data always gives the same batches. Personal data goes out as the
contract's hash or mask (as the curated zone holds it) unless the delivery says ``pii: clear``.

Exactly once: every batch is *acknowledged* in the warehouse's delivery audit with its status,
idempotency key, row count and content hash. :func:`plan` compares the date's batches with what
the audit holds and decides what to send: nothing when the same content was acknowledged, the
batches after the last acknowledged one on a retry, everything again (new keys, with the reason)
when the content changed. Nothing here imports Airflow or a data library.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lockgate.pipelines import predicates
from lockgate.sql import ident

KINDS = ("http", "partner_drop", "table")
FILE_FORMATS = ("csv", "parquet")
PII_POLICIES = ("protected", "clear")
#: the delivery audit, in the warehouse's schema beside ``lockgate_load_audit``
DELIVERY_AUDIT_TABLE = "lockgate_delivery_audit"
ACKNOWLEDGED, REJECTED, SUPERSEDED = "acknowledged", "rejected", "superseded"
#: rows of a rejected batch quoted in the failure
REJECTED_ROWS_SHOWN = 3
#: characters of a receiver's response kept in the audit and the failure
RESPONSE_KEPT = 2000
DEFAULT_BATCH_SIZE = 500
#: keys are UUIDs (what most APIs accept as an Idempotency-Key), derived, never random
_KEY_NAMESPACE = uuid.UUID("6f1c9a52-3d0e-5b7a-9c11-4c6f636b6761")


# ------------------------------------------------------------------------------------ the spec


@dataclass(frozen=True)
class Target:
    """Where a delivery goes. ``options`` are the kind's own settings (see :func:`target_problems`)."""

    kind: str
    conn_id: str
    options: Mapping[str, Any]

    @property
    def batch_size(self) -> int:
        return int(self.options.get("batch_size", DEFAULT_BATCH_SIZE))


def target_problems(kind: str, options: Mapping[str, Any], primary_key: Sequence[str]) -> list[tuple[str, str]]:
    """``(field, problem)`` for a target's settings (the JSON Schema checks their types)."""
    problems: list[tuple[str, str]] = []
    if kind not in KINDS:
        return [("", f"unknown target {kind!r}; one of {', '.join(KINDS)}")]
    if kind == "partner_drop" and options.get("format", "parquet") not in FILE_FORMATS:
        problems.append(("format", f"format must be one of {', '.join(FILE_FORMATS)}"))
    if kind == "table":
        if not primary_key:
            problems.append(("", "an upsert needs a primary_key in the contract"))
        if not options.get("table"):
            problems.append(("table", "name the table to upsert into"))
    if kind == "http":
        for name in ("batch_size", "rate_limit", "max_retries"):
            value = options.get(name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                problems.append((name, f"{name} must be a positive number"))
    return problems


def selection_problems(
    *,
    where: Mapping[str, Any] | None,
    columns: Sequence[str] | None,
    types: Mapping[str, str],
    pii: Mapping[str, str],
    pii_policy: str,
    primary_key: Sequence[str],
    kind: str,
) -> list[tuple[str, str]]:
    """``(field, problem)`` for what a delivery selects: real columns, a valid predicate, the key kept
    for an upsert, no predicate over personal data that the curated zone holds hashed or masked."""
    problems: list[tuple[str, str]] = []
    if pii_policy not in PII_POLICIES:
        problems.append(("pii", f"pii must be one of {', '.join(PII_POLICIES)}"))
    for i, name in enumerate(columns or []):
        if name not in types:
            problems.append((f"columns.{i}", f"unknown column {name!r}; columns: {', '.join(types)}"))
    if columns and kind == "table":
        missing = [k for k in primary_key if k not in columns]
        if missing:
            problems.append(("columns", f"an upsert needs the primary key: add {', '.join(missing)}"))
    if where:
        try:
            predicates.validate(where, types, path="where")
        except predicates.PredicateError as exc:
            problems.append((exc.path, exc.problem))
            return problems
        hidden = sorted(c for c in predicates.columns(where) if c in pii and pii_policy != "clear")
        if hidden:
            problems.append(
                (
                    "where",
                    f"{', '.join(hidden)} is personal data ({pii[hidden[0]]}ed before delivery): it cannot be tested",
                )
            )
    return problems


#: settings of each kind, as the YAML spec names them (everything else is common to all kinds)
KIND_OPTIONS = {
    "http": (
        "endpoint",
        "batch_size",
        "rate_limit",
        "max_retries",
        "backoff_seconds",
        "max_backoff_seconds",
        "timeout_seconds",
    ),
    "partner_drop": ("format", "prefix"),
    "table": ("table",),
}


@dataclass(frozen=True)
class DeliverySpec:
    """One ``deliver:`` entry of a pipeline spec (see ``include/pipeline.schema.json``)."""

    id: str
    dataset: str
    kind: str
    conn_id: str
    options: dict[str, Any]
    where: dict[str, Any] | None = None
    columns: tuple[str, ...] | None = None
    pii: str = "protected"


def parse_deliveries(
    raw: Sequence[Mapping[str, Any]], contracts: Mapping[str, Any], loaded: Sequence[str]
) -> tuple[list[DeliverySpec], list[tuple[list[str | int], str]]]:
    """The ``deliver:`` entries of a schema-valid spec, and ``(path, problem)`` for each problem:
    a dataset not loaded here, a column or predicate the contract does not have, settings of
    another kind, an upsert without a key, two deliveries with one id."""
    found: list[DeliverySpec] = []
    problems: list[tuple[list[str | int], str]] = []
    ids: set[str] = set()
    for i, entry in enumerate(raw):
        where: list[str | int] = ["deliver", i]
        dataset, kind = entry["dataset"], entry["to"]
        task_id = entry.get("id") or f"deliver_{dataset}_{kind}"
        if task_id in ids:
            problems.append(([*where, "id"], f"task id {task_id!r} is used twice; give the delivery an id"))
        ids.add(task_id)
        if dataset not in loaded:
            problems.append(
                (
                    [*where, "dataset"],
                    f"dataset {dataset!r} is not loaded by this pipeline: only loaded dates are delivered",
                )
            )
            continue
        if dataset not in contracts:
            continue  # its contract is broken, reported already
        contract = contracts[dataset]
        others = sorted(
            k
            for k in entry
            if any(k in v for kk, v in KIND_OPTIONS.items() if kk != kind) and k not in KIND_OPTIONS[kind]
        )
        for name in others:
            problems.append(([*where, name], f"{name} is not a setting of a {kind} delivery"))
        options = {k: entry[k] for k in KIND_OPTIONS[kind] if k in entry}
        key = list(contract.primary_key)
        for field, message in target_problems(kind, options, key):
            problems.append(([*where, *([field] if field else [])], message))
        types = {c.name: c.type for c in contract.storage_columns}
        pii = {c.name: mode for c in contract.columns if (mode := c.pii_mode) is not None}
        for field, message in selection_problems(
            where=entry.get("where"),
            columns=entry.get("columns"),
            types=types,
            pii=pii,
            pii_policy=entry.get("pii", "protected"),
            primary_key=key,
            kind=kind,
        ):
            problems.append(([*where, *(int(p) if p.isdigit() else p for p in field.split("."))], message))
        found.append(
            DeliverySpec(
                id=task_id,
                dataset=dataset,
                kind=kind,
                conn_id=entry["conn_id"],
                options=options,
                where=dict(entry["where"]) if entry.get("where") else None,
                columns=tuple(entry["columns"]) if entry.get("columns") else None,
                pii=entry.get("pii", "protected"),
            )
        )
    return found, problems


# ------------------------------------------------------------------------------- the selection


def selection_sql(
    relation: str,
    *,
    types: Mapping[str, str],
    order_by: Sequence[str],
    bind: Callable[[Any], str],
    where: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
) -> str:
    """DuckDB SQL for the rows a delivery sends: ``where`` holds, ``columns`` only, in key order.

    ``order_by`` is the contract's primary key (else every column): the same rows always come in
    the same order, so the same data always gives the same batches and content hashes.
    """
    chosen = list(columns or types)
    condition = predicates.to_sql(where, bind, types) if where else "TRUE"
    order = ", ".join(ident(c) for c in (order_by or list(types)))
    return f"SELECT {', '.join(ident(c) for c in chosen)} FROM {relation} WHERE {condition} ORDER BY {order}"


# ---------------------------------------------------------------------------------- the batches


def json_value(value: Any) -> Any:
    """A value as JSON carries it: dates and timestamps in ISO 8601, NaN as null (JSON has none)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


#: values JSON carries as they are (most of a row): no call to :func:`json_value` for them
_PLAIN = frozenset({str, int, bool, type(None)})


def json_rows(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows as JSON objects (column -> JSON value)."""
    plain = _PLAIN
    return [{n: v if type(v) in plain else json_value(v) for n, v in zip(names, row, strict=True)} for row in rows]


def canonical(payload: Any) -> bytes:
    """The bytes a content hash is taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def content_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """sha256 of a batch's rows (JSON objects, in order)."""
    return hashlib.sha256(canonical(list(rows))).hexdigest()


def version_of(hashes: Sequence[str]) -> str:
    """The content version of a whole delivery: its batches' hashes, in order (no batch: the empty one)."""
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def idempotency_key(pipeline: str, dataset: str, ds: str, batch: int, content: str) -> str:
    """The key a receiver de-duplicates a batch by: a UUID derived from (pipeline, dataset, logical
    date, batch number, content hash). The same batch of the same content always has the same key;
    ``content`` is the batch's hash chained with the delivery's version, so a changed date gets new
    keys for every batch (a receiver never drops a batch of the new version as a duplicate)."""
    return str(uuid.uuid5(_KEY_NAMESPACE, "\x1f".join((pipeline, dataset, ds, str(batch), content))))


@dataclass(frozen=True)
class Batch:
    """One unit a target acknowledges: rows ``first``..``first + count - 1`` of the selection.

    ``rows`` holds the JSON rows while the batch is being sent; a batch planned from a streamed
    digest (:func:`digest_batches`, :func:`digest_whole`) holds none and says its ``size`` instead:
    memory holds one batch at a time, never a whole date.
    """

    number: int
    first: int
    rows: list[dict[str, Any]]
    content_hash: str
    key: str = ""
    size: int | None = None

    @property
    def count(self) -> int:
        """Rows in the batch (whether or not they are held)."""
        return len(self.rows) if self.size is None else self.size


class StreamHash:
    """:func:`content_hash` of rows fed in chunks: the same sha256 over the same bytes (the canonical
    JSON of a list is ``[`` + the rows' canonical JSON joined by ``,`` + ``]``), with no list held."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b"[")
        self.rows = 0

    def update(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Feed the next rows (one ``json.dumps`` per chunk: its list's bytes without the brackets)."""
        if rows:
            self._sha.update((b"," if self.rows else b"") + canonical(list(rows))[1:-1])
            self.rows += len(rows)

    def hexdigest(self) -> str:
        sha = self._sha.copy()
        sha.update(b"]")
        return sha.hexdigest()


def digest_batches(names: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]]) -> list[Batch]:
    """One batch per chunk of rows (each chunk a batch, numbered from 1), with its content hash and
    size but without its rows: what :func:`keyed` and :func:`plan` need, one chunk in memory at a time."""
    out: list[Batch] = []
    first = 1
    for number, chunk in enumerate(chunks, 1):
        out.append(Batch(number, first, [], content_hash(json_rows(names, chunk)), size=len(chunk)))
        first += len(chunk)
    return out


def digest_whole(names: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]]) -> Batch:
    """The whole selection as one batch (a drop file, an upsert transaction; an empty date too),
    hashed chunk by chunk: the same hash :func:`content_hash` gives over all rows at once."""
    sha = StreamHash()
    for chunk in chunks:
        sha.update(json_rows(names, chunk))
    return Batch(1, 1, [], sha.hexdigest(), size=sha.rows)


def split(rows: Sequence[Mapping[str, Any]], size: int) -> list[Batch]:
    """The rows in batches of ``size`` (numbered from 1), each with its content hash, keys not yet set.

    No rows: no batch (an empty date is delivered as nothing, and acknowledged as such)."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    out = []
    for number, start in enumerate(range(0, len(rows), size), 1):
        chunk = [dict(r) for r in rows[start : start + size]]
        out.append(Batch(number, start + 1, chunk, content_hash(chunk)))
    return out


def keyed(batches: Sequence[Batch], *, pipeline: str, dataset: str, ds: str) -> tuple[str, list[Batch]]:
    """The delivery's version and its batches with their idempotency keys."""
    version = version_of([b.content_hash for b in batches])
    return version, [
        replace(b, key=idempotency_key(pipeline, dataset, ds, b.number, f"{version}:{b.content_hash}")) for b in batches
    ]


def http_body(dataset: str, ds: str, batch: Batch, total: int, version: str) -> bytes:
    """The JSON an HTTP target receives for one batch: where it belongs, and its rows."""
    return canonical(
        {"dataset": dataset, "ds": ds, "batch": batch.number, "batches": total, "version": version, "rows": batch.rows}
    )


# ------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Ack:
    """A batch the audit holds as acknowledged for (target, dataset, date)."""

    batch: int
    key: str
    rows: int
    content_hash: str
    version: str
    run_id: str = ""


@dataclass(frozen=True)
class Plan:
    """What one run of a delivery sends, and why.

    :param send: the batches to send, in order.
    :param reason: recorded with every batch sent (and logged).
    :param supersede: the version the audit holds is not this one: its acknowledgements are marked
        superseded before the new version goes out.
    """

    version: str
    send: list[Batch]
    reason: str
    supersede: bool = False


def plan(version: str, batches: Sequence[Batch], acks: Sequence[Ack]) -> Plan:
    """Decide what to send, given the date's batches (keyed) and the acknowledgements on record.

    * nothing on record: everything (``first delivery``);
    * the same version, every batch acknowledged: nothing (an unchanged rerun);
    * the same version, some acknowledged: the batches after the last acknowledged one (a retry
      resuming; a batch acknowledged out of order is not sent twice either);
    * another version: everything, with the new version's keys, and the reason says what changed.
    """
    total = len(batches)
    if not acks:
        return Plan(version, list(batches), f"first delivery: {total} batch(es), {_rows(batches)} row(s)")
    current = [a for a in acks if a.version == version]
    stale = [a for a in acks if a.version != version]
    if current:
        # this version is (partly) out already; older acknowledgements left over only need superseding
        done = {a.batch for a in current}
        todo = [b for b in batches if b.number not in done]
        if not todo:
            run = max((a.run_id for a in current), default="")
            return Plan(version, [], f"unchanged since {run or 'the last delivery'}: nothing sent", bool(stale))
        last = max(done)
        reason = f"resumed after batch {last} of {total}: {len(todo)} batch(es) left"
        return Plan(version, todo, reason, bool(stale))
    before_rows = sum(a.rows for a in stale)
    old = sorted({a.version for a in stale})[0]
    sent = {(a.batch, a.content_hash) for a in stale}
    changed = sum(1 for b in batches if (b.number, b.content_hash) not in sent)
    reason = (
        f"content changed since the last delivery (version {old[:12]} -> {version[:12]}, rows {before_rows} -> "
        f"{_rows(batches)}, {changed} of {total} batch(es) differ): re-sending the date with new keys"
    )
    return Plan(version, list(batches), reason, supersede=True)


def _rows(batches: Sequence[Batch]) -> int:
    return sum(b.count for b in batches)


# ------------------------------------------------------------------------------------ rejections


def rejected_indexes(response: Any, batch_rows: int) -> list[int]:
    """0-based rows of a batch a receiver names in its JSON answer (``rejected``/``errors``: indexes,
    or objects with ``index``/``row``), in range; [] when it names none."""
    if not isinstance(response, Mapping):
        return []
    found: list[int] = []
    for name in ("rejected", "rejected_rows", "errors"):
        items = response.get(name)
        if not isinstance(items, list):
            continue
        for item in items:
            index = item.get("index", item.get("row")) if isinstance(item, Mapping) else item
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < batch_rows:
                found.append(index)
    return sorted(set(found))


def rejection_message(
    where: str, batch: Batch, total: int, status: int, response: str, indexes: Sequence[int], columns: Sequence[str]
) -> str:
    """The failure of a batch a receiver refused: which batch, its key, the response, the first rows."""
    shown = list(indexes) or list(range(min(REJECTED_ROWS_SHOWN, len(batch.rows))))
    named = "rejected" if indexes else "first"
    lines = [
        f"{where}: batch {batch.number} of {total} (rows {batch.first}-{batch.first + len(batch.rows) - 1}, "
        f"idempotency key {batch.key}) was rejected with HTTP {status}: {response[:RESPONSE_KEPT]}",
        f"{named} row(s) of the batch:",
    ]
    for index in shown[:REJECTED_ROWS_SHOWN]:
        row = batch.rows[index]
        lines.append(f"  row {batch.first + index}: " + ", ".join(f"{c}={row.get(c)!r}" for c in columns))
    lines.append("batches before it are acknowledged; a retry resends from this batch")
    return "\n".join(lines)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (a password, a header value) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------------------------- rate limit


class RateLimiter:
    """At most ``per_second`` calls of :meth:`wait` a second (None: no limit), spaced evenly."""

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError(f"rate limit must be positive, not {per_second}")
        self.interval = 1.0 / per_second if per_second else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Return when the next call may go."""
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


# -------------------------------------------------------------------------------- naming


def http_lineage(base_url: str, endpoint: str) -> tuple[str, str]:
    """(namespace, name) of an HTTP endpoint: ``scheme://host:port`` and the path (the naming
    spec's generic URI form: namespace = scheme and authority, name = path)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = "/" + "/".join(p for p in (parts.path.strip("/"), endpoint.strip("/")) if p)
    return f"{parts.scheme}://{parts.hostname}:{port}", path


def sqlalchemy_lineage(
    conn_type: str, host: str | None, port: int | None, database: str | None, table: str
) -> tuple[str, str]:
    """(namespace, name) of a database table: ``<scheme>://host:port`` and ``database.schema.table``
    (``table`` may be ``schema.table``; PostgreSQL's schema defaults to ``public``)."""
    scheme = {"postgresql": "postgres"}.get(conn_type, conn_type)
    ports = {"postgres": 5432, "mysql": 3306, "redshift": 5439}
    if "." not in table and scheme == "postgres":
        table = f"public.{table}"
    return f"{scheme}://{host or 'localhost'}:{port or ports.get(scheme, 0)}", f"{database or scheme}.{table}"
