{#
  Create a warehouse table from a contract's storage columns when it does not exist. No PRIMARY KEY:
  Redshift never enforces one, and its planner trusts a declared key to be unique; keys stay unique
  because the quality gate fails on duplicates and every load replaces by date or merges by key.
#}
CREATE TABLE IF NOT EXISTS {{ table }} (
{% for col in columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not col.nullable %} NOT NULL{% endif %}{% if not loop.last %},{% endif %}

{% endfor %}
);
