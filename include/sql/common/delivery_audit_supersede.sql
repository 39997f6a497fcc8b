{# A changed date: the acknowledgements of its older versions stop counting (kept, as history). #}
UPDATE {{ audit_table }} SET status = 'superseded'
WHERE target = $1 AND dataset = $2 AND partition_ds = $3 AND status = 'acknowledged' AND version <> $4;
