{#
  Create a warehouse table from a contract's storage columns when it does not exist.
  partition_by (replace_partition and append tables: 'ds'): a list-partitioned table, one partition
  per logical date, and no primary key - see WarehouseLoadOperator.table_key for the trade-off.
#}
CREATE TABLE IF NOT EXISTS {{ table }} (
{% for col in columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not col.nullable %} NOT NULL{% endif %}{% if not loop.last or primary_key %},{% endif %}

{% endfor %}
{% if primary_key %}
    PRIMARY KEY ({% for k in primary_key %}{{ k | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
{% endif %}
){% if partition_by is defined and partition_by %} PARTITION BY LIST ({{ partition_by | ident }}){% endif %};
