{# Create a warehouse table from a contract's storage columns when it does not exist. #}
CREATE TABLE IF NOT EXISTS {{ table }} (
{% for col in columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not col.nullable %} NOT NULL{% endif %}{% if not loop.last or primary_key %},{% endif %}

{% endfor %}
{% if primary_key %}
    PRIMARY KEY ({% for k in primary_key %}{{ k | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
{% endif %}
);
