"""Progress lines for long tasks: how much so far, how fast, how long still to go.

Use one :class:`Progress` per long loop and feed it per batch or chunk (not per row -- the clock is
read on every call)::

    progress = Progress("gate readings", total=manifest_rows, log=self.log)
    for batch in batches:
        ...
        progress.advance(batch.num_rows)
    progress.finish()

A line is logged when ``every`` seconds (default 10) have passed since the previous one, never
more often, so a fast task logs nothing until :meth:`Progress.finish` and a slow one logs a steady
trickle::

    gate readings: 1,200,000 of 10,000,000 rows (12.0%), 240,000 rows/s, about 37 s left

``unit="bytes"`` shows sizes (``1.2 GB of 3.4 GB``) and byte rates instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL = 10.0

_log = logging.getLogger(__name__)


def _amount(value: float, unit: str) -> str:
    if unit == "bytes":
        size = float(value)
        for suffix in ("B", "KB", "MB", "GB", "TB"):
            if abs(size) < 1000 or suffix == "TB":
                return f"{size:,.0f} {suffix}" if suffix == "B" else f"{size:,.1f} {suffix}"
            size /= 1000
    return f"{value:,.0f} {unit}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Time-based progress logging for one long loop.

    :param what: what is progressing, the start of every line (``"ingest readings"``).
    :param total: the amount expected, when known (enables the percentage and the time left).
    :param unit: ``"rows"`` (default), ``"bytes"`` or any plural noun.
    :param every: seconds between two lines.
    :param log: the logger to write to (an operator's ``self.log``); this module's by default.
    :param clock: a monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        what: str,
        *,
        total: float | None = None,
        unit: str = "rows",
        every: float = DEFAULT_INTERVAL,
        log: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total if total is None or total > 0 else None
        self.unit = unit
        self.every = max(0.0, float(every))
        self.log = log if log is not None else _log
        self.clock = clock
        self.done = 0.0
        self.started = clock()
        self._last_line = self.started
        self.lines = 0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def rate(self) -> float | None:
        """Units per second since the start (``None`` before any time has passed)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else None

    @property
    def remaining(self) -> float | None:
        """Estimated seconds left (``None`` without a total or a rate)."""
        rate = self.rate
        if self.total is None or not rate:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def advance(self, amount: float) -> None:
        """Add ``amount`` done since the last call; log a line if ``every`` seconds have passed."""
        self.update(self.done + amount)

    def update(self, done: float) -> None:
        """Set the amount done so far; log a line if ``every`` seconds have passed."""
        self.done = done
        now = self.clock()
        if now - self._last_line >= self.every:
            self._last_line = now
            self.lines += 1
            self.log.info("%s", self.line())

    def line(self) -> str:
        """The progress line for now."""
        if self.total is None:
            text = f"{self.what}: {_amount(self.done, self.unit)}"
        else:
            # "1,200 of 10,000 rows" but "1.2 MB of 3.4 GB": a size carries its own unit
            so_far = _amount(self.done, self.unit) if self.unit == "bytes" else f"{self.done:,.0f}"
            share = 100.0 * self.done / self.total
            text = f"{self.what}: {so_far} of {_amount(self.total, self.unit)} ({share:.1f}%)"
        rate = self.rate
        if rate is not None:
            text += f", {_amount(rate, self.unit)}/s"
        remaining = self.remaining
        if remaining is not None:
            text += f", about {_duration(remaining)} left"
        return text

    def finish(self) -> None:
        """Log the closing line (total and average rate) if any progress line was logged."""
        if self.lines:
            rate = self.rate
            self.log.info(
                "%s: done, %s in %s%s",
                self.what,
                _amount(self.done, self.unit),
                _duration(self.elapsed),
                f" ({_amount(rate, self.unit)}/s)" if rate is not None else "",
            )
