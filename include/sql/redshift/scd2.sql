{#
  Slowly changing dimension, type 2 (see common/scd2.sql for the three steps). Redshift has no
  IS DISTINCT FROM: "differs" is spelled out with its NULL handling; the snapshot date $1 is cast
  because Redshift does not infer a parameter's type from a SELECT list.
#}
{% macro differs(c) %}NOT (t.{{ c | ident }} = s.{{ c | ident }} OR (t.{{ c | ident }} IS NULL AND s.{{ c | ident }} IS NULL)){% endmacro %}
UPDATE {{ table }} AS t SET
{% for c in attributes %}
    {{ c | ident }} = s.{{ c | ident }}{% if not loop.last %},{% endif %}

{% endfor %}
FROM {{ staging }} AS s
WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }} AND {% endfor %}t."is_current" AND t."valid_from" = CAST($1 AS DATE)
  AND ({% for c in attributes %}{{ differs(c) }}{% if not loop.last %} OR {% endif %}{% endfor %});
UPDATE {{ table }} AS t SET "valid_to" = CAST($1 AS DATE), "is_current" = FALSE
FROM {{ staging }} AS s
WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }} AND {% endfor %}t."is_current" AND t."valid_from" < CAST($1 AS DATE)
  AND ({% for c in attributes if c != 'ds' %}{{ differs(c) }}{% if not loop.last %} OR {% endif %}{% endfor %});
INSERT INTO {{ table }} ({% for c in columns %}{{ c | ident }}, {% endfor %}"valid_from", "valid_to", "is_current")
SELECT {% for c in columns %}s.{{ c | ident }}, {% endfor %}CAST($1 AS DATE), CAST(NULL AS DATE), TRUE FROM {{ staging }} AS s
WHERE NOT EXISTS (
    SELECT 1 FROM {{ table }} AS t
    WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }} AND {% endfor %}t."is_current"
);
