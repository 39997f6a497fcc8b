{#
  Deliveries (lockgate.delivery): one row per batch a target acknowledged or rejected, per
  (target, dataset, partition_ds). A retry sends the batches of the current version that have no
  'acknowledged' row; a changed date marks the old version's rows 'superseded' and records its
  new batches with the reason. No PRIMARY KEY: rejected and superseded rows are history, kept.
#}
CREATE TABLE IF NOT EXISTS {{ audit_table }} (
    dag_id {{ 'string' | sqltype }} NOT NULL,
    run_id {{ 'string' | sqltype }} NOT NULL,
    target {{ 'string' | sqltype }} NOT NULL,
    kind {{ 'string' | sqltype }} NOT NULL,
    location {{ 'string' | sqltype }} NOT NULL,
    dataset {{ 'string' | sqltype }} NOT NULL,
    partition_ds {{ 'date' | sqltype }} NOT NULL,
    version {{ 'string' | sqltype }} NOT NULL,
    batch_no {{ 'integer' | sqltype }} NOT NULL,
    batches {{ 'integer' | sqltype }} NOT NULL,
    idempotency_key {{ 'string' | sqltype }} NOT NULL,
    rows_sent {{ 'integer' | sqltype }} NOT NULL,
    content_hash {{ 'string' | sqltype }} NOT NULL,
    status {{ 'string' | sqltype }} NOT NULL,
    http_status {{ 'integer' | sqltype }},
    retried {{ 'string' | sqltype }},
    response {{ 'string' | sqltype }},
    reason {{ 'string' | sqltype }} NOT NULL,
    recorded_at {{ 'timestamp' | sqltype }} NOT NULL
);
