{# Append the staged rows (exactly once per date: the operator checks the audit before). #}
INSERT INTO {{ table }} ({% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for c in columns %}{{ c | ident }}{% if not loop.last %}, {% endif %}{% endfor %} FROM {{ staging }};
