{#
  One curated folder (or file) into a temp table holding exactly the Parquet file's columns, in its
  order: COPY from Parquet maps columns by position and cannot read hive partition values from paths.
  `location` and `authorization` are literals made by lockgate.hooks.warehouse.s3_literal /
  iam_role_literal / credentials_literal: COPY does not take bound parameters for them.
#}
CREATE TEMP TABLE {{ part }} (
{% for col in file_columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not loop.last %},{% endif %}

{% endfor %}
);
COPY {{ part }} FROM {{ location }} {{ authorization }} FORMAT AS PARQUET;
INSERT INTO {{ staging }} ({% for col in columns %}{{ col.name | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for col in columns %}{% if col.name in partition_values %}CAST(${{ partition_values[col.name] }} AS {{ col.type | sqltype }}){% else %}{{ col.name | ident }}{% endif %}{% if not loop.last %}, {% endif %}{% endfor %}

FROM {{ part }};
DROP TABLE {{ part }};
