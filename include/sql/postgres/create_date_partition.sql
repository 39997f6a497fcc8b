{#
  The partition of one logical date, created empty and attached in its own short transaction.
  CREATE TABLE ... PARTITION OF would take an ACCESS EXCLUSIVE lock on the parent (waiting for every
  running load of another date); ATTACH PARTITION needs only SHARE UPDATE EXCLUSIVE, which does not
  conflict with their COPYs. `day` is a date literal built from a parsed date: partition bounds are
  DDL and cannot be bound parameters.
#}
CREATE TABLE IF NOT EXISTS {{ partition }} (LIKE {{ table }} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE {{ table }} ATTACH PARTITION {{ partition }} FOR VALUES IN ({{ day }});
