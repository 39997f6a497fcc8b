"""Event-driven ingestion: what a queue message names, which file and date it belongs to, and what
a date has already ingested.

A pipeline that declares ``trigger: {on: s3_events, ...}`` or ``trigger: {on: redis, ...}`` gets an
``AssetWatcher`` (:mod:`lockgate.triggers`) that turns a small batch of queue messages into one asset
event; the pipeline's dispatcher DAG (``<dag_id>__events``) reads those messages with
:func:`parse_batch`, files each object under its source file and logical date with
:func:`route_objects`, and starts one run of the pipeline per date. That run's ingest lands the
objects its date has not ingested yet (:func:`plan_ledger`: object key + ETag), carries the ones it
has, and the date is gated, published and loaded as usual.

Everything here is pure (no Airflow, no I/O): the unit tests in ``tests/events`` cover it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

#: S3 event names that mean "this object now has new content" / "this object is gone"
CREATED = "ObjectCreated:"
REMOVED = "ObjectRemoved:"
#: what a bad event does: ``skip`` logs it (message id, reason) and goes on; ``fail`` fails the dispatch
BAD_EVENT_ACTIONS = ("skip", "fail")

_DS_TEMPLATE = re.compile(r"\{\{\s*ds\s*\}\}")
_DS_REGEX = r"(?P<ds>\d{4}-\d{2}-\d{2})"


@dataclass(frozen=True)
class ObjectEvent:
    """One object an event names: created (``removed=False``) or deleted."""

    message_id: str
    bucket: str
    key: str
    etag: str
    event_time: str | None = None
    removed: bool = False


@dataclass(frozen=True)
class BadEvent:
    """A message (or one record of it) that names no usable object, with the reason."""

    message_id: str
    reason: str


@dataclass(frozen=True)
class RoutedObject:
    """An object filed under its source file (``files[].id``) and logical date."""

    file: str
    ds: str
    bucket: str
    key: str
    etag: str
    message_id: str
    removed: bool = False

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class KeyPattern:
    """A source file's ``path`` (relative to the source root) as a regex over object keys."""

    file: str
    regex: re.Pattern[str]
    has_date: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``regex`` as text: a task argument Airflow may template; it holds no ``{{``)."""
        return {"regex": self.regex.pattern, "has_date": self.has_date}

    @classmethod
    def from_dict(cls, file: str, data: Mapping[str, Any]) -> KeyPattern:
        return cls(file, re.compile(data["regex"]), bool(data["has_date"]))


# ----------------------------------------------------------------------------------------- parsing


def _records_of(body: Any) -> list[Any] | None:
    """The S3 event records of a message body: S3 -> SQS directly, or wrapped by SNS / EventBridge-less
    fan-outs (``{"Message": "<json>"}``). None when the body is not an S3 event."""
    if isinstance(body, Mapping) and "Message" in body and isinstance(body["Message"], str):
        try:
            body = json.loads(body["Message"])
        except ValueError:
            return None
    if isinstance(body, Mapping) and isinstance(body.get("Records"), list):
        return list(body["Records"])
    return None


def _record_object(message_id: str, record: Any) -> ObjectEvent | BadEvent:
    if not isinstance(record, Mapping):
        return BadEvent(message_id, "a record is not a JSON object")
    name = str(record.get("eventName", ""))
    if not name.startswith((CREATED, REMOVED)):
        return BadEvent(message_id, f"event {name or '<none>'!r} is neither ObjectCreated nor ObjectRemoved")
    s3 = record.get("s3")
    s3 = s3 if isinstance(s3, Mapping) else {}
    obj = s3.get("object")
    bucket = s3["bucket"].get("name") if isinstance(s3.get("bucket"), Mapping) else None
    if not isinstance(obj, Mapping) or not obj.get("key") or not bucket:
        return BadEvent(message_id, "the record names no s3.bucket.name and s3.object.key")
    removed = name.startswith(REMOVED)
    etag = str(obj.get("eTag") or obj.get("etag") or "").strip('"')
    if not etag and not removed:
        return BadEvent(message_id, f"s3://{bucket}/{obj['key']}: the record has no s3.object.eTag")
    # S3 event keys are URL-encoded (spaces as '+')
    key = unquote_plus(str(obj["key"]))
    return ObjectEvent(message_id, str(bucket), key, etag, record.get("eventTime"), removed)


def parse_message(message_id: str, body: str | bytes | None) -> tuple[list[ObjectEvent], list[BadEvent]]:
    """The objects one queue message names, and what in it could not be used (never dropped silently).

    ``s3:TestEvent`` messages (sent once when a notification is configured) name no object and are
    reported as bad events too, so a person sees them in the dispatch log.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return [], [BadEvent(message_id, "the body is not UTF-8 text")]
    if not body:
        return [], [BadEvent(message_id, "the body is empty")]
    try:
        decoded = json.loads(body)
    except ValueError as exc:
        return [], [BadEvent(message_id, f"the body is not JSON: {exc}")]
    if isinstance(decoded, Mapping) and decoded.get("Event") == "s3:TestEvent":
        return [], [BadEvent(message_id, "an s3:TestEvent (the notification was configured): no object")]
    records = _records_of(decoded)
    if records is None:
        return [], [BadEvent(message_id, "not an S3 event notification (no Records[])")]
    objects: list[ObjectEvent] = []
    bad: list[BadEvent] = []
    for record in records:
        found = _record_object(message_id, record)
        (objects if isinstance(found, ObjectEvent) else bad).append(found)  # type: ignore[arg-type]
    return objects, bad


def parse_batch(messages: Iterable[Mapping[str, Any]]) -> tuple[list[ObjectEvent], list[BadEvent]]:
    """Every object of a batch of ``{"id": ..., "body": ...}`` messages (what the triggers emit)."""
    objects: list[ObjectEvent] = []
    bad: list[BadEvent] = []
    for i, message in enumerate(messages):
        message_id = str(message.get("id") or f"<message {i} without id>")
        found, problems = parse_message(message_id, message.get("body"))
        objects += found
        bad += problems
    return objects, bad


# ----------------------------------------------------------------------------------------- routing


def key_pattern(file_id: str, path: str) -> KeyPattern:
    """``airdata/daily_pm25_{{ ds }}.csv`` -> a regex with a ``ds`` group; ``*``/``?`` as in a glob."""
    parts = _DS_TEMPLATE.split(path.lstrip("/"))
    out = []
    for i, part in enumerate(parts):
        if i:
            out.append(_DS_REGEX if i == 1 else "(?P=ds)")
        out.append(re.escape(part).replace(r"\*", "[^/]*").replace(r"\?", "[^/]"))
    return KeyPattern(file_id, re.compile("^" + "".join(out) + "$"), has_date=len(parts) > 1)


def split_root(root: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``("bucket", "prefix/")`` (the prefix empty or ending in ``/``)."""
    if not root.startswith("s3://"):
        raise ValueError(f"event-driven pipelines read S3 objects: the source root {root!r} is not s3://bucket/prefix")
    bucket, _, prefix = root[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def _event_date(event: ObjectEvent) -> str | None:
    if not event.event_time:
        return None
    try:
        return datetime.fromisoformat(event.event_time.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return None


def route_objects(
    events: Iterable[ObjectEvent], root: str, patterns: Sequence[KeyPattern]
) -> tuple[list[RoutedObject], list[BadEvent]]:
    """File each object under the first source file whose pattern its key matches, with its date.

    The date is the key's ``{{ ds }}`` part, or (a pattern without a date) the event time's UTC date.
    An object in another bucket, outside the root, or matching no pattern is a bad event.
    """
    bucket, prefix = split_root(root)
    routed: list[RoutedObject] = []
    bad: list[BadEvent] = []
    for event in events:
        where = f"s3://{event.bucket}/{event.key}"
        if event.bucket != bucket or not event.key.startswith(prefix):
            bad.append(BadEvent(event.message_id, f"{where} is outside the source root {root}"))
            continue
        relative = event.key[len(prefix) :]
        match = next(((p, m) for p in patterns if (m := p.regex.match(relative))), None)
        if match is None:
            bad.append(BadEvent(event.message_id, f"{where} matches no declared source file pattern"))
            continue
        pattern, found = match
        ds = found.group("ds") if pattern.has_date else _event_date(event)
        if ds is None or not _valid_date(ds):
            bad.append(BadEvent(event.message_id, f"{where}: no logical date in the key or the event time"))
            continue
        routed.append(
            RoutedObject(pattern.file, ds, event.bucket, event.key, event.etag, event.message_id, event.removed)
        )
    return routed, bad


def _valid_date(ds: str) -> bool:
    try:
        datetime.strptime(ds, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def group_by_date(objects: Iterable[RoutedObject]) -> dict[str, list[RoutedObject]]:
    """Objects per logical date, dates sorted, and within a date the last event of each key wins
    (a key written twice in a batch is ingested once, in its latest version)."""
    latest: dict[tuple[str, str, str], RoutedObject] = {}
    for obj in objects:
        latest.pop((obj.ds, obj.file, obj.key), None)  # re-insert: keeps the delivery order of the last event
        latest[(obj.ds, obj.file, obj.key)] = obj
    grouped: dict[str, list[RoutedObject]] = {}
    for (ds, _, _), obj in sorted(latest.items(), key=lambda kv: kv[0][0]):
        grouped.setdefault(ds, []).append(obj)
    return grouped


def run_id_for(dag_id: str, ds: str, objects: Sequence[RoutedObject]) -> str:
    """A run id the same batch always gets (a retried dispatch finds the run it already started)."""
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: (o.file, o.key, o.etag, o.removed)):
        digest.update(f"{obj.file}\0{obj.key}\0{obj.etag}\0{obj.removed}\n".encode())
    return f"event__{ds}__{digest.hexdigest()[:16]}"


def run_logical_date(ds: str, run_id: str) -> str:
    """The logical date of an event run: an instant within ``ds`` taken from the run id's digest.

    Airflow keeps one run per DAG and logical date, so each event run of a date takes its own instant
    (``ds`` stays the date every step partitions by)."""
    micros = 1 + int(run_id.rsplit("__", 1)[1], 16) % (86_400_000_000 - 1)
    clock = f"{micros // 3_600_000_000:02d}:{micros // 60_000_000 % 60:02d}:{micros // 1_000_000 % 60:02d}"
    return f"{ds}T{clock}.{micros % 1_000_000:06d}+00:00"


def run_conf(objects: Sequence[RoutedObject]) -> dict[str, Any]:
    """The ``conf`` an event run gets: the objects of its date, per source file."""
    per_file: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        per_file.setdefault(obj.file, []).append(asdict(obj))
    return {"lockgate_events": per_file}


def undispatched(events: Iterable[Any], dispatcher_dag_id: str, run_id: str, seen: set[int]) -> list[Any]:
    """The watcher's asset events (``id``, ``created_dagruns``) for the dispatch run ``run_id`` to take:
    those that started it and those no run of the dispatcher consumed, less those it took already
    (``seen``), oldest first.

    Airflow gives an asset-triggered run the events up to its queue row's creation only: an event
    stored after that row but before the run consumes no run until another one arrives, and while a
    dispatch runs (``max_active_runs=1``) every new event waits unconsumed. A dispatch takes them all.
    """
    found = []
    for event in events:
        runs = [run for run in getattr(event, "created_dagruns", None) or [] if run.dag_id == dispatcher_dag_id]
        if event.id in seen or (runs and all(run.run_id != run_id for run in runs)):
            continue
        found.append(event)
    return sorted(found, key=lambda e: (e.timestamp, e.id))


# ------------------------------------------------------------------------------------------ ledger


@dataclass
class LedgerPlan:
    """What an event run's ingest of one source file does for its date."""

    #: objects to download and land now (new keys, or a key with a new ETag)
    land: list[dict[str, Any]] = field(default_factory=list)
    #: ledger entries (each with its landed manifest entry) the date keeps as they are
    carry: list[dict[str, Any]] = field(default_factory=list)
    #: objects already ingested with the same ETag (SQS delivers at least once)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    #: keys dropped from the date by an ObjectRemoved event
    removed: list[str] = field(default_factory=list)


def plan_ledger(ledger: Mapping[str, Mapping[str, Any]], objects: Iterable[Mapping[str, Any]]) -> LedgerPlan:
    """Split an event run's objects against the date's ledger (``{key: {"etag": ..., "entry": ...}}``).

    Object key + ETag already in the ledger: a duplicate, not landed again. A known key with another
    ETag: the object was replaced, the new version replaces the old one in the date. A removal drops
    the key. Every other ledger entry is carried, so the date keeps everything it ingested before.
    """
    plan = LedgerPlan()
    superseded: set[str] = set()
    landing: dict[str, dict[str, Any]] = {}  # key -> its latest version in this run (landed once)
    for obj in objects:
        key = obj["key"]
        known = landing.get(key) or (None if key in superseded else ledger.get(key))
        if obj.get("removed"):
            if known is not None:
                plan.removed.append(key)
                landing.pop(key, None)
                superseded.add(key)
            continue
        if known is not None and known.get("etag") == obj["etag"]:
            plan.duplicates.append(dict(obj))
            continue
        superseded.add(key)
        landing.pop(key, None)  # re-insert: the latest version, in delivery order
        landing[key] = dict(obj)
    plan.land = list(landing.values())
    plan.carry = [dict(entry, key=key) for key, entry in ledger.items() if key not in superseded]
    return plan


# ---------------------------------------------------------------------------------------- batching


def batch_complete(count: int, first_at: float | None, now: float, max_files: int, max_wait: float) -> bool:
    """Whether a trigger should emit the messages it holds: ``max_files`` of them, or ``max_wait``
    seconds since the first one arrived (nothing held: never)."""
    if count <= 0 or first_at is None:
        return False
    return count >= max_files or now - first_at >= max_wait


def receive_timeout(count: int, first_at: float | None, now: float, max_wait: float, idle_poll: float) -> float:
    """How long the next receive may block: ``idle_poll`` while nothing is held, else what is left of
    the batch's ``max_wait`` (never negative)."""
    if count <= 0 or first_at is None:
        return idle_poll
    return max(0.0, max_wait - (now - first_at))
