{# The staging table: the contract's storage columns, dropped with the session. #}
CREATE TEMP TABLE {{ staging }} (
{% for col in columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not loop.last %},{% endif %}

{% endfor %}
);
