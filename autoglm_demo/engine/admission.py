"""Admission: how many requests the server holds at once, and how many of them generate.

A request counts from its arrival, before its body is read: decoding images, OCR, speech
recognition and prompt rendering all cost memory and CPU, so they must sit inside the bound
as much as waiting for a generation slot does. At most `max_concurrent + max_queue` requests
are held; the next one is refused at once with a Retry-After estimate.

One `Admission` is shared by every precision variant of a model, because they share the
same processor: two variants generating at once would each run at half speed.
"""

from __future__ import annotations

import asyncio
import math
import time


class QueueFull(RuntimeError):
    """Every place is taken; the client should come back."""

    def __init__(self, held: int, retry_after_s: int) -> None:
        super().__init__(
            f"The server is busy: {held} requests are already being served or waiting. "
            f"Retry in about {retry_after_s} s."
        )
        self.retry_after_s = retry_after_s


class Admission:
    """`max_concurrent` generations run; up to `max_queue` more requests are held, whether
    still being prepared or waiting in FIFO order (asyncio.Semaphore wakes waiters in the
    order they arrived). Used from the event loop only."""

    def __init__(self, max_concurrent: int = 1, max_queue: int = 32) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._capacity = max_concurrent + max_queue
        self.held = 0
        """Requests admitted that have not left yet."""
        self._typical_generation_s = 5.0

    def enter(self) -> Ticket:
        """A place for one request, or QueueFull when there is none."""
        if self.held >= self._capacity:
            estimate = self._typical_generation_s * self.held / self._max_concurrent
            raise QueueFull(self.held, max(1, math.ceil(estimate)))
        self.held += 1
        return Ticket(self)

    def _record(self, started: float) -> None:
        # A moving average of generation time makes Retry-After an estimate, not a guess.
        elapsed = time.monotonic() - started
        self._typical_generation_s = 0.8 * self._typical_generation_s + 0.2 * elapsed


class Ticket:
    """One request's place. It is given back when the request has ended and, if it
    generated, once that generation's compute has really stopped (which may be after the
    client has gone), whichever comes last."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._generating = False
        self._left = False

    async def acquire_slot(self) -> None:
        """Wait for a generation slot."""
        await self._admission._slots.acquire()
        self._generating = True

    def release_slot(self, started: float) -> None:
        self._admission._record(started)
        self._admission._slots.release()
        self._generating = False
        self.leave()

    def leave(self) -> None:
        """The request is done with its place; idempotent. A running generation keeps the
        place until `release_slot`."""
        if self._left or self._generating:
            return
        self._left = True
        self._admission.held -= 1
