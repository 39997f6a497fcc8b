{# Record the load in the same transaction as the data; a rerun replaces the partition's audit row. #}
DELETE FROM {{ audit_table }} WHERE table_name = $1 AND partition_ds = $2;
INSERT INTO {{ audit_table }} (dag_id, run_id, dataset, table_name, partition_ds, mode, rows_loaded, checksum, loaded_at)
VALUES ($3, $4, $5, $1, $2, $6, $7, $8, $9);
