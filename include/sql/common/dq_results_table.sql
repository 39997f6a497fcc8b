{# History of every quality check: one row per dataset, logical date and check. #}
CREATE TABLE IF NOT EXISTS {{ table }} (
    dag_id {{ 'string' | sqltype }} NOT NULL,
    run_id {{ 'string' | sqltype }} NOT NULL,
    dataset {{ 'string' | sqltype }} NOT NULL,
    partition_ds {{ 'date' | sqltype }} NOT NULL,
    check_name {{ 'string' | sqltype }} NOT NULL,
    expectation {{ 'string' | sqltype }} NOT NULL,
    severity {{ 'string' | sqltype }} NOT NULL,
    passed {{ 'boolean' | sqltype }} NOT NULL,
    observed_value {{ 'string' | sqltype }},
    rows_failed {{ 'integer' | sqltype }},
    rows_evaluated {{ 'integer' | sqltype }},
    engine {{ 'string' | sqltype }} NOT NULL,
    recorded_at {{ 'timestamp' | sqltype }} NOT NULL
);
