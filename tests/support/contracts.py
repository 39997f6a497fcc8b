"""Data contracts the tests write to a file of their own."""

from __future__ import annotations


def sensor_contract(primary_key: str) -> str:
    """A small sensor feed with a column for each preprocessing step (flag, fill, scale), keyed by
    ``primary_key`` (YAML, e.g. ``[id, at]``)."""
    return f"""\
dataset: sensor
version: 1
description: A test sensor feed.
owner: test
columns:
  id: {{type: string, nullable: false}}
  at: {{type: timestamp, nullable: false}}
  value: {{type: double}}
  value_missing: {{type: boolean}}
  value_scaled: {{type: double}}
  site: {{type: string}}
primary_key: {primary_key}
"""
