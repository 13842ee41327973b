"""The daily quota as the crawl sees it: counted before every request, persisted with the crawl.

The service's count does not restart when the program does (the original crawler's bug), so
today's usage is read back from the database at start-up and every request is counted before
it is sent. Deltas ride along with the next page commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tiktok_network.api.spec import BUCKET_BUDGETS, FOLLOW_BUDGET, FOLLOW_ENDPOINTS
from tiktok_network.config import CrawlSettings
from tiktok_network.quota_day import day_number, next_reset
from tiktok_network.store.base import QuotaDelta

# Calls counted ahead at most (a block): a kill -9 leaves at most this many per bucket counted
# and never sent; a reservation is one commit, so larger blocks cost fewer commits.
RESERVE_BLOCK = 200

if TYPE_CHECKING:
    from tiktok_network.store.base import SharedQuota


def client_id(client_key: str, api_base: str = "") -> str:
    """A stable name for the client that does not reveal the key. The API base is part of it:
    quotas are the service's, and an emulator on another port is another service."""
    material = f"tiktok-network:{client_key}:{api_base.rstrip('/')}".encode()
    return hashlib.sha256(material).hexdigest()[:16]


class QuotaTracker:
    """Implements the client's ``QuotaGate``: may this request be sent today?"""

    def __init__(
        self,
        client: str,
        settings: CrawlSettings,
        stored: dict[str, tuple[int, bool]],
        day: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: the time quota days are counted in (the engine's)."""
        self.client = client
        self._clock = clock
        self.settings = settings
        self.day = day
        self.used: dict[str, int] = defaultdict(int, {b: n for b, (n, _) in stored.items()})
        self.flagged: set[str] = {b for b, (_, ex) in stored.items() if ex}
        self._pending: dict[tuple[int, str], QuotaDelta] = {}
        # Calls reserved (counted in the ledger and the crawl) and not sent yet: a request is
        # counted durably before it is sent, a block at a time; what is left of a block is
        # given back at the end of the run (a kill -9 leaves it counted: never under-counted).
        self._ahead: dict[str, int] = defaultdict(int)
        self._committing: dict[str, int] = defaultdict(int)  # reserved, commit under way
        self._reserving = asyncio.Lock()
        self.durable: Callable[[], Awaitable[None]] | None = None  # commits the deltas now

    # ------------------------------------------------------------------ gate
    async def acquire(self, bucket: str) -> bool:
        self._roll()
        group = self.group(bucket)
        while True:
            if self.is_exhausted(group):
                return False
            if self._ahead[bucket] > 0:
                self._ahead[bucket] -= 1
                self.used[bucket] += 1
                return True
            await self._reserve_block(bucket, group)

    async def _reserve_block(self, bucket: str, group: tuple[str, ...]) -> None:
        """Count a block of calls before any of them is sent (at most what the budget has
        left, at most 1% of it): usable once the count is durable (when the crawl can commit
        now), so no request goes out uncounted."""
        async with self._reserving:
            if self._ahead[bucket] > 0 or self.is_exhausted(group):
                return
            left = self.budget(group) - self.used_in(group)
            block = max(1, min(RESERVE_BLOCK, self.budget(group) // 100, left))
            self._delta(bucket).used += block
            self._committing[bucket] += block
            try:
                if self.durable is not None:
                    await self.durable()
            finally:
                self._committing[bucket] -= block
            self._ahead[bucket] += block

    def release_reserved(self) -> None:
        """Give back the calls reserved and not sent (the end of a run)."""
        for bucket, ahead in list(self._ahead.items()):
            if ahead > 0:
                self._delta(bucket).used -= ahead
        self._ahead.clear()

    async def refund(self, bucket: str) -> None:
        """A request that never reached the service (no connection): it used no quota; its
        reservation serves the next request."""
        self._roll()
        if self.used[bucket] > 0:
            self.used[bucket] -= 1
            self._ahead[bucket] += 1

    async def exhausted(self, bucket: str, message: str | None = None) -> None:
        """The service refused for the day; ``message`` is what it said (kept for status)."""
        self._roll()
        self.flagged.add(bucket)
        delta = self._delta(bucket)
        delta.exhausted = True
        if message:
            delta.server_message = message[:500]

    def sync(self, totals: dict[tuple[str, int, str], tuple[int, bool]]) -> None:
        """Take the ledger's day totals (every crawl with this client) after a commit; use
        counted here since then is still pending and comes on top."""
        self._roll()
        for (client, day, bucket), (used, exhausted) in totals.items():
            if client != self.client or day != self.day:
                continue
            pending = self._pending.get((day, bucket))
            # The ledger counts this run's reservations too: what was sent is less by those.
            self.used[bucket] = (
                used
                + (pending.used if pending else 0)
                - self._ahead[bucket]
                - self._committing[bucket]
            )
            if exhausted:
                self.flagged.add(bucket)

    # --------------------------------------------------------------- queries
    def group(self, bucket: str) -> tuple[str, ...]:
        """The buckets counted against one budget with ``bucket`` (the follow lists share
        theirs unless ``--separate-follow-quotas``; user info has the general one)."""
        budget = BUCKET_BUDGETS[bucket]
        if budget == FOLLOW_BUDGET and self.settings.separate_follow_quotas:
            return (bucket,)
        return tuple(b for b, of in BUCKET_BUDGETS.items() if of == budget)

    def budget(self, group: tuple[str, ...]) -> int:
        if BUCKET_BUDGETS[group[0]] == FOLLOW_BUDGET:
            return self.settings.follow_quota
        return self.settings.info_quota

    def used_in(self, group: tuple[str, ...]) -> int:
        return sum(self.used[b] for b in group)

    def is_exhausted(self, group: tuple[str, ...]) -> bool:
        self._roll()
        return any(b in self.flagged for b in group) or self.used_in(group) >= self.budget(group)

    def follow_used(self) -> int:
        self._roll()
        return sum(self.used[b] for b in FOLLOW_ENDPOINTS)

    def next_reset(self) -> float:
        return next_reset(self.settings.day_seconds, self._clock())

    # ------------------------------------------------------------ persistence
    def drain(self) -> list[QuotaDelta]:
        """Deltas not yet committed; the writer takes them into its next transaction."""
        deltas = list(self._pending.values())
        self._pending.clear()
        return deltas

    def _delta(self, bucket: str) -> QuotaDelta:
        key = (self.day, bucket)
        delta = self._pending.get(key)
        if delta is None:
            delta = self._pending[key] = QuotaDelta(self.client, self.day, bucket)
        return delta

    def _roll(self) -> None:
        today = day_number(self.settings.day_seconds, self._clock())
        if today != self.day:
            self.release_reserved()  # given back to the day they were reserved in
            self.day = today
            self.used = defaultdict(int)
            self.flagged = set()


class SharedQuotaTracker(QuotaTracker):
    """The quota of a crawl shared by several workers (PostgreSQL): requests are debited in
    the database before they are sent, so the workers together never exceed the budget.

    Debits are taken a few at a time (``block``, at most the worker's concurrency) and spent
    locally: one database round trip per block instead of per request, which a crawl at full
    speed notices. What is left is given back at the end of the run; a ``kill -9`` loses at
    most one block, counted and never sent, so the ledger errs on the side of the service's
    limit. The local counts mirror the database, for the progress line and ``status``.
    """

    def __init__(
        self,
        client: str,
        settings: CrawlSettings,
        stored: dict[str, tuple[int, bool]],
        day: int,
        ledger: SharedQuota,
        block: int = 32,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client, settings, stored, day, clock=clock)
        self._ledger = ledger
        self._block = max(1, min(block, settings.concurrency))
        self._reserve: dict[str, int] = defaultdict(int)  # debited, not yet sent
        self._refill = asyncio.Lock()

    async def acquire(self, bucket: str) -> bool:
        self._roll()
        group = self.group(bucket)
        if any(b in self.flagged for b in group):
            return False
        if self._reserve[bucket] <= 0:
            async with self._refill:
                if self._reserve[bucket] <= 0 and not await self._take(bucket, group):
                    return False
        self._reserve[bucket] -= 1
        self.used[bucket] += 1
        return True

    async def _take(self, bucket: str, group: tuple[str, ...]) -> bool:
        day = self.day
        granted = await self._ledger.debit(
            self.client, day, bucket, group, self.budget(group), self._block
        )
        if day != self.day:  # a new day began meanwhile: that debit was yesterday's
            return await self._take(bucket, group)
        if granted <= 0:
            if granted < 0:
                self.flagged.update(group)
            self.used[bucket] = max(
                self.used[bucket], self.budget(group) - self._others(group, bucket)
            )
            return False
        self._reserve[bucket] += granted
        return True

    def _others(self, group: tuple[str, ...], bucket: str) -> int:
        return sum(self.used[b] for b in group if b != bucket)

    async def refund(self, bucket: str) -> None:
        """The request never left: its debit goes back to the local reserve."""
        self._roll()
        if self.used[bucket] > 0:
            self.used[bucket] -= 1
        self._reserve[bucket] += 1

    async def exhausted(self, bucket: str, message: str | None = None) -> None:
        self._roll()
        self.flagged.add(bucket)
        await self._ledger.mark_exhausted(
            self.client, self.day, bucket, (message or "")[:500] or None
        )

    async def close(self) -> None:
        """Give back what was debited and not sent."""
        self._roll()
        for bucket, left in list(self._reserve.items()):
            if left > 0:
                await self._ledger.refund(self.client, self.day, bucket, left)
        self._reserve.clear()

    def _roll(self) -> None:
        day = self.day
        super()._roll()
        if self.day != day:
            self._reserve = defaultdict(int)

    def drain(self) -> list[QuotaDelta]:
        return []  # debited as it happened
