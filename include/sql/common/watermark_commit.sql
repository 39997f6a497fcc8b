{# The date's load committed: its range becomes the next date's starting point. #}
UPDATE {{ table }} SET committed = TRUE, commit_run_id = $4, committed_at = $5
WHERE dag_id = $1 AND source_name = $2 AND partition_ds = $3;
