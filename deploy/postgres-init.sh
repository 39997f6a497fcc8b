#!/bin/bash
# Databases beside Airflow's metadata, created once on an empty volume (docker-entrypoint-initdb.d):
# `warehouse` (the lockgate_warehouse connection), `catalog` (the lockgate_catalog connection: the
# curated zone's Iceberg catalog) and `marquez` (the lineage backend).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v warehouse_password="${LOCKGATE_WAREHOUSE_PASSWORD:-warehouse}" \
    -v catalog_password="${LOCKGATE_CATALOG_PASSWORD:-catalog}" \
    -v marquez_password="${LOCKGATE_MARQUEZ_PASSWORD:-marquez}" <<'SQL'
CREATE USER warehouse WITH PASSWORD :'warehouse_password';
CREATE DATABASE warehouse OWNER warehouse;
CREATE USER catalog WITH PASSWORD :'catalog_password';
CREATE DATABASE catalog OWNER catalog;
CREATE USER marquez WITH PASSWORD :'marquez_password';
CREATE DATABASE marquez OWNER marquez;
SQL
