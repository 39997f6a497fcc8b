"""lockgate.progress: time-based progress lines, driven by an injected clock."""

from __future__ import annotations

import logging

import pytest

from lockgate.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="lockgate.progress")
    return caplog


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lockgate.progress"]


def test_a_line_every_interval_with_rate_and_time_left(clock: Clock, lines: pytest.LogCaptureFixture) -> None:
    progress = Progress("gate readings", total=10_000_000, clock=clock)
    for _ in range(9):  # 9 s of batches: nothing logged yet
        clock.now += 1
        progress.advance(200_000)
    assert messages(lines) == []
    clock.now += 1
    progress.advance(200_000)  # 10 s: 2,000,000 rows at 200,000 rows/s, 8,000,000 to go
    assert messages(lines) == ["gate readings: 2,000,000 of 10,000,000 rows (20.0%), 200,000 rows/s, about 40 s left"]
    clock.now += 5
    progress.advance(1_000_000)  # 15 s since the start but only 5 s since the last line
    assert len(messages(lines)) == 1
    clock.now += 5
    progress.advance(1_000_000)  # 20 s: 4,000,000 at 200,000/s -> 30 s left
    assert messages(lines)[-1] == (
        "gate readings: 4,000,000 of 10,000,000 rows (40.0%), 200,000 rows/s, about 30 s left"
    )
    clock.now += 100
    progress.finish()
    assert messages(lines)[-1] == "gate readings: done, 4,000,000 rows in 2 min 00 s (33,333 rows/s)"


def test_never_more_than_one_line_per_interval_however_often_it_is_fed(
    clock: Clock, lines: pytest.LogCaptureFixture
) -> None:
    progress = Progress("ingest", every=10, clock=clock)
    for row in range(1, 100_001):  # one call per row, 1 ms apart: 100 s
        clock.now = 1000.0 + row / 1000
        progress.advance(1)
    assert len(messages(lines)) == 10  # at 10, 20, ... 100 s
    assert messages(lines)[0].startswith("ingest: 10,000 rows, 1,000 rows/s")
    assert "left" not in messages(lines)[0]  # no total, no estimate


def test_a_fast_task_logs_nothing(clock: Clock, lines: pytest.LogCaptureFixture) -> None:
    progress = Progress("partition", total=50, clock=clock)
    clock.now += 0.2
    progress.update(50)
    progress.finish()
    assert messages(lines) == []


def test_bytes_are_shown_as_sizes(clock: Clock) -> None:
    progress = Progress("ingest_gateway (readings)", total=3_400_000_000, unit="bytes", clock=clock)
    clock.now += 10
    progress.update(1_200_000_000)
    assert progress.line() == "ingest_gateway (readings): 1.2 GB of 3.4 GB (35.3%), 120.0 MB/s, about 18 s left"


def test_estimates(clock: Clock) -> None:
    progress = Progress("x", total=100, clock=clock, log=logging.getLogger("quiet"))
    assert progress.rate is None
    assert progress.remaining is None
    clock.now += 3600
    progress.update(25)
    assert progress.remaining == pytest.approx(3 * 3600)
    assert progress.line() == "x: 25 of 100 rows (25.0%), 0 rows/s, about 3 h 00 min left"
