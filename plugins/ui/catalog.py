"""The dataset catalog: every dataset's contract, pipeline, tables and freshness, searchable.

Contracts come from ``include/contracts/`` (what the gate checks against); pipeline, tables,
owners and freshness from what the runs wrote to the lake (:mod:`lockgate.ui.health`). A dataset
with a contract that never ran is listed too, as "never run".
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from lockgate.ui.health import DataHealth
from lockgate.ui.render import page_shell


def _contracts() -> tuple[dict[str, Any], dict[str, str]]:
    """The contracts under ``include/contracts/`` by dataset, and their ``owner`` fields."""
    import yaml

    from lockgate.config import include_dir
    from lockgate.contracts import ContractError, load_contract

    found, owners = {}, {}
    for path in sorted((include_dir() / "contracts").glob("*.yaml")):
        try:
            contract = load_contract(path)
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (ContractError, OSError, yaml.YAMLError):
            continue
        found[contract.dataset] = contract
        if raw.get("owner"):
            owners[contract.dataset] = str(raw["owner"])
    return found, owners


def build_catalog(health: DataHealth, summaries: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """One entry per dataset (contract or lake), by name.

    Each has ``dataset``, ``description``, ``columns`` (name, type, nullable, pii, description),
    ``primary_key``, ``event_time``, ``pipeline``, ``schedule``, ``owners``, ``tables``,
    ``intermediate``, ``freshness`` and ``last_status`` (the latest day's grid state).
    """
    contracts, contract_owners = _contracts()
    tables: dict[str, set[str]] = {}
    owners: dict[str, list[str]] = {}
    for summary in summaries:
        for entry in summary.get("datasets", []):
            tables.setdefault(str(entry["dataset"]), set()).add(str(entry.get("table")))
        facts = summary.get("pipeline") or {}
        for name in [*(facts.get("gated") or []), *(e["dataset"] for e in summary.get("datasets", []))]:
            owners[str(name)] = list(facts.get("owners") or [])
    by_name = {item.dataset: item for item in health.datasets}
    entries = []
    for name in sorted(set(contracts) | set(by_name)):
        contract, item = contracts.get(name), by_name.get(name)
        latest = item.latest if item else None
        entries.append(
            {
                "dataset": name,
                "description": contract.description if contract else "",
                "columns": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "nullable": c.nullable,
                        "pii": c.pii_mode,
                        "description": c.description,
                    }
                    for c in (contract.columns if contract else ())
                ],
                "primary_key": list(contract.primary_key) if contract else [],
                "event_time": contract.event_time if contract else None,
                "contract_version": contract.version if contract else None,
                "pipeline": item.dag_id if item else None,
                "schedule": item.schedule if item else None,
                "owner": contract_owners.get(name),
                "owners": owners.get(name, []),
                "tables": sorted(tables.get(name, ())),
                "intermediate": bool(item and item.intermediate),
                "freshness": item.freshness if item else "never run",
                "last_status": latest.state if latest else None,
            }
        )
    return entries


def search(entries: Sequence[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Entries whose name, description, pipeline, owner, table or a column name contains ``query``."""
    wanted = query.lower().strip()
    if not wanted:
        return list(entries)

    def haystack(entry: dict[str, Any]) -> str:
        words = [
            entry["dataset"],
            entry["description"],
            entry["pipeline"] or "",
            entry["owner"] or "",
            *entry["owners"],
        ]
        words += entry["tables"]
        words += [c["name"] for c in entry["columns"]]
        return " ".join(words).lower()

    return [e for e in entries if wanted in haystack(e)]


def render_catalog(entries: Sequence[dict[str, Any]], *, query: str = "") -> str:
    """The catalog page: a search box and one block per matching dataset."""
    shown = search(entries, query)
    blocks = []
    for e in shown:
        columns = "".join(
            f'<tr data-column="{escape(c["name"])}"><td><code>{escape(c["name"])}</code></td>'
            f"<td>{escape(c['type'])}</td>"
            f"<td>{'' if c['nullable'] else 'not null'}</td><td>{escape(c['pii'] or '')}</td>"
            f"<td>{escape(c['description'])}</td></tr>"
            for c in e["columns"]
        )
        facts = (
            f"pipeline <b>{escape(e['pipeline'] or '-')}</b> · schedule <code>{escape(e['schedule'] or '-')}</code> · "
            f"owner {escape(e['owner'] or '-')} · DAG owners {escape(', '.join(e['owners']) or '-')} · "
            f"tables {escape(', '.join(e['tables']) or '-')} · "
            f"key <code>{escape(', '.join(e['primary_key']) or '-')}</code> · freshness {escape(e['freshness'])} · "
            f"last status {escape(e['last_status'] or '-')}"
        )
        kind = ' <span class="badge intermediate">intermediate</span>' if e["intermediate"] else ""
        blocks.append(
            f'<details class="dataset" data-dataset="{escape(e["dataset"])}" open><summary><h2>{escape(e["dataset"])}'
            f"</h2>{kind}</summary><p class=sub>{escape(e['description'])}</p><p>{facts}</p>"
            "<table><thead><tr><th>Column</th><th>Type</th><th>Null</th><th>PII</th><th>Description</th></tr></thead>"
            f"<tbody>{columns}</tbody></table></details>"
        )
    body = (
        '<p><a href="data-health">← Data health</a></p><h1>Catalog</h1>'
        '<form class="controls" method="get" action="catalog"><label>Search name, column, owner, pipeline or table'
        f'<input name="q" value="{escape(query)}"></label><button type="submit">Search</button></form>'
        f'<p class=sub id="count" data-value="{len(shown)}">{len(shown)} of {len(entries)} dataset(s)</p>'
        + ("".join(blocks) or '<p class="empty">Nothing matches.</p>')
    )
    return page_shell("Catalog", body)
