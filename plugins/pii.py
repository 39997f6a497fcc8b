"""Personal data: columns a contract flags ``pii`` are hashed or masked before the curated zone.

* ``hash`` (or ``true``): HMAC-SHA256 of the value's UTF-8 bytes, as 64 lowercase hex characters,
  keyed with the password of the Airflow connection ``lockgate_pii_key``. Keyed, so nobody without
  the key can confirm a guess (a plain sha256 of an e-mail address is a lookup away); deterministic,
  so the same value always gives the same hash and joins across datasets and days still work.
* ``mask``: ``****`` followed by the value's last 4 characters when it has at least 8, else
  ``****``; for values people must recognise (a card's or a phone number's tail), never to join on.

NULL stays NULL. Both run inside DuckDB as SQL over the whole day (HMAC is spelled out from
``sha256`` with the key's inner and outer pads bound as variables, never written into SQL text),
so no row passes through Python. :func:`hmac_hex` and :func:`mask` are the reference
implementations the SQL is tested against.

The raw zone and the quarantine keep records as received (that is their job: replay and
diagnosis), and the staged zone holds the gate's typed rows on their way to this step, so all
three hold PII in clear: they are readable by the lake role only, and the raw zone is emptied by
the retention DAG (``dags/lake_maintenance.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from lockgate.sql import ident

if TYPE_CHECKING:
    from lockgate.contracts import Contract

#: The Airflow connection whose password is the HMAC key.
DEFAULT_PII_KEY_CONN_ID = "lockgate_pii_key"
MASK = "****"
#: characters a mask keeps, and the shortest value that keeps any
MASK_KEEP = 4
MASK_MIN_LENGTH = 8
_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


class PiiKeyMissing(RuntimeError):
    """A contract hashes a column but the key connection does not exist or has no password."""


def pii_columns(contract: Contract) -> dict[str, str]:
    """Column -> ``hash`` or ``mask``, for the columns the contract protects."""
    return {c.name: mode for c in contract.columns if (mode := c.pii_mode) is not None}


def hmac_hex(key: bytes, value: str) -> str:
    """The keyed hash of one value (reference implementation of :func:`select_list`'s SQL)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def mask(value: str) -> str:
    """The mask of one value (reference implementation of :func:`select_list`'s SQL)."""
    return MASK + value[-MASK_KEEP:] if len(value) >= MASK_MIN_LENGTH else MASK


def load_key(conn_id: str = DEFAULT_PII_KEY_CONN_ID, *, dataset: str = "") -> bytes:
    """The HMAC key: the password of the Airflow connection ``conn_id`` (or a secrets backend's)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        password = BaseHook.get_connection(conn_id).password
    except AirflowNotFoundException:
        password = None
    if not password:
        raise PiiKeyMissing(
            f"{dataset or 'a dataset'} has columns with pii: hash, but the Airflow connection {conn_id!r} "
            "that holds the HMAC key (its password) is not defined or has no password; define it "
            f'(e.g. AIRFLOW_CONN_{conn_id.upper()}=\'{{"conn_type": "generic", "password": "<key>"}}\') '
            "or in your secrets backend"
        )
    return password.encode("utf-8")


def bind_key(con: Any, key: bytes) -> None:
    """Bind the key's HMAC pads as DuckDB variables on ``con`` for :func:`select_list`."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    con.execute("SET VARIABLE lockgate_pii_ipad = $1", [bytes(b ^ 0x36 for b in key)])
    con.execute("SET VARIABLE lockgate_pii_opad = $1", [bytes(b ^ 0x5C for b in key)])


def sql_expression(column: str, mode: str) -> str:
    """DuckDB SQL turning ``column`` into its hash or mask (hash needs :func:`bind_key` first)."""
    col = ident(column)
    if mode == "hash":
        inner = f"unhex(sha256(getvariable('lockgate_pii_ipad') || encode({col})))"
        return f"sha256(getvariable('lockgate_pii_opad') || {inner})"
    if mode == "mask":
        return (
            f"CASE WHEN {col} IS NULL THEN NULL WHEN length({col}) >= {MASK_MIN_LENGTH} "
            f"THEN '{MASK}' || right({col}, {MASK_KEEP}) ELSE '{MASK}' END"
        )
    raise ValueError(f"column {column!r}: unknown pii mode {mode!r} (hash or mask)")


def select_list(contract: Contract, con: Any, *, key_conn_id: str = DEFAULT_PII_KEY_CONN_ID) -> str:
    """``*`` with the contract's PII columns replaced by their hash or mask, for ``SELECT <this> FROM ...``.

    Binds the key on ``con`` when a column is hashed; raises :class:`PiiKeyMissing` when the key
    connection is missing, so personal data never reaches the curated zone in clear.
    """
    columns = pii_columns(contract)
    if not columns:
        return "*"
    if "hash" in columns.values():
        bind_key(con, load_key(key_conn_id, dataset=contract.dataset))
    replaced = ", ".join(f"{sql_expression(name, mode)} AS {ident(name)}" for name, mode in columns.items())
    return f"* REPLACE ({replaced})"
