"""What one run of the engine does, as rounds over frontiers: the crawl's modes.

The engine knows two things: how to crawl one claimed user (its info, then its lists, page by
page) and how to run workers over a frontier until it is drained or a stop is asked for. A
mode knows the rest: which frontier comes first, which rounds follow it (a retry of the users
that failed, the profiles an earlier day's quota could not give, the user info of the users
beyond ``--max-depth``), what its runs are recorded as, and when it is complete. So the engine
has no mode flags: a new way of running a crawl is one class here behind ``Mode``.

- ``BreadthFirst``: the crawl (``crawl`` with the default ``--sampler bfs``);
- ``Sample``: a sampler whose bias is known (``--sampler rw`` ...), its budget in calls;
- ``Refresh``: the users a refresh round marked, oldest data first (``refresh``);
- ``InfoRound`` and ``Listed``: a plan's pilot (user info within depths; the lists of given
  users), whose runs are recorded as ``plan`` and so define no setting of the crawl.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tiktok_network.config import CrawlSettings
from tiktok_network.crawl.frontier import (
    BreadthFirstFrontier,
    Frontier,
    ListedFrontier,
    RefreshFrontier,
    SampleFrontier,
)
from tiktok_network.crawl.samplers import design_of
from tiktok_network.store.base import RefreshMarks

if TYPE_CHECKING:
    import asyncio

    from tiktok_network.api.client import ResearchClient
    from tiktok_network.crawl.quota import QuotaTracker
    from tiktok_network.crawl.results import CrawlStats, StopReason
    from tiktok_network.store.base import RefreshRound
    from tiktok_network.store.writer import StoreWriter

log = logging.getLogger("tiktok_network.crawl")

BEYOND = 2**31 - 1  # the last depth an info round of "every depth beyond" reaches


@dataclass(frozen=True)
class Round:
    """Workers over one frontier until it is drained. ``info_only``: each claimed user gets
    its user info and is given back (its lists are not this round's). ``must_hear``: a user
    whose info cannot be had fails like a failed page, to be retried (a refresh must learn
    whether the account still exists); otherwise its lists go on without it."""

    frontier: Frontier
    info_only: bool = False
    must_hear: bool = False
    # How each claimed item is crawled (None: a user's info, then its lists: the engine's own);
    # a collection of videos claims units of accounts and windows instead.
    visit: Callable[[Any], Awaitable[None]] | None = None

    @property
    def waits_for_info(self) -> bool:
        """Whether a spent user-info bucket waits for its new day rather than going on."""
        return self.info_only or self.must_hear


class Engine(Protocol):
    """What a mode sees of the engine running it (``crawl/engine.py``)."""

    settings: CrawlSettings
    worker_id: str
    stop_event: asyncio.Event
    client: ResearchClient | None
    stats: CrawlStats
    stop_reason: StopReason | None
    quota: QuotaTracker | None
    info_spent_said: bool  # the user-info bucket ran out while lists went on
    refresh_round: RefreshRound | None

    @property
    def store(self) -> StoreWriter: ...

    async def retry_failed(self) -> bool:
        """Whether a retry round is due (the failed users are put back for it)."""
        ...

    async def report_failed(self) -> None:
        """Users that failed every retry: the run ends with work left."""
        ...

    async def quota_exhausted(self) -> bool:
        """Wait for the quota's new day (or stop, with --on-quota exit); True on a new day."""
        ...

    def fail(self, message: str) -> None:
        """Stop the run as failed with ``message``."""
        ...

    def request_stop(self, reason: StopReason) -> None: ...

    def may_call(self) -> bool:
        """Whether one more request may start (no stop, no budget spent); counts it."""
        ...


class Mode(Protocol):
    """One way of running a crawl (see the module's docstring)."""

    command: str  # what its runs are recorded as: crawl, plan, refresh

    async def open(self, engine: Engine, seeds: list[str]) -> None:
        """Prepare the first frontier (the seeds are in the store already)."""
        ...

    def rounds(self, engine: Engine) -> AsyncIterator[Round]:
        """The rounds, each decided once the one before it has ended."""
        ...

    async def complete(self, engine: Engine) -> bool:
        """Whether the run left nothing of its work undone."""
        ...

    def budget_spent(self, calls: int) -> bool | None:
        """Whether the mode's own budget allows no more calls (``calls``: started by this
        run); None when it has none (``--max-requests`` then counts requests sent)."""
        ...


# Rounds a crawl runs once its graph is walked (``crawl --layers``: the lists of videos,
# ``video_collection.lists_rounds``), handed in by the engine: that module is built on this one.
AfterRounds = Callable[[Engine], AsyncIterator[Round]]


def default_mode(settings: CrawlSettings, lists: AfterRounds | None = None) -> Mode:
    """The crawl ``settings`` describe: breadth-first (then the lists of videos its --layers
    names), or the sampler it names."""
    if settings.sampler != "bfs":
        return Sample()
    return BreadthFirst(lists if settings.layer_lists else None)


class ModeBase:
    """What most modes share: no budget of their own, complete when nothing stopped them."""

    command = "crawl"

    def budget_spent(self, calls: int) -> bool | None:
        return None

    async def complete(self, engine: Engine) -> bool:
        return engine.stop_reason is None


class BreadthFirst(ModeBase):
    """The crawl: users by depth, then the rounds that finish it."""

    def __init__(self, after: AfterRounds | None = None) -> None:
        self.frontier: BreadthFirstFrontier | None = None
        self.after = after

    async def open(self, engine: Engine, seeds: list[str]) -> None:
        s, writer = engine.settings, engine.store
        if s.info:
            waiting = await writer.requeue_missing_info(s.max_depth)
            if waiting:
                log.info(
                    "%d expanded accounts lack their user info (an earlier day's user-info"
                    " calls were spent): fetched first, their lists judged, not fetched again",
                    waiting,
                )
        self.frontier = BreadthFirstFrontier(
            writer, engine.worker_id, s, engine.stop_event, await writer.started_users()
        )

    async def rounds(self, engine: Engine) -> AsyncIterator[Round]:
        assert self.frontier is not None
        s = engine.settings
        yield Round(self.frontier)
        if await engine.retry_failed():
            yield Round(self.frontier)
        if s.info and engine.info_spent_said:
            async for backfill in self._backfill(engine):
                yield backfill
        if engine.stop_reason is None and s.info and s.info_for == "all":
            yield Round(self._beyond(engine), info_only=True)
        await engine.report_failed()
        if engine.stop_reason is None and self.after is not None:
            async for after in self.after(engine):
                yield after

    async def _backfill(self, engine: Engine) -> AsyncIterator[Round]:
        """--info once the lists are done: the profiles the user-info bucket could not give
        that day, on its next day (or exit 75 with --on-quota exit), lists judged then."""
        assert self.frontier is not None and engine.quota is not None
        while engine.stop_reason is None:
            spent = engine.quota.is_exhausted(engine.quota.group("info"))
            if spent and not await engine.quota_exhausted():
                return
            engine.info_spent_said = False
            if not await engine.store.requeue_missing_info(engine.settings.max_depth):
                return
            yield Round(self.frontier)

    def _beyond(self, engine: Engine) -> BreadthFirstFrontier:
        """--info-for all: the users found beyond --max-depth (not expanded)."""
        assert self.frontier is not None
        s = engine.settings
        return BreadthFirstFrontier(
            engine.store,
            engine.worker_id,
            s,
            engine.stop_event,
            self.frontier.claimed_total,
            info_depths=(s.max_depth + 1, BEYOND),
        )

    async def complete(self, engine: Engine) -> bool:
        s = engine.settings
        if not (await engine.store.frontier_empty(s.max_depth) and engine.stop_reason is None):
            return False
        if self.after is None:
            return True
        return (await engine.store.video_progress(s.layer_lists))["open"] == 0


class Sample(ModeBase):
    """A sampler's design (``crawl/samplers.py``) decides whom to expand; its budget is calls
    over the whole crawl, counted when they start, so the sample does not depend on how many
    were in flight when it ran out. No retry round: it would change the design's decisions."""

    def __init__(self) -> None:
        self.frontier: SampleFrontier | None = None
        self._calls_before = 0  # calls stored by earlier runs of the sample
        self._limit: int | None = None  # --max-requests: the sample's budget

    async def open(self, engine: Engine, seeds: list[str]) -> None:
        s, writer = engine.settings, engine.store
        self._calls_before = await writer.calls_spent()
        self.frontier = SampleFrontier(writer, engine.worker_id, s, engine.stop_event, design_of(s))
        self._limit = s.max_requests
        await self.frontier.start(seeds)

    async def rounds(self, engine: Engine) -> AsyncIterator[Round]:
        assert self.frontier is not None
        yield Round(self.frontier)
        await engine.report_failed()

    def budget_spent(self, calls: int) -> bool | None:
        assert self.frontier is not None
        if self._limit is None or self._calls_before + calls < self._limit:
            return False
        self.frontier.exhaust(f"the budget of {self._limit:,} calls is spent")
        return True

    async def complete(self, engine: Engine) -> bool:
        assert self.frontier is not None
        if self.frontier.failed and engine.stop_reason is None:
            engine.fail(self.frontier.reason)
        complete = self.frontier.finished and engine.stop_reason is None
        if complete:
            log.info("sample complete: %s", self.frontier.reason)
        return complete


class Refresh(ModeBase):
    """Re-fetch what a refresh round marks (``tiktok-network refresh``), oldest data first."""

    command = "refresh"

    def __init__(
        self,
        marks: RefreshMarks,
        check_videos: Callable[[Engine, float], Awaitable[None]] | None = None,
    ) -> None:
        """``check_videos``: ``refresh --videos``'s batch compliance of the stored videos
        (``video_checks.check_videos``, handed in: that module is built on this one)."""
        self.marks = marks
        self.check_videos = check_videos
        self.frontier: RefreshFrontier | None = None

    async def open(self, engine: Engine, seeds: list[str]) -> None:
        writer = engine.store
        engine.refresh_round = await writer.begin_refresh(self.marks)
        self.frontier = RefreshFrontier(
            writer,
            engine.worker_id,
            engine.settings,
            engine.stop_event,
            await writer.started_users(),
        )

    async def rounds(self, engine: Engine) -> AsyncIterator[Round]:
        assert self.frontier is not None
        yield Round(self.frontier, must_hear=True)
        if await engine.retry_failed():
            yield Round(self.frontier, must_hear=True)
        await engine.report_failed()
        if self.check_videos is not None and engine.stop_reason is None:
            await self.check_videos(engine, self.marks.cutoff)

    async def complete(self, engine: Engine) -> bool:
        if await engine.store.refresh_pending() or engine.stop_reason is not None:
            return False
        return self.check_videos is None or not await engine.store.open_video_checks()


class InfoRound(ModeBase):
    """A pilot's user info of the users within ``depths``: one pass by id, no list fetched."""

    command = "plan"

    def __init__(self, depths: tuple[int, int] = (0, 0)) -> None:
        self.depths = depths
        self.frontier: BreadthFirstFrontier | None = None

    async def open(self, engine: Engine, seeds: list[str]) -> None:
        self.frontier = BreadthFirstFrontier(
            engine.store,
            engine.worker_id,
            engine.settings,
            engine.stop_event,
            await engine.store.started_users(),
            info_depths=self.depths,
        )

    async def rounds(self, engine: Engine) -> AsyncIterator[Round]:
        assert self.frontier is not None
        yield Round(self.frontier, info_only=True)


class Listed(ModeBase):
    """A pilot's lists of exactly the users given (by id), their failures retried once."""

    command = "plan"

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = list(ids)
        self.frontier: ListedFrontier | None = None

    async def open(self, engine: Engine, seeds: list[str]) -> None:
        self.frontier = ListedFrontier(
            engine.store, engine.worker_id, engine.settings, engine.stop_event, self.ids
        )

    async def rounds(self, engine: Engine) -> AsyncIterator[Round]:
        assert self.frontier is not None
        yield Round(self.frontier)
        if await engine.retry_failed():
            yield Round(self.frontier)
