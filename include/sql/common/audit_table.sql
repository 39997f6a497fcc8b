{#
  One row per (table, partition): which run loaded it, how many rows, which checksum.
  Unique on (table_name, partition_ds) by construction (audit_upsert.sql deletes, then inserts).
  DuckDB and Redshift declare no PRIMARY KEY (DuckDB: the reason given in duckdb/create_table.sql;
  Redshift never enforces one). PostgreSQL has its own template, with the key.
#}
CREATE TABLE IF NOT EXISTS {{ audit_table }} (
    dag_id {{ 'string' | sqltype }} NOT NULL,
    run_id {{ 'string' | sqltype }} NOT NULL,
    dataset {{ 'string' | sqltype }} NOT NULL,
    table_name {{ 'string' | sqltype }} NOT NULL,
    partition_ds {{ 'date' | sqltype }} NOT NULL,
    mode {{ 'string' | sqltype }} NOT NULL,
    rows_loaded {{ 'integer' | sqltype }} NOT NULL,
    checksum {{ 'string' | sqltype }} NOT NULL,
    loaded_at {{ 'timestamp' | sqltype }} NOT NULL
);
