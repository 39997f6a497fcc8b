{# The embedded default's upsert target (lockgate.hooks.partner.TableUpsertHook): keyed, for ON CONFLICT. #}
CREATE TABLE IF NOT EXISTS {{ table }} (
{% for col in columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not col.nullable %} NOT NULL{% endif %},
{% endfor %}
    PRIMARY KEY ({{ primary_key | map('ident') | join(', ') }})
);
