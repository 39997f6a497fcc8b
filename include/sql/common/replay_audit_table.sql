{#
  One row per quarantine replay of a dataset's date and table (lockgate.replay): which run replayed
  which original run's raw input, quarantined rows before and after, the rows the table then holds.
  Joins lockgate_load_audit on (table_name, partition_ds, run_id = replay_run_id) when it reloaded.
#}
CREATE TABLE IF NOT EXISTS {{ table }} (
    replay_dag_id {{ 'string' | sqltype }} NOT NULL,
    replay_run_id {{ 'string' | sqltype }} NOT NULL,
    original_dag_id {{ 'string' | sqltype }} NOT NULL,
    original_run_id {{ 'string' | sqltype }} NOT NULL,
    dataset {{ 'string' | sqltype }} NOT NULL,
    table_name {{ 'string' | sqltype }} NOT NULL,
    partition_ds {{ 'date' | sqltype }} NOT NULL,
    outcome {{ 'string' | sqltype }} NOT NULL,
    rows_quarantined_before {{ 'integer' | sqltype }} NOT NULL,
    rows_quarantined_after {{ 'integer' | sqltype }} NOT NULL,
    rows_loaded {{ 'integer' | sqltype }},
    replayed_at {{ 'timestamp' | sqltype }} NOT NULL
);
