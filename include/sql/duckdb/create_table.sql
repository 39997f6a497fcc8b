{#
  Create a warehouse table from a contract's storage columns when it does not exist.
  No PRIMARY KEY here on purpose: DuckDB checks constraints eagerly, so deleting a date's rows and
  re-inserting the same keys in one transaction (a rerun of replace_partition) would be refused.
  Keys stay unique because the quality gate fails on duplicates and every load replaces by date
  or merges by key.
#}
CREATE TABLE IF NOT EXISTS {{ table }} (
{% for col in columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not col.nullable %} NOT NULL{% endif %}{% if not loop.last %},{% endif %}

{% endfor %}
);
