"""A test needs a tool or a service the machine lacks: skip on a laptop, fail in CI.

``.ci/run`` provides everything the suite needs (PostgreSQL, Redis, Chromium, docker-compose,
openssl), so in CI (``CI`` set) a missing piece is a broken set-up, never a reason to skip.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(what: str, how: str) -> NoReturn:
    """Skip the test (``what`` is missing; ``how`` says how to get it), or fail it under ``CI``."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (.ci/run should provide it: {how})")
    pytest.skip(f"{what} ({how})")
