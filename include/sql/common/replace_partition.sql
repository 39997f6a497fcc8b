{# Replace one logical date: delete the date's rows, insert the staged rows. Runs in one transaction. #}
DELETE FROM {{ table }} WHERE {{ 'ds' | ident }} = $1;
INSERT INTO {{ table }} ({% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %} FROM {{ staging }};
