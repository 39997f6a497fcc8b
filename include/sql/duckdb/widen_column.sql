{# Schema evolution: a safe widening (integer -> double, date -> timestamp). #}
ALTER TABLE {{ table }} ALTER COLUMN {{ column.name | ident }} TYPE {{ column.type | sqltype }};
