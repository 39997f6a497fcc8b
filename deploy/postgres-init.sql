-- The warehouse lives beside Airflow's metadata database in the compose deployment.
CREATE USER warehouse WITH PASSWORD 'warehouse';
CREATE DATABASE warehouse OWNER warehouse;
