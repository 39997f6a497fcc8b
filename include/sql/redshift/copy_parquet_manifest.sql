{#
  A curated date's data files, listed by a COPY manifest (exactly the files of one Iceberg snapshot
  of the date), into a temp table holding the files' columns in their order: COPY from Parquet maps
  columns by position. The files hold every column, the partition columns included.
  `location` (the manifest's s3:// URI) and `authorization` are literals made by
  lockgate.hooks.warehouse.s3_literal / iam_role_literal / credentials_literal.
#}
CREATE TEMP TABLE {{ part }} (
{% for col in file_columns %}
    {{ col.name | ident }} {{ col.type | sqltype }}{% if not loop.last %},{% endif %}

{% endfor %}
);
COPY {{ part }} FROM {{ location }} {{ authorization }} FORMAT AS PARQUET MANIFEST;
INSERT INTO {{ staging }} ({% for col in columns %}{{ col.name | ident }}{% if not loop.last %}, {% endif %}{% endfor %})
SELECT {% for col in columns %}{{ col.name | ident }}{% if not loop.last %}, {% endif %}{% endfor %}

FROM {{ part }};
DROP TABLE {{ part }};
