"""One dataset on one day, in detail: the gate's report, sample quarantined rows (PII masked), file locations.

The quarantine keeps records as received, personal data included (see :mod:`lockgate.pii`); the
page shows them as the curated zone does: ``mask`` columns masked, ``hash`` columns as their keyed
hash when the key connection is readable here, else fully masked. Nothing in clear.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.layout import zone_prefix

if TYPE_CHECKING:
    from lockgate.contracts import Contract
    from lockgate.hooks.lake import LakeHook

#: sample rows the drill-down shows at most
MAX_SAMPLES = 20
QUARANTINE_FILE = "quarantine.parquet"


def locations(lake: LakeHook, dataset: str, ds: str) -> dict[str, str]:
    """Where the day's documents live, as full URIs (``s3://...`` or local paths)."""
    return {
        "gate report": lake.uri(f"{zone_prefix('quality', dataset, ds)}/report.json"),
        "quarantine": lake.uri(f"{zone_prefix('quarantine', dataset, ds)}/{QUARANTINE_FILE}"),
        "staged": lake.uri(zone_prefix("staged", dataset, ds)),
        "curated": lake.uri(f"curated/{dataset}"),
    }


def read_report(lake: LakeHook, dataset: str, ds: str) -> dict[str, Any] | None:
    """The day's gate report, or None when the date was not gated."""
    try:
        report = dict(lake.read_json(f"{zone_prefix('quality', dataset, ds)}/report.json"))
    except (FileNotFoundError, ValueError):
        return None
    report.setdefault("dataset", dataset)
    report.setdefault("ds", ds)
    return report


def contract_for(report: Mapping[str, Any] | None, dataset: str) -> Contract | None:
    """The contract the report names (``include/contracts/<file>``), else the dataset's; None if unreadable."""
    from lockgate.config import include_dir
    from lockgate.contracts import ContractError, load_contract

    named = (report or {}).get("contract")
    for candidate in ([include_dir() / "contracts" / Path(str(named)).name] if named else []) + [dataset]:
        try:
            return load_contract(candidate)
        except (ContractError, OSError):
            continue
    return None


class PiiProtector:
    """Protects a contract's PII columns wherever the page would show their values.

    ``mask`` columns are masked; ``hash`` columns become their keyed hash when the key connection
    is readable here, else fully masked. Reasons and examples name the column
    (``column email: ...``): with the record at hand its raw value is replaced in the text, without
    it everything after the column's name is hidden.
    """

    def __init__(self, contract: Contract | None) -> None:
        from lockgate.pii import PiiKeyMissing, load_key, pii_columns

        self.modes = pii_columns(contract) if contract else {}
        self.key: bytes | None = None
        if "hash" in self.modes.values():
            try:
                self.key = load_key(dataset=contract.dataset if contract else "")
            except (PiiKeyMissing, Exception):  # noqa: BLE001 - no key here: hashed columns stay fully masked
                self.key = None

    def value(self, column: str, value: Any) -> Any:
        from lockgate.pii import MASK, hmac_hex, mask

        mode = self.modes.get(column)
        if mode is None or value is None:
            return value
        if mode == "mask":
            return mask(str(value))
        return hmac_hex(self.key, str(value)) if self.key else MASK

    def record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {column: self.value(column, value) for column, value in record.items()}

    def text(self, text: str, record: Mapping[str, Any] | None = None) -> str:
        for column in self.modes:
            raw = (record or {}).get(column)
            if raw not in (None, ""):
                text = text.replace(str(raw), str(self.value(column, raw)))
            elif f"column {column}:" in text:
                cut = text.index(f"column {column}:") + len(f"column {column}:")
                text = text[:cut] + " (value hidden: personal data)"
        return text


def quarantine_samples(
    lake: LakeHook, dataset: str, ds: str, *, check: str | None = None, contract: Contract | None = None
) -> list[dict[str, Any]]:
    """Up to :data:`MAX_SAMPLES` quarantined rows of the day (of one ``check``), file and row order.

    Each has ``source_file``, ``source_row``, ``column_name``, ``check_name``, ``reason`` and
    ``record`` (the raw values as JSON, PII protected by :func:`masker`).
    """
    import duckdb

    key = f"{zone_prefix('quarantine', dataset, ds)}/{QUARANTINE_FILE}"
    protect = PiiProtector(contract)
    with tempfile.TemporaryDirectory(prefix="lockgate-drilldown-") as work:
        try:
            path = lake.local_copy(key, work)
        except FileNotFoundError:
            return []
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT source_file, source_row, column_name, check_name, reason, record "
                "FROM read_parquet($path) WHERE $check IS NULL OR check_name = $check "
                "ORDER BY source_file, source_row, check_name LIMIT $limit",
                {"path": str(path), "check": check, "limit": MAX_SAMPLES},
            ).fetchall()
        finally:
            con.close()
    samples = []
    for source_file, source_row, column, check_name, reason, record in rows:
        try:
            parsed = json.loads(record) if isinstance(record, str) else dict(record or {})
        except ValueError:
            parsed = {"record": record}
        raw = parsed if isinstance(parsed, Mapping) else None
        shown = protect.record(raw) if raw is not None else parsed
        samples.append(
            {
                "source_file": source_file,
                "source_row": source_row,
                "column_name": column,
                "check_name": check_name,
                "reason": protect.text(str(reason), raw),
                "record": json.dumps(shown, ensure_ascii=False, default=str),
            }
        )
    return samples
