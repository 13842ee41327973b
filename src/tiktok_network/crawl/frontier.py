"""Whom to visit next. The engine asks a frontier for claims and tells it when work ends; the
frontier decides the order. Breadth-first is the one here: users claimed from the store by
depth, then id, in batches; a sampler is another class with the same small interface
(``Frontier``: ``next_claim``, ``working``, ``changed``, ``busy``, ``claimed_total``). A
refresh round is one too: the users it marked, oldest data first. Which frontiers a run walks,
in which rounds, is its mode's choice (``crawl/modes.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterator
from typing import Protocol

from tiktok_network.config import CrawlSettings
from tiktok_network.crawl.samplers import Design, Need, Restart, Walk, Waves
from tiktok_network.store.base import FAILED, TODO, Claim
from tiktok_network.store.sampling import SampleNode
from tiktok_network.store.writer import StoreWriter

log = logging.getLogger("tiktok_network.crawl")


class Frontier(Protocol):
    """Whom the engine's workers crawl next, in the order a mode (``crawl/modes.py``) wants."""

    busy: int  # workers crawling a user of this frontier now
    claimed_total: int  # users claimed (a breadth-first crawl's --max-users counts them)

    async def next_claim(self) -> Claim | None:
        """The next user; None when the frontier is drained (or a stop was asked for)."""
        ...

    def working(self) -> contextlib.AbstractContextManager[None]:
        """Around one user's crawl: the frontier is not drained while a worker may add to it."""
        ...

    def changed(self) -> None:
        """Something was committed that may have added users (or a stop was asked for)."""
        ...


class FrontierBase:
    """What every frontier shares: the store and settings it claims with, the claims it has
    buffered, how many workers are busy (while any is, new users may appear), and an event set
    when something was committed or a stop asked for."""

    def __init__(
        self, writer: StoreWriter, worker_id: str, settings: CrawlSettings, stop: asyncio.Event
    ) -> None:
        self._writer = writer
        self._worker_id = worker_id
        self._settings = settings
        self._stop = stop
        self.busy = 0
        self._changed = asyncio.Event()
        self._buffer: collections.deque[Claim] = collections.deque()
        self._lock = asyncio.Lock()
        self.claimed_total = 0  # users claimed (a breadth-first crawl's --max-users counts them)

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

    async def _idle_wait(self) -> None:
        """Wait until a busy worker commits something that may have added users."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=1.0)
        except TimeoutError:
            pass

    async def next_claim(self) -> Claim | None:
        """The next user to crawl; None when there is none now and no busy worker (here or,
        with a shared store, elsewhere), or when a budget allows no more."""
        while not self._stop.is_set():
            if self._buffer:
                return self._buffer.popleft()
            self._changed.clear()
            async with self._lock:
                if self._buffer:
                    continue
                claims = await self._batch()
                if claims:
                    self.claimed_total += len(claims)
                    self._buffer.extend(claims)
                    continue
                if claims is not None and await self._drained():
                    return None
            if claims is None:  # a budget allows no more: the busy workers end the run
                if self.busy:
                    await self._idle_wait()
                return None
            await self._idle_wait()
        return None

    async def _batch(self) -> list[Claim] | None:
        """The next claims from the store (None: a budget allows no more)."""
        raise NotImplementedError

    async def _drained(self) -> bool:
        """No claim came: whether the frontier is empty for good (no busy worker here, nor in
        another process sharing the store, can add users)."""
        return self.busy == 0 and not await self._others_busy()

    async def _others_busy(self) -> bool:
        """Workers in other processes (a shared store) may still add users, or die and leave
        theirs to be taken over when their lease expires: wait for them."""
        return await self._writer.claimed_elsewhere(self._worker_id) > 0  # 0 for a file


class BreadthFirstFrontier(FrontierBase):
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
        super().__init__(writer, worker_id, settings, stop)
        self.claimed_total = claimed_total  # users started, for --max-users
        self._info_depths = info_depths
        self._info_after = 0  # an info round walks users by id once: a failed lookup is not retried

    async def _batch(self) -> list[Claim] | None:
        s = self._settings
        want = max(2 * s.concurrency, 16)
        if self._info_depths is not None:
            claims = await self._writer.claim_info(
                self._worker_id, want, self._info_depths, s.directions, self._info_after
            )
            self._info_after = max([self._info_after, *(c.user_id for c in claims)])
            return claims
        if s.max_users is not None:
            want = min(want, s.max_users - self.claimed_total)
            if want <= 0:
                return None
        return await self._claim(want)

    async def _claim(self, want: int) -> list[Claim]:
        s = self._settings
        return await self._writer.claim(self._worker_id, want, s.max_depth, s.directions, s.info)

    async def _drained(self) -> bool:
        """Also no user left to claim: a worker sharing the crawl may hold the last ones in
        a claim it has not committed yet (they are skipped, not seen as claimed), and ending
        then would leave with work left and exit 0."""
        if not await super()._drained():
            return False
        return self._info_depths is not None or await self._writer.frontier_empty(
            self._settings.max_depth
        )


class RefreshFrontier(BreadthFirstFrontier):
    """The users a refresh round marked, the oldest data first (``tiktok-network refresh``)."""

    async def _claim(self, want: int) -> list[Claim]:
        s = self._settings
        return await self._writer.claim_refresh(self._worker_id, want, s.directions)

    async def _drained(self) -> bool:
        """A round ends when no marked user is left to claim (the crawl's frontier is not
        this round's business)."""
        return await FrontierBase._drained(self)


class ListedFrontier(FrontierBase):
    """Exactly the users given, by id (a plan's pilot): those still waiting are claimed each
    time the buffer runs dry, so a user put back by the retry round is taken again."""

    def __init__(
        self,
        writer: StoreWriter,
        worker_id: str,
        settings: CrawlSettings,
        stop: asyncio.Event,
        ids: list[int],
    ) -> None:
        super().__init__(writer, worker_id, settings, stop)
        self._ids = ids

    async def _batch(self) -> list[Claim] | None:
        s = self._settings
        return await self._writer.claim_ids(self._worker_id, self._ids, s.directions, s.info)


# Rounds in a row that needed no new user before a sample is called stalled: its walkers
# circle in a part of the graph the crawl holds whole, and more steps cost nothing but add
# nothing new either.
STALLED_AFTER = 10_000


class SampleFrontier(FrontierBase):
    """The users a sampling design (``crawl/samplers.py``) needs expanded, round by round.

    Each round the design is asked for its next decisions; the users it waits for are claimed
    for the workers, and once they are expanded the design is asked again, and its decisions
    are stored in one transaction. The budget (calls over the whole crawl) is the engine's: it
    calls ``exhaust`` when it is spent, and the round under way is left undecided, so the
    sample is the same whether or not the crawl was killed on the way.
    """

    def __init__(
        self,
        writer: StoreWriter,
        worker_id: str,
        settings: CrawlSettings,
        stop: asyncio.Event,
        design: Design,
    ) -> None:
        super().__init__(writer, worker_id, settings, stop)
        self._design = design
        self.finished = False
        self.failed = False
        self.reason = ""
        self._chains: dict[int, list[int]] = {}
        self._seen: dict[int, SampleNode] = {}  # expanded users, this round

    async def start(self, seeds: list[str]) -> None:
        """Load the stored chains, or start them from the seeds (in username order)."""
        chains, ids = await self._writer.sample_prepare(sorted(seeds))
        if isinstance(self._design, Walk):
            self._design.seeds = await self._writer.seed_ids()
        if not chains:
            start = [ids[name] for name in sorted(seeds) if name in ids]
            if not start:
                self.exhaust("no seeds to start from")
                return
            rows = self._design.start(start)
            await self._writer.add_sample_steps(rows)
            chains = self._with(chains, rows)
        self._chains = chains

    def exhaust(self, reason: str, *, failed: bool = False) -> None:
        """No more users: the budget is spent, or the design has none left (``failed``: the
        sample could not be drawn at all, which the run reports as an error)."""
        if not self.finished:
            self.finished = True
            self.reason = reason
            self.failed = failed
        self._changed.set()

    async def _batch(self) -> list[Claim] | None:
        return None if self.finished else await self._advance()

    async def _drained(self) -> bool:
        """A sample ends when its design says so (an empty round means: wait for workers)."""
        return self.finished

    async def _advance(self) -> list[Claim]:
        """Decide rounds until one waits for users that are not expanded; claim those."""
        free = 0
        while not self.finished and not self._stop.is_set():
            decision = self._design.advance(self._chains, self._seen.get)
            if isinstance(decision, Need):
                waiting, in_progress = await self._load(decision.ids)
                if not waiting and not in_progress:
                    continue  # all expanded now: decide again
                if not waiting:
                    if self.busy == 0:  # not ours: a dead worker's, until its lease expires
                        await self._writer.reclaim_expired()
                    return []  # a worker is expanding them
                return await self._writer.claim_ids(
                    self._worker_id, waiting, self._settings.directions, self._settings.info
                )
            if isinstance(decision, Restart):
                assert isinstance(self._design, Waves)
                decision = self._design.restart(self._chains, await self._writer.known_users())
            if decision is None:
                if isinstance(self._design, Walk) and self._design.stuck(self._chains):
                    self.exhaust(
                        "no walker could start: every seed is private, missing or has no"
                        " neighbours (give other seeds)",
                        failed=True,
                    )
                else:
                    self.exhaust("the design has no user left to visit")
                break
            self._say_restarts(decision)
            await self._writer.add_sample_steps(decision)
            self._chains = self._with(self._chains, decision)
            self._seen.clear()
            free += 1
            if free >= STALLED_AFTER:
                self.exhaust(f"{STALLED_AFTER:,} rounds in a row found no new user")
            elif free % 100 == 0:
                await asyncio.sleep(0)  # let the workers and the progress line run
        return []

    def _say_restarts(self, rows: list[tuple[int, int, int]]) -> None:
        """A walker moved off its seed to another seed: its seed could not be walked from."""
        if not isinstance(self._design, Walk):
            return
        for chain, step, user in rows:
            path = self._chains.get(chain, [])
            start = self._seen.get(path[0]) if step == 1 else None
            if start is not None and not start.usable:
                log.warning(
                    "walker %d: its seed (user #%d) is private, missing or has no neighbours:"
                    " it starts again from another seed (user #%d)",
                    chain,
                    path[0],
                    user,
                )

    async def _load(self, ids: frozenset[int]) -> tuple[list[int], int]:
        """Learn which of ``ids`` are expanded; return those waiting for a worker (by id) and
        how many a worker is expanding now."""
        nodes = await self._writer.sample_nodes(sorted(ids))
        waiting: list[int] = []
        in_progress = 0
        for user_id in sorted(ids):
            node = nodes.get(user_id, SampleNode(user_id, FAILED, False, ()))
            if node.expanded:
                self._seen[user_id] = node
            elif node.state == TODO:
                waiting.append(user_id)
            else:
                in_progress += 1
        return waiting, in_progress

    @staticmethod
    def _with(
        chains: dict[int, list[int]], rows: list[tuple[int, int, int]]
    ) -> dict[int, list[int]]:
        for chain, step, user in rows:
            path = chains.setdefault(chain, [])
            assert step == len(path), "a sample's steps are stored in order"
            path.append(user)
        return chains
