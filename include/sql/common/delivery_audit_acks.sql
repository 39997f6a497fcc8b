{# The batches acknowledged for (target, dataset, date) and not superseded: what a rerun must not send again. #}
SELECT batch_no, idempotency_key, rows_sent, content_hash, version, run_id
FROM {{ audit_table }}
WHERE target = $1 AND dataset = $2 AND partition_ds = $3 AND status = 'acknowledged'
ORDER BY batch_no;
