"""Sources behind one ingestion interface: files, HTTP APIs, SQL databases and in-memory data."""
