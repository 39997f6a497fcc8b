{#
  Upsert on the primary key from the staging table, latest snapshot wins: a staged row replaces the
  table's row only when its ds is not older, so rerunning an old date never rolls a newer one back.
  Redshift's MERGE has no conditional WHEN MATCHED AND ..., hence DELETE USING + INSERT; its DELETE
  takes no alias for the target, hence the full names. One transaction (the caller's).
#}
DELETE FROM {{ table }}
USING {{ staging }}
WHERE {% for k in primary_key %}{{ table }}.{{ k | ident }} = {{ staging }}.{{ k | ident }} AND {% endfor %}{{ table }}.{{ 'ds' | ident }} <= {{ staging }}.{{ 'ds' | ident }};
INSERT INTO {{ table }} ({% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for c in columns %}s.{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %} FROM {{ staging }} AS s
WHERE NOT EXISTS (
    SELECT 1 FROM {{ table }} AS t
    WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }}{% if not loop.last %} AND {% endif %}{% endfor %}

);
