{# A retry of the same replay run replaces its rows of the date; other replays stay (the history). #}
DELETE FROM {{ table }} WHERE replay_run_id = $1 AND dataset = $2 AND partition_ds = $3;
