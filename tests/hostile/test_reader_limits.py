"""Long lines and the CSV fast path: a line longer than the limit always takes the Python reader.

The fast path (Arrow) fails on a line longer than its block; ``formats._longest_line_within``
decides, chunk by chunk, whether any line is longer than ``csv.field_size_limit()``. Checked here
against a brute-force reference for every way of cutting the same bytes into chunks.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest

from lockgate.formats import _longest_line_within


def longest_line(data: bytes) -> int:
    return max(len(line) for line in re.split(rb"\r\n|\r|\n", data))


def scan(data: bytes, cuts: list[int], limit: int) -> bool:
    """True when the chunked scan finds no line longer than ``limit``."""
    since = 0
    edges = [0, *cuts, len(data)]
    for start, end in itertools.pairwise(edges):
        since = _longest_line_within(data[start:end], since, limit)
        if since < 0:
            return False
    return True


@pytest.mark.parametrize("seed", range(40))
def test_chunked_scan_agrees_with_the_longest_line(seed: int) -> None:
    rng = random.Random(seed)
    lines = [b"x" * rng.choice([0, 1, 5, 9, 10, 11, 30]) for _ in range(rng.randint(1, 12))]
    data = b"".join(line + rng.choice([b"\n", b"\r\n", b"\r"]) for line in lines)[: rng.randint(1, 400)]
    limit = 10
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(0, 6)))) if len(data) > 1 else []
        # a \r\n cut in two is still one line end; the reference sees it whole
        assert scan(data, cuts, limit) == (longest_line(data) <= limit), (data, cuts)


def test_a_line_exactly_at_the_limit_passes_and_one_byte_more_does_not() -> None:
    assert _longest_line_within(b"a" * 10 + b"\n", 0, 10) == 0
    assert _longest_line_within(b"a" * 11 + b"\n", 0, 10) == -1
    assert _longest_line_within(b"aaaa", 6, 10) == 10  # still open, exactly at the limit
    assert _longest_line_within(b"aaaaa", 6, 10) == -1
