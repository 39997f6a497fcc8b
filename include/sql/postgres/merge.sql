{#
  Upsert on the primary key from the staging table (PostgreSQL's native upsert), latest snapshot
  wins: an existing row is updated only when the staged ds is not older, so rerunning an old date
  never rolls a newer one back. One transaction (the caller's).
#}
INSERT INTO {{ table }} AS t ({% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %} FROM {{ staging }}
ON CONFLICT ({% for k in primary_key %}{{ k | ident }}{% if not loop.last %}, {% endif %}{% endfor %}) DO UPDATE SET
{% for c in columns if c not in primary_key %}
    {{ c | ident }} = EXCLUDED.{{ c | ident }}{% if not loop.last %},{% endif %}

{% endfor %}
WHERE t.{{ 'ds' | ident }} <= EXCLUDED.{{ 'ds' | ident }};
