"""The lineage view: a graph of datasets and jobs from the OpenLineage events Lockgate emits.

Works without Marquez: the events come from OpenLineage's file transport (the embedded default,
``$LOCKGATE_HOME/lineage/events.jsonl``; whatever ``[openlineage] transport`` names when it is a
``file`` transport). For each job the newest ``COMPLETE`` event says what it read and wrote; output
datasets carry their ``columnLineage`` facet (shown on demand) and lake datasets
(``<zone>/<dataset>``) the last quality status of their dataset from the Data health page.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from glob import glob
from html import escape
from pathlib import Path
from typing import Any

from lockgate.ui.render import page_shell

_ZONE = re.compile(r"(?:^|/)(raw|staged|quarantine|curated|quality|reports)/([^/]+)$")
STATE_COLOURS = {
    "loaded": "#38a169",
    "warned": "#d69e2e",
    "quarantine-heavy": "#dd6b20",
    "failed": "#c53030",
    "late": "#805ad5",
    None: "#a0aec0",
}


@dataclass
class Node:
    """A job or a dataset of the graph."""

    id: str
    kind: str  # "job" or "dataset"
    label: str
    inputs: set[str] = field(default_factory=set)
    run_id: str | None = None
    event_time: str | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)  # output column -> input fields
    dataset: str | None = None  # the Lockgate dataset a lake dataset belongs to
    status: str | None = None


def events_files() -> list[Path]:
    """The files the OpenLineage file transport writes to (an empty list for other transports)."""
    path = None
    try:
        from airflow.configuration import conf

        transport = json.loads(conf.get("openlineage", "transport", fallback="") or "{}")
        if transport.get("type") == "file":
            path = transport.get("log_file_path")
    except (ImportError, ValueError):
        path = None
    if not path:
        from lockgate.config import lockgate_home

        path = str(lockgate_home() / "lineage" / "events.jsonl")
    # append mode writes one file; otherwise the transport adds a timestamp to the name
    return [Path(p) for p in sorted({path, *glob(f"{glob_escape(path)}*")}) if os.path.isfile(p)]


def glob_escape(path: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", path)


def read_events(files: Iterable[Path]) -> list[dict[str, Any]]:
    """Every event of the files (JSON lines or one JSON document per file); unreadable lines skipped."""
    events = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def _dataset_id(raw: Mapping[str, Any]) -> str:
    return f"{raw.get('namespace')}::{raw.get('name')}"


def _label(raw: Mapping[str, Any]) -> tuple[str, str | None]:
    """A short name (``curated/readings``, ``warehouse.main.dim_station``) and the Lockgate dataset."""
    name = str(raw.get("name"))
    match = _ZONE.search(name)
    if match:
        return f"{match[1]}/{match[2]}", match[2]
    return name.rsplit("/", 1)[-1] if "://" not in name and name.startswith("/") else name, None


def build_graph(events: Sequence[Mapping[str, Any]], statuses: Mapping[str, str] | None = None) -> dict[str, Node]:
    """Jobs and datasets from the newest ``COMPLETE`` event of each job; ``statuses`` by Lockgate dataset."""
    newest: dict[str, Mapping[str, Any]] = {}
    for event in events:
        if event.get("eventType") != "COMPLETE":
            continue
        key = f"{event.get('job', {}).get('namespace')}::{event.get('job', {}).get('name')}"
        if key not in newest or str(event.get("eventTime")) >= str(newest[key].get("eventTime")):
            newest[key] = event
    nodes: dict[str, Node] = {}

    def dataset(raw: Mapping[str, Any]) -> Node:
        key = _dataset_id(raw)
        if key not in nodes:
            label, name = _label(raw)
            nodes[key] = Node(key, "dataset", label, dataset=name, status=(statuses or {}).get(name or ""))
        return nodes[key]

    for job_key, event in sorted(newest.items()):
        job = nodes.setdefault(job_key, Node(job_key, "job", str(event["job"].get("name"))))
        job.run_id = str(event.get("run", {}).get("runId"))
        job.event_time = str(event.get("eventTime"))
        for raw in event.get("inputs") or []:
            job.inputs.add(dataset(raw).id)
        for raw in event.get("outputs") or []:
            out = dataset(raw)
            out.inputs.add(job_key)
            lineage = (raw.get("facets") or {}).get("columnLineage") or {}
            for column, spec in (lineage.get("fields") or {}).items():
                out.columns[column] = [
                    f"{_label(i)[0]}.{i.get('field')}" for i in spec.get("inputFields") or [] if isinstance(i, Mapping)
                ]
    return nodes


def layers(nodes: Mapping[str, Node]) -> dict[str, int]:
    """The column of each node: the longest path from a node without inputs (cycles cut)."""
    depth: dict[str, int] = {}

    def walk(key: str, seen: frozenset[str]) -> int:
        if key in depth:
            return depth[key]
        parents = [p for p in nodes[key].inputs if p in nodes and p not in seen]
        depth[key] = 1 + max((walk(p, seen | {key}) for p in parents), default=-1)
        return depth[key]

    for key in nodes:
        walk(key, frozenset())
    return depth


def graph_svg(nodes: Mapping[str, Node]) -> str:
    """The graph as an SVG: columns left to right, datasets as boxes coloured by quality status."""
    depth = layers(nodes)
    columns: dict[int, list[str]] = {}
    for key in sorted(nodes, key=lambda k: (depth[k], nodes[k].label)):
        columns.setdefault(depth[key], []).append(key)
    box_w, box_h, gap_x, gap_y = 210, 34, 60, 14
    pos = {
        key: (20 + col * (box_w + gap_x), 20 + row * (box_h + gap_y))
        for col, keys in columns.items()
        for row, key in enumerate(keys)
    }
    width = 40 + (max(columns, default=0) + 1) * (box_w + gap_x)
    height = 40 + max((len(k) for k in columns.values()), default=1) * (box_h + gap_y)
    parts = []
    for key, node in nodes.items():
        x2, y2 = pos[key]
        for parent in node.inputs:
            if parent in pos:
                x1, y1 = pos[parent]
                parts.append(
                    f'<path d="M{x1 + box_w},{y1 + box_h / 2} C{x1 + box_w + gap_x / 2},{y1 + box_h / 2} '
                    f'{x2 - gap_x / 2},{y2 + box_h / 2} {x2},{y2 + box_h / 2}" fill="none" stroke="#a0aec0"/>'
                )
    for key, node in nodes.items():
        x, y = pos[key]
        colour = "#4a5568" if node.kind == "job" else STATE_COLOURS.get(node.status, STATE_COLOURS[None])
        label = node.label if len(node.label) <= 30 else "…" + node.label[-29:]
        title = f"{node.kind} {node.label}" + (f" · last quality status {node.status}" if node.status else "")
        parts.append(
            f'<g class="node" data-kind="{node.kind}" data-id="{escape(key)}" data-label="{escape(node.label)}" '
            f'data-status="{escape(node.status or "")}"><title>{escape(title)}</title>'
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="{12 if node.kind == "job" else 3}" '
            f'fill="{colour}" fill-opacity=".9"/><text x="{x + 8}" y="{y + 21}" font-size="12" fill="#fff">'
            f"{escape(label)}</text></g>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="Lineage graph">{"".join(parts)}</svg>'
    )


def render_lineage(nodes: Mapping[str, Node], *, files: Sequence[Path]) -> str:
    """The lineage page: the graph, then each dataset's column lineage on demand."""
    if not nodes:
        body = (
            '<p class="empty" id="no-lineage">No OpenLineage events in '
            f"{escape(', '.join(map(str, files)) or 'the file transport')} yet: run a pipeline.</p>"
        )
    else:
        details = []
        for node in sorted(nodes.values(), key=lambda n: n.label):
            if node.kind != "dataset" or not node.columns:
                continue
            rows = "".join(
                f"<tr><td><code>{escape(col)}</code></td><td>{escape(', '.join(src) or '-')}</td></tr>"
                for col, src in sorted(node.columns.items())
            )
            details.append(
                f'<details class="block" data-dataset="{escape(node.label)}"><summary>Column lineage of '
                f"<code>{escape(node.label)}</code></summary><table><thead><tr><th>Column</th><th>From</th></tr>"
                f"</thead><tbody>{rows}</tbody></table></details>"
            )
        body = (
            f'<div class="scroll" id="lineage-graph">{graph_svg(nodes)}</div>'
            + "".join(details)
            + f"<p class=sub>From {escape(', '.join(map(str, files)))}</p>"
        )
    return page_shell(
        "Lineage",
        '<p><a href="data-health">← Data health</a> · <a href="catalog">Catalog</a></p><h1>Lineage</h1>'
        "<p class=sub>Jobs (dark) and datasets (coloured by their dataset's last quality status) from the "
        "newest completed run of each job.</p>" + body,
    )


def graph_as_dict(nodes: Mapping[str, Node]) -> dict[str, Any]:
    """The graph as JSON: nodes with their inputs, column lineage and status."""
    return {
        "nodes": [
            {
                "id": n.id,
                "kind": n.kind,
                "label": n.label,
                "inputs": sorted(n.inputs),
                "run_id": n.run_id,
                "dataset": n.dataset,
                "status": n.status,
                "columns": n.columns,
            }
            for n in sorted(nodes.values(), key=lambda n: n.id)
        ]
    }
