"""Admission: how many generations run at once, and how many may wait for a turn.

One `Admission` is shared by every precision variant of a model, because they share the
same processor: two variants generating at once would each run at half speed.
"""

from __future__ import annotations

import asyncio
import math
import time


class QueueFull(RuntimeError):
    """Every slot is busy and the queue behind them is full; the client should come back."""

    def __init__(self, waiting: int, retry_after_s: int) -> None:
        super().__init__(
            f"The server is busy: {waiting} requests are already waiting. "
            f"Retry in about {retry_after_s} s."
        )
        self.retry_after_s = retry_after_s


class Admission:
    """`max_concurrent` generations run; up to `max_queue` more wait in FIFO order
    (asyncio.Semaphore wakes waiters in the order they arrived)."""

    def __init__(self, max_concurrent: int = 1, max_queue: int = 32) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._max_queue = max_queue
        self._waiting = 0
        self._typical_generation_s = 5.0

    def check_room(self) -> None:
        """Refuse a new request now, rather than queue it without bound."""
        if self._waiting >= self._max_queue:
            ahead = self._waiting + self._max_concurrent
            estimate = self._typical_generation_s * ahead / self._max_concurrent
            raise QueueFull(self._waiting, max(1, math.ceil(estimate)))

    async def acquire(self) -> None:
        """Wait for a free slot. `release` frees it once compute has really stopped, which
        may be after the consumer has gone."""
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1

    def release(self, started: float) -> None:
        # A moving average of generation time makes Retry-After an estimate, not a guess.
        elapsed = time.monotonic() - started
        self._typical_generation_s = 0.8 * self._typical_generation_s + 0.2 * elapsed
        self._slots.release()
