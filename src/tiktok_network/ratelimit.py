"""An exact sliding-window rate limit: at most ``rate`` events in any ``window`` seconds.

A leaky bucket with capacity equal to the limit lets bursts reach twice the limit inside one
window (the engineering notes measured it), which a server with a sliding-window limit answers
with 429s. A log of timestamps is exact and costs a few microseconds per event. The clock is
injectable so the limiter is tested without sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable


class SlidingWindow:
    def __init__(
        self, rate: float, window: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, int(rate * window))
        self.window = window
        self.clock = clock
        self._stamps: collections.deque[float] = collections.deque()

    def try_acquire(self) -> float:
        """Admit one event now and return 0, or return how long to wait before trying again."""
        now = self.clock()
        stamps = self._stamps
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) < self.capacity:
            stamps.append(now)
            return 0.0
        return stamps[0] + self.window - now


class AsyncLimiter:
    """Callers wait their turn on a :class:`SlidingWindow`; FIFO through a lock.

    ``margin`` lengthens the window a little: the server stamps a request when it arrives, not
    when it left, and connection set-up can delay one request more than the next, so a window
    exactly as long as the server's can still collide at its edge.
    """

    def __init__(
        self,
        rate: float,
        window: float = 1.0,
        margin: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.window = SlidingWindow(rate * window, window + margin, clock)
        self.window.capacity = max(1, int(rate * window))
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.window.try_acquire()) > 0:
                await self._sleep(wait)
