{# What a run's date delivered where, per target: for the run summary (lockgate.delivery). #}
SELECT target, kind, location, dataset,
       sum(CASE WHEN status = 'acknowledged' THEN rows_sent ELSE 0 END) AS rows_acknowledged,
       sum(CASE WHEN status = 'acknowledged' THEN 1 ELSE 0 END) AS batches_acknowledged,
       sum(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) AS batches_rejected,
       max(recorded_at) AS last_recorded_at
FROM {{ audit_table }}
WHERE dag_id = $1 AND partition_ds = $2 AND status IN ('acknowledged', 'rejected')
GROUP BY target, kind, location, dataset
ORDER BY target, dataset;
