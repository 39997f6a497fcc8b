{# One batch's outcome, committed on its own as soon as the target answered (lockgate.delivery). #}
INSERT INTO {{ audit_table }} (dag_id, run_id, target, kind, location, dataset, partition_ds, version, batch_no, batches,
                               idempotency_key, rows_sent, content_hash, status, http_status, retried, response,
                               reason, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19);
