{#
  Schema evolution: a safe widening (integer -> double, date -> timestamp). Redshift's ALTER COLUMN
  TYPE only lengthens VARCHARs, so the column is rebuilt: a new column, the values cast into it, the
  old one dropped, the new one renamed (it moves to the end; loads name their columns).
#}
ALTER TABLE {{ table }} ADD COLUMN {{ (column.name ~ '__lockgate_widen') | ident }} {{ column.type | sqltype }};
UPDATE {{ table }} SET {{ (column.name ~ '__lockgate_widen') | ident }} = CAST({{ column.name | ident }} AS {{ column.type | sqltype }});
ALTER TABLE {{ table }} DROP COLUMN {{ column.name | ident }};
ALTER TABLE {{ table }} RENAME COLUMN {{ (column.name ~ '__lockgate_widen') | ident }} TO {{ column.name | ident }};
