"""The CSV fast path's row numbers around rejected lines: numpy against the earlier Python loop.

``formats._lines_around`` numbers the rows of a batch that holds rejects; the reference is the
loop it replaced. They are compared on generated inputs (runs of rejects, duplicates, rejects
before and far after the batch, empty batches), then whole files are read with small Arrow blocks,
so that nearly every batch holds a reject, and compared with the Python reader and the known lines.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lockgate import formats
from lockgate.formats import ROW_COLUMN, read_batches


def reference_lines(line: int, n: int, skipped: list[int]) -> tuple[list[int], int]:
    """The earlier loop: the rows' line numbers and the next line."""
    skip, out = set(skipped), list[int]()
    while len(out) < n:
        if line not in skip:
            out.append(line)
        line += 1
    return out, line


def numpy_lines(line: int, n: int, skipped: list[int]) -> tuple[list[int], int]:
    kept = formats._lines_around(line, n, skipped)
    assert kept.dtype.name == "int64"
    assert kept.flags.c_contiguous  # Arrow takes its buffer as is (formats._int64s)
    return kept.tolist(), int(kept[-1]) + 1 if n else line


def test_the_same_numbers_as_the_loop_on_generated_batches() -> None:
    rng = random.Random(20261207)
    for _ in range(3000):
        line, n = rng.randint(2, 10**9), rng.choice([0, 1, 2, 3, rng.randint(1, 5000)])
        skipped: list[int] = []
        for _ in range(rng.choice([0, 1, 2, 5, 40])):
            start = line + rng.choice([0, n - 1, n, n + 1, rng.randint(-5, 2 * n + 5)])
            skipped += range(start, start + rng.choice([1, 1, 2, 7]))  # runs of consecutive rejects
        if rng.random() < 0.5:
            skipped.sort()
        assert numpy_lines(line, n, skipped) == reference_lines(line, n, skipped), (line, n, skipped)


@pytest.mark.parametrize(
    ("line", "n", "skipped", "expected"),
    [
        (2, 3, [2], [3, 4, 5]),  # the first row rejected
        (2, 3, [5], [2, 3, 4]),  # a reject just after the batch: not consumed
        (2, 3, [3, 4, 5, 6], [2, 7, 8]),  # a run of rejects
        (10, 2, [1, 9, 10, 10], [11, 12]),  # rejects before the batch and a repeated one
        (2, 0, [2], []),
    ],
)
def test_hand_picked_batches(line: int, n: int, skipped: list[int], expected: list[int]) -> None:
    assert numpy_lines(line, n, skipped)[0] == expected == reference_lines(line, n, skipped)[0]


def test_files_with_a_reject_in_nearly_every_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small Arrow blocks, rejects at the first and last line, in runs and at random: the known lines."""
    rng = random.Random(7)
    total = 30_000
    bad = {2, 3, total + 1} | {rng.randint(2, total + 1) for _ in range(300)} | set(range(5000, 5012))
    lines = ["id,name,value"]
    for number in range(2, total + 2):
        lines.append(f"{number},x" if number in bad else f"{number},n{number},{number % 13}")
    path = tmp_path / "dirty.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(formats, "_ARROW_BLOCK", 8192)  # ~500 rows a block: 60 blocks, most with a reject

    def read() -> tuple[list[tuple[str, int]], list[int]]:
        rows, rejected = [], []
        for batch, rejects in read_batches(path, ["id", "name", "value"], batch_rows=700):
            rows += [(r["id"], r[ROW_COLUMN]) for r in batch.to_pylist()]
            rejected += [r.row for r in rejects]
        return rows, rejected

    assert formats._scan_csv(path, ",", "utf-8") is not None  # the fast path reads it
    fast = read()
    monkeypatch.setattr(formats, "_scan_csv", lambda *a, **k: None)
    assert read() == fast  # the Python reader's rows, numbers and rejects
    rows, rejected = fast
    assert sorted(rejected) == sorted(bad)
    assert rows == [(str(number), number) for number in range(2, total + 2) if number not in bad]
