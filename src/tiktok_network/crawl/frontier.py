"""Whom to visit next. The engine asks a frontier for claims and tells it when work ends; the
frontier decides the order. Breadth-first is the one here: users claimed from the store by
depth, then id, in batches; a sampler is another class with the same small interface
(``next_claim``, ``working``, ``changed``, ``busy``, ``claimed_total``). A refresh round is
one too: the users it marked, oldest data first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterator

from tiktok_network.config import CrawlSettings
from tiktok_network.store.base import Claim
from tiktok_network.store.writer import StoreWriter


class BreadthFirstFrontier:
    """Claims users in depth order through the store, a batch at a time, for all workers."""

    def __init__(
        self,
        writer: StoreWriter,
        worker_id: str,
        settings: CrawlSettings,
        stop: asyncio.Event,
        claimed_total: int,
        info_depths: tuple[int, int] | None = None,
    ) -> None:
        """``info_depths``: claim users within these depths for their user info only."""
        self._writer = writer
        self._worker_id = worker_id
        self._settings = settings
        self._stop = stop
        self.claimed_total = claimed_total  # users started, for --max-users
        self._info_depths = info_depths
        self._info_after = 0  # an info round walks users by id once: a failed lookup is not retried
        self.busy = 0  # workers crawling a user: while any is, new users may appear
        self._buffer: collections.deque[Claim] = collections.deque()
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Something was committed that may have added users (or a stop was asked for)."""
        self._changed.set()

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """Around one user's crawl: the frontier is not empty while a worker may add to it."""
        self.busy += 1
        try:
            yield
        finally:
            self.busy -= 1
            self._changed.set()

    async def next_claim(self) -> Claim | None:
        """The next user to crawl; None when there is none now and no busy worker."""
        s = self._settings
        while not self._stop.is_set():
            if self._buffer:
                return self._buffer.popleft()
            self._changed.clear()
            async with self._lock:
                if self._buffer:
                    continue
                want = max(2 * s.concurrency, 16)
                if s.max_users is not None and self._info_depths is None:
                    want = min(want, s.max_users - self.claimed_total)
                    if want <= 0:
                        return None if self.busy == 0 else await self._idle_wait()
                if self._info_depths is not None:
                    claims = await self._writer.claim_info(
                        self._worker_id,
                        max(2 * s.concurrency, 16),
                        self._info_depths,
                        s.directions,
                        self._info_after,
                    )
                    self._info_after = max([self._info_after, *(c.user_id for c in claims)])
                else:
                    claims = await self._claim(want)
                self.claimed_total += len(claims)
                if claims:
                    self._buffer.extend(claims)
                    continue
                if self.busy == 0 and not await self._others_busy():
                    return None
            await self._idle_wait()
        return None

    async def _claim(self, want: int) -> list[Claim]:
        s = self._settings
        return await self._writer.claim(self._worker_id, want, s.max_depth, s.directions, s.info)

    async def _others_busy(self) -> bool:
        """Workers in other processes (a shared store) may still add users, or die and leave
        theirs to be taken over when their lease expires: wait for them."""
        if not self._writer.store.shared:
            return False
        return await self._writer.claimed_elsewhere(self._worker_id) > 0

    async def _idle_wait(self) -> None:
        """Wait until a busy worker commits something that may have added users."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=1.0)
        except TimeoutError:
            pass


class RefreshFrontier(BreadthFirstFrontier):
    """The users a refresh round marked, the oldest data first (``tiktok-network refresh``)."""

    async def _claim(self, want: int) -> list[Claim]:
        s = self._settings
        return await self._writer.claim_refresh(self._worker_id, want, s.directions)
