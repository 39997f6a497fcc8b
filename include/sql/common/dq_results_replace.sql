{# A rerun of the gate for a date replaces that date's results for the dataset. #}
DELETE FROM {{ table }} WHERE dataset = $1 AND partition_ds = $2;
