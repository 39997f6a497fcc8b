"""Validate OpenLineage events against the 2-0-2 spec and the facet schemas kept in tests/data."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

# a copy inside the repository (tests/data/openlineage-spec/README.md says where it came from)
SPEC_DIR = Path(__file__).resolve().parents[1] / "data" / "openlineage-spec"


@lru_cache(maxsize=1)
def _schemas() -> tuple[Any, dict[str, Any], dict[str, str]]:
    """(registry of every schema, the core schema, facet key -> $id of the schema defining it)."""
    from referencing import Registry, Resource

    core = json.loads((SPEC_DIR / "OpenLineage.json").read_text())
    resources = [(core["$id"], Resource.from_contents(core))]
    facet_owner: dict[str, str] = {}
    for path in sorted((SPEC_DIR / "facets").glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
        for key in schema.get("properties", {}):
            facet_owner[key] = schema["$id"]
    return Registry().with_resources(resources), core, facet_owner


def validate_event(event: dict[str, Any]) -> list[str]:
    """Every error of an event: the core schema, then each facet against the schema that defines it.

    A facet key no schema in the spec defines is reported too (it would be unvalidated).
    """
    import jsonschema

    registry, core, facet_owner = _schemas()
    errors = [
        f"event: {e.message}" for e in jsonschema.Draft202012Validator(core, registry=registry).iter_errors(event)
    ]

    def check(where: str, facets: dict[str, Any]) -> None:
        for key, facet in facets.items():
            owner = facet_owner.get(key)
            schema_url = str(facet.get("_schemaURL", ""))
            if owner is not None:
                validator = jsonschema.Draft202012Validator({"$ref": owner}, registry=registry)
                errors.extend(f"{where}.{key}: {e.message}" for e in validator.iter_errors({key: facet}))
            elif schema_url.startswith(core["$id"] + "#/$defs/"):
                # a custom facet (the Airflow provider's `airflow`, `unknownSourceAttribute`...):
                # it must at least be a valid base facet of its kind
                validator = jsonschema.Draft202012Validator({"$ref": schema_url}, registry=registry)
                errors.extend(f"{where}.{key}: {e.message}" for e in validator.iter_errors(facet))
            else:
                errors.append(f"{where}.{key}: no schema in the spec defines it ({schema_url or 'no _schemaURL'})")

    check("run.facets", event.get("run", {}).get("facets", {}))
    check("job.facets", event.get("job", {}).get("facets", {}))
    for side in ("inputs", "outputs"):
        for ds in event.get(side, []):
            where = f"{side}[{ds.get('name', '?')}]"
            check(f"{where}.facets", ds.get("facets", {}))
            check(f"{where}.inputFacets", ds.get("inputFacets", {}))
            check(f"{where}.outputFacets", ds.get("outputFacets", {}))
    return errors
