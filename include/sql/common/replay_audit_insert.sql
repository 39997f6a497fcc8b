INSERT INTO {{ table }} (
    replay_dag_id, replay_run_id, original_dag_id, original_run_id, dataset, table_name, partition_ds,
    outcome, rows_quarantined_before, rows_quarantined_after, rows_loaded, replayed_at
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12);
