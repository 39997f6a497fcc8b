{# Every recorded range of one incremental source, oldest date first. #}
SELECT partition_ds, watermark_column, value_type, low_value, high_value, rows_read, committed, run_id
FROM {{ table }}
WHERE dag_id = $1 AND source_name = $2
ORDER BY partition_ds;
