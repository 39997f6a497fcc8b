{# Upsert on the primary key through the staging table: delete matching keys, insert. One transaction. #}
DELETE FROM {{ table }} AS t
USING {{ staging }} AS s
WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }}{% if not loop.last %} AND {% endif %}{% endfor %};
INSERT INTO {{ table }} ({% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %} FROM {{ staging }};
