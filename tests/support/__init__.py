"""Helper code shared by the lockgate test-suite.

Import it as ``tests.support`` (the root ``tests/conftest.py`` makes the repository root importable)::

    from tests.support.pg import airflow_conn_env, connect
    from tests.support.s3 import aws_conn_env
    from tests.support.http_recorder import RecordingHTTPServer

Modules:

* :mod:`tests.support.net` -- free TCP ports, waiting for a port to open.
* :mod:`tests.support.pg` -- throwaway PostgreSQL servers, per-test databases, Airflow connection env vars.
* :mod:`tests.support.s3` -- moto S3 server and the matching Airflow ``aws`` connection.
* :mod:`tests.support.http_recorder` -- a tiny local HTTP server that records POST bodies.

The fixtures themselves live in ``tests/conftest.py``.
"""
