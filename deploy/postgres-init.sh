#!/bin/bash
# Databases beside Airflow's metadata, created once on an empty volume (docker-entrypoint-initdb.d):
# `warehouse` (the lockgate_warehouse connection) and `marquez` (the lineage backend).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v warehouse_password="${LOCKGATE_WAREHOUSE_PASSWORD:-warehouse}" \
    -v marquez_password="${LOCKGATE_MARQUEZ_PASSWORD:-marquez}" <<'SQL'
CREATE USER warehouse WITH PASSWORD :'warehouse_password';
CREATE DATABASE warehouse OWNER warehouse;
CREATE USER marquez WITH PASSWORD :'marquez_password';
CREATE DATABASE marquez OWNER marquez;
SQL
