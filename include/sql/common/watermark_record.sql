{# The range a logical date read, recorded once (uncommitted) when its ingestion landed. #}
DELETE FROM {{ table }} WHERE dag_id = $1 AND source_name = $2 AND partition_ds = $3;
INSERT INTO {{ table }} (dag_id, source_name, partition_ds, watermark_column, value_type, low_value, high_value,
                         rows_read, run_id, recorded_at, committed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE);
