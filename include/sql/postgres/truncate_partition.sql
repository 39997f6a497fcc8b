{#
  Empty one date's partition before its rows are loaded again: no dead tuples, no scan. The lock it
  takes is on this date's partition only; readers of this date wait for the commit and see the old
  rows or the new ones, never a mix; loads of other dates go on.
#}
TRUNCATE {{ partition }};
