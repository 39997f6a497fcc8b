{# Schema evolution: a new nullable column from the contract. #}
ALTER TABLE {{ table }} ADD COLUMN {{ column.name | ident }} {{ column.type | sqltype }};
