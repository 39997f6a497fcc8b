{# DDL on one table (create it, add a date's partition) one transaction at a time; released at commit. #}
SELECT pg_advisory_xact_lock(hashtext($1));
