{#
  Incremental SQL sources: the watermark range each logical date read, one row per
  (dag_id, source_name, partition_ds), unique by construction (watermark_record.sql deletes, then
  inserts). low_value is exclusive, high_value inclusive, both as text with value_type telling how
  to read them back; NULL low_value means "from the start". committed turns TRUE only when the
  CommitWatermarkOperator runs after the date's warehouse load.
#}
CREATE TABLE IF NOT EXISTS {{ table }} (
    dag_id {{ 'string' | sqltype }} NOT NULL,
    source_name {{ 'string' | sqltype }} NOT NULL,
    partition_ds {{ 'date' | sqltype }} NOT NULL,
    watermark_column {{ 'string' | sqltype }} NOT NULL,
    value_type {{ 'string' | sqltype }},
    low_value {{ 'string' | sqltype }},
    high_value {{ 'string' | sqltype }},
    rows_read {{ 'integer' | sqltype }} NOT NULL,
    run_id {{ 'string' | sqltype }} NOT NULL,
    recorded_at {{ 'timestamp' | sqltype }} NOT NULL,
    committed {{ 'boolean' | sqltype }} NOT NULL,
    commit_run_id {{ 'string' | sqltype }},
    committed_at {{ 'timestamp' | sqltype }}
);
