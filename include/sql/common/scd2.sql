{#
  Slowly changing dimension, type 2, from a daily snapshot ($1 = the snapshot's date):
  1. a version opened by this same date is corrected in place (a rerun with corrected data);
  2. a current version opened earlier whose attributes changed is closed (valid_to = $1);
  3. keys without a current version get one, valid from $1.
  A rerun of the same date changes nothing; an older date than a key's current version leaves
  that key alone, so history is never rewritten out of order.
#}
UPDATE {{ table }} AS t SET
{% for c in attributes %}
    {{ c | ident }} = s.{{ c | ident }}{% if not loop.last %},{% endif %}

{% endfor %}
FROM {{ staging }} AS s
WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }} AND {% endfor %}t."is_current" AND t."valid_from" = $1
  AND ({% for c in attributes %}t.{{ c | ident }} IS DISTINCT FROM s.{{ c | ident }}{% if not loop.last %} OR {% endif %}{% endfor %});
UPDATE {{ table }} AS t SET "valid_to" = $1, "is_current" = FALSE
FROM {{ staging }} AS s
WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }} AND {% endfor %}t."is_current" AND t."valid_from" < $1
  AND ({% for c in attributes if c != 'ds' %}t.{{ c | ident }} IS DISTINCT FROM s.{{ c | ident }}{% if not loop.last %} OR {% endif %}{% endfor %});
INSERT INTO {{ table }} ({% for c in columns %}{{ c | ident }}, {% endfor %}"valid_from", "valid_to", "is_current")
SELECT {% for c in columns %}s.{{ c | ident }}, {% endfor %}$1, NULL, TRUE FROM {{ staging }} AS s
WHERE NOT EXISTS (
    SELECT 1 FROM {{ table }} AS t
    WHERE {% for k in primary_key %}t.{{ k | ident }} = s.{{ k | ident }} AND {% endfor %}t."is_current"
);
