{#
  Upsert on the primary key from the staging table, latest snapshot wins: a staged row replaces the
  table's row only when its ds is not older, so rerunning an old date never rolls a newer one back.
  One transaction (the caller's).
#}
DELETE FROM {{ table }} AS t
USING {{ staging }} AS s
WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }} AND {% endfor %}t.{{ 'ds' | ident }} <= s.{{ 'ds' | ident }};
INSERT INTO {{ table }} ({% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for c in columns %}s.{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %} FROM {{ staging }} AS s
WHERE NOT EXISTS (
    SELECT 1 FROM {{ table }} AS t
    WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }}{% if not loop.last %} AND {% endif %}{% endfor %}

);
