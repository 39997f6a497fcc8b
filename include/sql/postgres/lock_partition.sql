{# One load per (table, date) at a time: a transaction-scoped advisory lock, released at commit. #}
SELECT pg_try_advisory_xact_lock(hashtext($1));
