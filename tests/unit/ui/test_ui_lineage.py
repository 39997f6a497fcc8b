"""lockgate.ui.lineage_view: the lineage graph from OpenLineage file-transport events, without Marquez."""

from __future__ import annotations

import json
from pathlib import Path

from lockgate.ui.lineage_view import build_graph, graph_as_dict, layers, read_events, render_lineage

LAKE = "/home/lake"


def event(
    job: str, inputs: list[str], outputs: list[str], *, time: str, kind: str = "COMPLETE", **facets: object
) -> dict:
    def ds(name: str) -> dict:
        return {"namespace": "file", "name": f"{LAKE}/{name}", "facets": facets.get(name, {})}

    return {
        "eventType": kind,
        "eventTime": time,
        "job": {"namespace": "lockgate", "name": f"air_quality_daily.{job}"},
        "run": {"runId": f"run-{job}-{time}"},
        "inputs": [ds(n) for n in inputs],
        "outputs": [ds(n) for n in outputs],
    }


EVENTS = [
    event("gate_readings", ["raw/readings"], ["staged/readings", "quarantine/readings"], time="2026-01-02T01:00:00Z"),
    event("gate_readings", ["raw/readings"], ["staged/readings"], time="2026-01-02T00:00:00Z"),  # older run
    event("gate_readings", ["raw/readings"], ["staged/x"], time="2026-01-03T00:00:00Z", kind="START"),  # not complete
    event("partition_readings", ["staged/readings"], ["curated/readings"], time="2026-01-02T02:00:00Z"),
    event(
        "compute_daily_aqi",
        ["curated/readings"],
        ["raw/agg_air_quality_daily"],
        time="2026-01-02T03:00:00Z",
        **{
            "raw/agg_air_quality_daily": {
                "columnLineage": {
                    "fields": {
                        "aqi": {
                            "inputFields": [{"namespace": "file", "name": f"{LAKE}/curated/readings", "field": "value"}]
                        }
                    }
                }
            }
        },
    ),
]


def test_the_graph_has_jobs_datasets_and_edges_from_the_newest_complete_runs(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\nnot json\n")
    nodes = build_graph(read_events([path]), {"readings": "warned"})
    by_label = {n.label: n for n in nodes.values()}
    gate = by_label["air_quality_daily.gate_readings"]
    assert gate.kind == "job"
    assert gate.run_id == "run-gate_readings-2026-01-02T01:00:00Z"
    assert "staged/x" not in by_label  # a START event says nothing about what was written
    assert gate.id in by_label["quarantine/readings"].inputs  # the newest complete run wrote it
    assert by_label["curated/readings"].status == "warned"  # the dataset's last quality status
    assert by_label["raw/agg_air_quality_daily"].columns == {"aqi": ["curated/readings.value"]}
    depth = layers(nodes)
    assert depth[by_label["raw/readings"].id] < depth[gate.id] < depth[by_label["staged/readings"].id]
    assert depth[by_label["staged/readings"].id] < depth[by_label["curated/readings"].id]

    html = render_lineage(nodes, files=[path])
    assert html.count('class="node"') == len(nodes)
    assert 'data-label="curated/readings" data-status="warned"' in html
    assert "Column lineage of <code>raw/agg_air_quality_daily</code>" in html
    assert {n["label"] for n in graph_as_dict(nodes)["nodes"]} == set(by_label)


def test_no_events_says_so() -> None:
    assert 'id="no-lineage"' in render_lineage({}, files=[])
