{#
  Redshift has no advisory or row locks: LOCK serialises every writer of the table until commit
  (a load of another date waits too). Without it, two concurrent writers fail one of them at commit
  with a serializable isolation violation instead.
#}
LOCK {{ table }};
