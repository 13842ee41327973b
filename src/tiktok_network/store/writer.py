"""One writer task in front of the store: group commits off the event loop.

Workers hand over page records and wait for the commit before fetching the next page, so at
most one uncommitted page per worker exists at any moment: that is the bound on what a
``kill -9`` can make the next run fetch again. The writer gathers whatever is queued into one
transaction and runs it on a dedicated thread, so the event loop never blocks on SQLite and
there is never more than one writer (no ``SQLITE_BUSY``). (A writer process was tried to get
the SQLite work off the GIL: pickling the pages cost as much as it saved; see
``docs/performance.md``.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable
from typing import Any

from tiktok_network.store import lifecycle, sampling, videos
from tiktok_network.store.base import (
    Claim,
    CrawlStore,
    PageRecord,
    ProfileRecord,
    QuotaDelta,
    RefreshMarks,
    RefreshRound,
    UserOutcome,
)
from tiktok_network.store.ledger import QuotaLedger
from tiktok_network.store.lifecycle import Execute

MAX_BATCH = 256
LEDGER_EVERY = 1.0  # seconds between writes to the shared quota ledger


class StoreWriter:
    """Takes any ``CrawlStore``: ``open_store`` builds it on the writer thread (SQLite
    connections belong to the thread that made them)."""

    def __init__(self, open_store: Callable[[], CrawlStore], ledger: str | None = None) -> None:
        self._open_store = open_store
        self._ledger_path = ledger
        self._ledger: QuotaLedger | None = None
        self._ledger_pending: list[QuotaDelta] = []
        self._ledger_written = 0.0
        self._quota_sync: Callable[[dict[tuple[str, int, str], tuple[int, bool]]], None] = (
            lambda totals: None
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="store-writer"
        )
        self._store: CrawlStore | None = None
        self.run_id = 0
        self._queue: asyncio.Queue[tuple[str, Any, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._quota_source: Callable[[], list[QuotaDelta]] = list
        self.commits = 0

    async def start(self) -> None:
        """Open the database on the writer thread (errors such as a foreign file surface here)."""
        self._store = await self._run_in_child(self._open_store)
        if self._ledger_path is not None:
            self._ledger = await self._run_in_child(QuotaLedger, self._ledger_path)
        self._task = asyncio.create_task(self._run(), name="store-writer")

    def set_quota_source(
        self,
        source: Callable[[], list[QuotaDelta]],
        sync: Callable[[dict[tuple[str, int, str], tuple[int, bool]]], None],
    ) -> None:
        """Where pending quota use comes from (it rides along with the next commit, and then
        goes to the shared ledger), and where the ledger's day totals go back to."""
        self._quota_source = source
        self._quota_sync = sync

    async def ledger_day(self, client: str, day: int) -> dict[str, tuple[int, bool]]:
        """Today's use of this client by every crawl on the machine, from the ledger."""
        if self._ledger is None:
            return {}
        use = await self._run_in_child(self._ledger.day_use, client, day)
        return {bucket: (u.used, u.exhausted) for bucket, u in use.items()}

    @property
    def store(self) -> CrawlStore:
        assert self._store is not None, "start() the writer first"
        return self._store

    # One typed method per store operation, each run on the writer thread: no dispatch by name.
    async def begin_run(self, tool_version: str, api_base: str, settings_json: str) -> int:
        return await self._run_in_child(self.store.begin_run, tool_version, api_base, settings_json)

    async def end_run(self, run_id: int, exit_status: int) -> None:
        await self._run_in_child(self.store.end_run, run_id, exit_status)

    async def add_seeds(self, usernames: list[str]) -> tuple[int, int]:
        return await self._run_in_child(self.store.add_seeds, usernames)

    async def recover(self, worker: str, max_attempts: int) -> int:
        return await self._run_in_child(self.store.recover, worker, max_attempts)

    async def retry_failed(self, max_attempts: int) -> int:
        return await self._run_in_child(self.store.retry_failed, max_attempts)

    async def failed_users(self, max_attempts: int) -> int:
        return await self._run_in_child(self.store.failed_users, max_attempts)

    async def answered_before(self, api_base: str) -> bool:
        return await self._run_in_child(self.store.answered_before, api_base)

    async def quota_used(self, client: str, day: int) -> dict[str, tuple[int, bool]]:
        return await self._run_in_child(self.store.quota_used, client, day)

    async def started_users(self) -> int:
        return await self._run_in_child(self.store.started_users)

    async def frontier_empty(self, max_depth: int) -> bool:
        return await self._run_in_child(self.store.frontier_empty, max_depth)

    async def release_worker(self, worker: str) -> int:
        return await self._run_in_child(self.store.release_worker, worker)

    async def register_worker(self, worker: str, run_id: int) -> None:
        await self._run_in_child(self.store.register_worker, worker, run_id)

    async def heartbeat(self, worker: str) -> None:
        await self._run_in_child(self.store.heartbeat, worker)

    async def claimed_elsewhere(self, worker: str) -> int:
        return await self._run_in_child(self.store.claimed_elsewhere, worker)

    async def _run_in_child(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def claim(
        self, worker: str, n: int, max_depth: int, directions: tuple[str, ...], info: bool
    ) -> list[Claim]:
        return await self._run_in_child(self.store.claim, worker, n, max_depth, directions, info)

    async def claim_info(
        self,
        worker: str,
        n: int,
        depths: tuple[int, int],
        directions: tuple[str, ...],
        after: int = 0,
    ) -> list[Claim]:
        return await self._run_in_child(self.store.claim_info, worker, n, depths, directions, after)

    async def claim_refresh(self, worker: str, n: int, directions: tuple[str, ...]) -> list[Claim]:
        return await self._run_in_child(self.store.claim_refresh, worker, n, directions)

    # A sampled crawl (store/sampling.py, crawl/samplers.py).
    async def sample_prepare(self, seeds: list[str]) -> tuple[dict[int, list[int]], dict[str, int]]:
        """Make the sampler's indexes; the steps stored so far and the seeds' ids."""

        def run(execute: Execute) -> tuple[dict[int, list[int]], dict[str, int]]:
            sampling.prepare(execute)
            return sampling.steps(execute), sampling.user_ids(execute, seeds)

        return await self._run_in_child(self.store.transact, run)

    async def sample_nodes(self, ids: list[int]) -> dict[int, sampling.SampleNode]:
        return await self._run_in_child(
            self.store.transact, lambda execute: sampling.nodes(execute, ids)
        )

    async def add_sample_steps(self, rows: list[tuple[int, int, int]]) -> None:
        await self._run_in_child(
            self.store.transact, lambda execute: sampling.add_steps(execute, rows)
        )

    async def seed_ids(self) -> list[int]:
        return await self._run_in_child(self.store.transact, sampling.seed_ids)

    async def known_users(self) -> list[int]:
        return await self._run_in_child(self.store.transact, sampling.known_users)

    async def reclaim_expired(self) -> int:
        return await self._run_in_child(self.store.reclaim_expired)

    async def purged_among(self, names: list[str]) -> set[str]:
        """Which of these usernames a purge removed from the crawl (they stay out)."""
        return set(
            await self._run_in_child(
                self.store.transact, lambda execute: lifecycle.purged_among(execute, names)
            )
        )

    async def requeue_missing_info(self, max_depth: int) -> int:
        return await self._run_in_child(
            self.store.transact,
            lambda execute: lifecycle.requeue_missing_info(execute, max_depth),
        )

    async def calls_spent(self) -> int:
        return await self._run_in_child(self.store.transact, sampling.calls_spent)

    async def claim_ids(
        self, worker: str, ids: list[int], directions: tuple[str, ...], info: bool
    ) -> list[Claim]:
        return await self._run_in_child(
            self.store.transact,
            lambda execute: sampling.claim_ids(
                execute, self.store.dialect, worker, ids, directions, info
            ),
        )

    # ------------------------------------------------------------------ videos
    async def plan_video_units(self, windows: list[tuple[str, str]], per_query: int) -> int:
        return await self._run_in_child(
            self.store.transact, lambda execute: videos.plan_units(execute, windows, per_query)
        )

    async def plan_video_lists(self, layers: tuple[str, ...]) -> int:
        if not layers:
            return 0
        return await self._run_in_child(
            self.store.transact, lambda execute: videos.plan_lists(execute, layers)
        )

    async def plan_video_checks(self, cutoff: float, batch: int) -> int:
        return await self._run_in_child(
            self.store.transact, lambda execute: videos.plan_checks(execute, cutoff, batch)
        )

    async def open_video_checks(self) -> list[videos.VideoCheck]:
        return await self._run_in_child(self.store.transact, videos.open_checks)

    async def set_video_check_task(self, check_id: int, task_id: str | None) -> None:
        await self._run_in_child(
            self.store.transact,
            lambda execute: videos.set_check_task(execute, check_id, task_id),
        )

    async def finish_video_check(self, check: videos.VideoCheck, valid: set[int]) -> int:
        dialect, run_id = self.store.dialect, self.run_id
        return await self._run_in_child(
            self.store.transact,
            lambda execute: videos.finish_check(execute, dialect, check, valid, run_id),
        )

    async def recover_video_units(self, worker: str, lease: float, *, new_run: bool = False) -> int:
        shared = self.store.shared
        return await self._run_in_child(
            self.store.transact,
            lambda execute: videos.recover_units(execute, worker, shared, lease, new_run=new_run),
        )

    async def claim_video_units(
        self, worker: str, n: int, max_attempts: int, relations: tuple[str, ...]
    ) -> list[videos.VideoUnit]:
        dialect = self.store.dialect
        return await self._run_in_child(
            self.store.transact,
            lambda execute: videos.claim_units(
                execute, dialect, worker, n, max_attempts, relations
            ),
        )

    async def video_page(self, record: videos.VideoPageRecord) -> bool:
        """Commit a unit's page in one transaction; False when the worker no longer holds the
        unit (its calls were counted before they were sent: ``QuotaTracker``)."""
        return await self._run_in_child(
            self.store.transact, lambda execute: videos.commit_page(execute, record)
        )

    async def fail_video_unit(self, unit_id: int, worker: str, error: str) -> None:
        await self._run_in_child(
            self.store.transact, lambda execute: videos.fail_unit(execute, unit_id, worker, error)
        )

    async def release_video_unit(self, unit_id: int, worker: str) -> None:
        await self._run_in_child(
            self.store.transact, lambda execute: videos.release_unit(execute, unit_id, worker)
        )

    async def video_progress(self, relations: tuple[str, ...] | None = None) -> dict[str, int]:
        return await self._run_in_child(
            self.store.transact, lambda execute: videos.progress(execute, relations)
        )

    async def refresh_pending(self) -> int:
        return await self._run_in_child(self.store.refresh_pending)

    async def begin_refresh(self, marks: RefreshMarks) -> RefreshRound:
        return await self._run_in_child(self.store.begin_refresh, marks)

    async def page(self, record: PageRecord) -> bool:
        """Commit a page; False when a shared store refused it (this worker lost the user)."""
        return await self._submit("page", record)

    async def outcome(self, outcome: UserOutcome) -> None:
        await self._submit("outcome", outcome)

    async def profile(self, record: ProfileRecord) -> None:
        await self._submit("profile", record)

    async def release(self, user_id: int) -> None:
        await self._submit("release", user_id)

    async def flush(self) -> None:
        """Commit whatever is pending, including quota use that came with no page."""
        await self._submit("flush", None)

    async def _submit(self, kind: str, item: Any) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((kind, item, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            groups: dict[str, list[Any]] = {"page": [], "outcome": [], "profile": [], "release": []}
            for kind, item, _ in batch:
                if kind in groups:
                    groups[kind].append(item)
            quota = self._quota_source()
            try:
                lost = await self._run_in_child(
                    self.store.apply,
                    self.run_id,
                    groups["page"],
                    groups["outcome"],
                    groups["profile"],
                    groups["release"],
                    quota,
                )
                self._ledger_pending.extend(quota)
                forced = any(kind == "flush" for kind, _, _ in batch)
                await self._to_ledger(forced)
            except BaseException as exc:  # the batch rolled back: every waiter learns why
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            self.commits += 1
            for kind, item, future in batch:
                if not future.done():
                    future.set_result(not (kind == "page" and item.user_id in lost))

    async def _to_ledger(self, forced: bool) -> None:
        """Quota use goes to the shared ledger at most once a second (it may sit on a network
        filesystem, where each transaction costs), and at once on a flush or at the end."""
        if self._ledger is None or not self._ledger_pending:
            return
        if not forced and time.monotonic() - self._ledger_written < LEDGER_EVERY:
            return
        merged: dict[tuple[str, int, str], QuotaDelta] = {}
        for d in self._ledger_pending:
            m = merged.setdefault(
                (d.client, d.day, d.bucket), QuotaDelta(d.client, d.day, d.bucket)
            )
            m.used += d.used
            m.exhausted |= d.exhausted
            m.server_message = d.server_message or m.server_message
        self._ledger_pending = []
        self._ledger_written = time.monotonic()
        totals = await self._run_in_child(self._ledger.add, list(merged.values()))
        self._quota_sync({k: (u.used, u.exhausted) for k, u in totals.items()})

    async def close(self) -> None:
        try:
            if self._task is not None:
                await self.flush()  # pending records and quota use that came with no page
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            if self._store is not None:
                await self._run_in_child(self._store.close)
            if self._ledger is not None:
                await self._run_in_child(self._ledger.close)
        finally:
            self._executor.shutdown(wait=True)
