{# 'p': partitioned, 'r': a plain table (created before partitioning, or by hand), none: absent. #}
SELECT c.relkind::text FROM pg_class AS c WHERE c.oid = to_regclass($1);
