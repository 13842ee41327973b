"""The crawl engine: asyncio workers that walk follow lists breadth-first from the seeds.

Data flows seeds -> frontier (claims in the database) -> worker -> API client -> page ->
writer (one transaction per page: edges, raw response, cursor, status). A worker waits for its
page to be committed before asking for the next one, so the database always holds where every
list stopped, and a restart continues from there. Shutdown is a flag the workers honour: no
new requests, in-flight ones finish within the drain timeout, claims are released.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from tiktok_network._version import __version__
from tiktok_network.api.auth import AuthError, Credentials, TransientAuthError
from tiktok_network.api.client import ResearchClient, RetryPolicy
from tiktok_network.api.outcomes import (
    Kind,
    Outcome,
    Page,
)
from tiktok_network.api.spec import LIST_ENDPOINTS
from tiktok_network.completeness import skipped_verdict
from tiktok_network.config import CrawlSettings
from tiktok_network.crawl.frontier import Frontier
from tiktok_network.crawl.modes import Mode, Round, default_mode
from tiktok_network.crawl.pages import page_verdict, reported_counts, reverdict_ended_lists
from tiktok_network.crawl.quota import QuotaTracker, SharedQuotaTracker, client_id
from tiktok_network.crawl.results import (  # noqa: F401 - part of the engine's interface
    EXIT_COMPLETE,
    EXIT_FATAL,
    EXIT_REQUEUE,
    MAX_USER_ATTEMPTS,
    CrawlResult,
    CrawlStats,
    LostClaim,
    StopReason,
)
from tiktok_network.crawl.video_collection import lists_rounds
from tiktok_network.quota_day import day_number, iso_utc
from tiktok_network.store import display_name, open_shared_quota, open_store, quota_ledger_for
from tiktok_network.store.base import (
    DONE,
    FAILED,
    RUN_COMMAND,
    TODO,
    Claim,
    ListVerdict,
    ProfileRecord,
    RefreshRound,
    UserOutcome,
    UserStatus,
)
from tiktok_network.store.writer import StoreWriter

if TYPE_CHECKING:
    from tiktok_network.store.base import SharedQuota

log = logging.getLogger("tiktok_network.crawl")


def default_writer(settings: CrawlSettings) -> StoreWriter:
    """The store for ``settings.db`` behind one writer thread, with the machine's quota ledger
    (a PostgreSQL crawl keeps the organisation's ledger in its own database instead)."""
    ledger = quota_ledger_for(settings.db, settings.quota_ledger)
    return StoreWriter(lambda: open_store(settings.db, lease=settings.lease), ledger)


def _who(claim: Claim) -> str:
    """How a log line names a user: by its id in the crawl database, never by username, so
    that no log has to be scrubbed when the account is purged later (docs/compliance.md)."""
    return f"user #{claim.user_id}"


def _unnamed(claim: Claim, text: str) -> str:
    """An API message with the user's name taken out (some messages quote it)."""
    return text.replace(claim.username, "<username>") if claim.username else text


class Engine:
    """Runs one crawl. Its parts come from outside (dependency injection) so that a test or a
    second backend can hand it others: ``open_writer`` builds the store writer (default: the
    store for ``settings.db`` and the shared quota ledger), ``open_client`` the API client
    (default: ``ResearchClient``, which owns retries and the rate limiter), ``clock`` tells
    the time quota days are measured by (the quota trackers and the wait for a new day read
    it, nothing else in the crawl reads the wall clock's day), and ``mode`` what the run does
    (``crawl/modes.py``; default: the crawl ``settings`` describe).
    """

    def __init__(
        self,
        settings: CrawlSettings,
        credentials: Credentials,
        seed: int | None = None,
        *,
        open_writer: Callable[[CrawlSettings], StoreWriter] | None = None,
        open_client: Callable[..., ResearchClient] = ResearchClient,
        clock: Callable[[], float] = time.time,
        mode: Mode | None = None,
    ) -> None:
        self.settings = settings
        self.mode = mode or default_mode(settings, lists_rounds)
        self._open_writer = open_writer or default_writer
        self._open_client = open_client
        self._clock = clock
        self.credentials = credentials
        self.stats = CrawlStats()
        self.stop_event = asyncio.Event()
        self.stop_reason: StopReason | None = None
        self.fatal: str | None = None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._rng = random.Random(seed)
        self.frontier: Frontier | None = None
        self.round: Round | None = None  # the round under way
        self._calls = 0  # calls this run started (a sample's budget counts them at once)
        self._quota_reset: asyncio.Task[bool] | None = None
        self.writer: StoreWriter | None = None
        self.client: ResearchClient | None = None
        self.quota: QuotaTracker | None = None
        self._shared_ledger: SharedQuota | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.refresh_round: RefreshRound | None = None  # set by a refresh's mode
        self.info_spent_said = False  # the warning that --info goes on without profiles
        # The credentials, checked once before the first quota wait of the run.
        self._credentials_check: asyncio.Future[str] | None = None

    @property
    def store(self) -> StoreWriter:
        """The store of the run under way."""
        assert self.writer is not None, "the run has not started"
        return self.writer

    # ------------------------------------------------------------------- control
    def request_stop(self, reason: StopReason = StopReason.SIGNAL) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop_event.set()
        if self.frontier is not None:
            self.frontier.changed()

    def may_call(self) -> bool:
        """Whether one more request may start now (no stop asked for, no budget spent); the
        call is counted as started (a sample's budget counts calls when they start)."""
        if self.stop_event.is_set() or self._request_limit_reached():
            return False
        self._calls += 1
        return True

    @property
    def _round(self) -> Round:
        assert self.round is not None, "no round under way"
        return self.round

    def fail(self, message: str) -> None:
        """Stop the run as failed (exit 1) with ``message``, unless another error said first."""
        if self.fatal is None:
            self.fatal = message
        self.request_stop(StopReason.FATAL)

    # ----------------------------------------------------------------------- run
    async def run(self, seeds: list[str]) -> CrawlResult:
        """Crawl until the frontier is empty, a limit is reached or a stop is asked for."""
        s = self.settings
        writer = self.writer = self._open_writer(s)
        try:
            await writer.start()
        except BaseException:
            await writer.close()
            raise
        complete = False
        try:
            await self._begin(writer, seeds)
            async with self._open_client(
                self.credentials,
                api_base=s.api_base,
                concurrency=s.concurrency,
                timeout=s.request_timeout,
                qps=s.qps,
                retry=RetryPolicy(
                    max_retries=s.max_retries,
                    base_delay=s.retry_base_delay,
                    rate_limit_delay=s.rate_limit_delay,
                ),
                quota=self.quota,
                stop=self.stop_event,
                outage_tolerance=s.outage_tolerance,
                outage_probe_max=s.outage_probe_max,
                answered_before=lambda: writer.answered_before(s.api_base),
                hidden_hint=s.hidden_following_hint,
                **self._shared_limiter(),
            ) as client:
                self.client = client
                async for round_ in self.mode.rounds(self):
                    self.round, self.frontier = round_, round_.frontier
                    await self._run_workers()
            complete = await self.mode.complete(self)
        finally:
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            if self.quota is not None:
                self.quota.release_reserved()  # calls counted ahead and not sent: given back
            await writer.release_worker(self.worker_id)
            exit_code = self._exit_code()
            await writer.end_run(writer.run_id, exit_code)
            await writer.close()
            if self._shared_ledger is not None:
                if isinstance(self.quota, SharedQuotaTracker):
                    await self.quota.close()
                await self._shared_ledger.close()
        requests = self.client.counters["requests"] if self.client else 0
        reason = (
            self.stop_reason.value if self.stop_reason else ("complete" if complete else "limit")
        )
        return CrawlResult(exit_code, complete, reason, self.stats, requests, self.fatal)

    async def _begin(self, writer: StoreWriter, seeds: list[str]) -> None:
        """Record the run, take back what dead runs left, add seeds, load today's quota use."""
        s = self.settings
        cid = client_id(self.credentials.client_key, s.api_base)
        public = {k: v for k, v in vars(s).items() if k not in ("credentials", "given")}
        public["client"] = cid  # a hash: lets status find these credentials in the ledger
        public["db"] = display_name(s.db)  # a PostgreSQL URL may hold a password
        # Only a crawl's own runs define the crawl's settings (a refresh or a plan does not).
        public[RUN_COMMAND] = self.mode.command
        writer.run_id = await writer.begin_run(__version__, s.api_base, json.dumps(public))
        await writer.register_worker(self.worker_id, writer.run_id)
        self._heartbeat = asyncio.create_task(self._beat(writer), name="heartbeat")
        recovered = await writer.recover(self.worker_id, MAX_USER_ATTEMPTS)
        if recovered:
            log.info("put back %d users left claimed or failed by an earlier run", recovered)
        purged = await writer.purged_among(seeds) if seeds else set()
        if purged:
            log.warning(
                "%d of the seeds were purged from this crawl earlier (the service refused or"
                " no longer had them): they stay out",
                len(purged),
            )
            seeds = [s for s in seeds if s not in purged]
        if seeds:
            new, known = await writer.add_seeds(seeds)
            log.info("seeds: %d new, %d already in the crawl", new, known)
        self.quota = await self._quota_tracker(
            writer, cid, day_number(s.day_seconds, self._clock())
        )
        writer.set_quota_source(self.quota.drain, self.quota.sync)
        self.quota.durable = writer.flush  # a block of calls is counted before it is sent
        await self.mode.open(self, seeds)

    async def _quota_tracker(self, writer: StoreWriter, cid: str, today: int) -> QuotaTracker:
        """Today's quota as this crawl counts it. A crawl shared by workers (PostgreSQL) debits
        one quota in its database (psycopg imported here: only such a crawl needs it); otherwise
        the machine's ledger knows every crawl's use of this client, and this crawl's own
        record counts too (a ledger started after the crawl, or moved)."""
        self._shared_ledger = open_shared_quota(self.settings.db)
        if self._shared_ledger is not None:
            stored = await self._shared_ledger.day_use(cid, today)
            return SharedQuotaTracker(
                cid, self.settings, stored, today, self._shared_ledger, clock=self._clock
            )
        shared = await writer.ledger_day(cid, today)
        own = await writer.quota_used(cid, today)
        stored = {
            b: (
                max(shared.get(b, (0, False))[0], own.get(b, (0, False))[0]),
                shared.get(b, (0, False))[1] or own.get(b, (0, False))[1],
            )
            for b in set(shared) | set(own)
        }
        return QuotaTracker(cid, self.settings, stored, today, clock=self._clock)

    def _shared_limiter(self) -> dict[str, Any]:
        """With several workers, ``--qps`` is their sum: one limiter in the database."""
        if self._shared_ledger is None or self.quota is None or not self.settings.qps:
            return {}
        return {"limiter": self._shared_ledger.rate_limiter(self.quota.client, self.settings.qps)}

    async def _beat(self, writer: StoreWriter) -> None:
        """Heartbeats keep this worker's claims its own (a shared store takes over the claims of
        workers that stop beating after ``--lease`` seconds)."""
        every = max(0.5, self.settings.lease / 4)
        while True:
            await asyncio.sleep(every)
            try:
                await writer.heartbeat(self.worker_id)
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the lease is long
                log.warning("heartbeat failed: %s", exc)

    async def report_failed(self) -> None:
        """Users still failing after every retry: the run ends with work left."""
        if self.stop_reason is None:
            left = await self.store.failed_users(MAX_USER_ATTEMPTS)
            if left:
                log.warning(
                    "%d users failed every retry: run the same command again to retry them "
                    "(each is given up after %d attempts)",
                    left,
                    MAX_USER_ATTEMPTS,
                )
                self.request_stop(StopReason.FAILED_USERS)

    def _exit_code(self) -> int:
        if self.stop_reason is StopReason.FATAL:
            return EXIT_FATAL
        if self.stop_reason is not None:
            return EXIT_REQUEUE
        return EXIT_COMPLETE

    async def retry_failed(self) -> bool:
        """Whether one more round, in this run, is due for users whose requests failed every
        retry (none after a stop); they are put back for it."""
        if self.stop_reason is not None:
            return False
        retried = await self.store.retry_failed(MAX_USER_ATTEMPTS)
        if retried:
            log.info("retrying %d users whose requests failed earlier in this run", retried)
            assert self.frontier is not None
            self.frontier.claimed_total -= retried
        return retried > 0

    async def _run_workers(self) -> None:
        workers = [
            asyncio.create_task(self._worker(i), name=f"worker-{i}")
            for i in range(self.settings.concurrency)
        ]
        stop_wait = asyncio.create_task(self.stop_event.wait())
        done_all = asyncio.gather(*workers)
        await asyncio.wait([done_all, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        if not done_all.done():
            # Drain: in-flight requests get drain_timeout to finish and commit.
            try:
                await asyncio.wait_for(
                    asyncio.shield(done_all), timeout=self.settings.drain_timeout
                )
            except TimeoutError:
                log.warning("drain timeout: abandoning %d in-flight requests", self.stats.in_flight)
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        stop_wait.cancel()
        if done_all.done() and not done_all.cancelled():
            done_all.exception()  # retrieved here; the failing worker's error is raised below
        for task in workers:
            if task.done() and not task.cancelled() and task.exception() is not None:
                error = task.exception()
                assert error is not None
                raise error
        if self._quota_reset is not None:
            self._quota_reset.cancel()

    async def _worker(self, index: int) -> None:
        assert self.frontier is not None
        while True:
            claim = await self.frontier.next_claim()
            if claim is None:
                if self.frontier.busy == 0 or self.stop_event.is_set():
                    self.frontier.changed()
                    return
                continue
            visit = self._round.visit or self._crawl_user
            with self.frontier.working():
                try:
                    await visit(claim)
                except LostClaim as lost:
                    log.warning(
                        "%s: taken over by another worker (this one missed its lease)", lost
                    )

    # ------------------------------------------------------------------------ user
    async def _crawl_user(self, claim: Claim) -> None:
        """User info first (its counts judge the lists, and --skip-larger-than needs them),
        then each list to its end."""
        assert self.writer is not None and self.client is not None
        if claim.needs_info and not await self._fetch_info(claim):
            return
        if self._round.info_only:
            await self.writer.release(claim.user_id)
            return
        if claim.info_only:  # a refresh of the user info alone: the user is as it was
            parsed = claim.prior_status == UserStatus.PARSED
            await self.writer.outcome(
                UserOutcome(
                    claim.user_id, DONE if parsed else TODO, UserStatus.PARSED if parsed else None
                )
            )
            return
        skipped = self._skipped_lists(claim)
        if skipped:
            log.info("%s: not expanded (%s)", _who(claim), next(iter(skipped.values()))[1])
            self.stats.users_done[UserStatus.PARSED] += 1
            await self.writer.outcome(
                UserOutcome(claim.user_id, DONE, UserStatus.PARSED, lists=skipped)
            )
            return
        walked = False
        for direction in self.settings.directions:
            if claim.lists[direction].done:
                continue
            walked = True
            if not await self._walk_list(claim, direction):
                return
        if not walked:  # every list was complete already; only the user's status was missing
            await self.writer.outcome(UserOutcome(claim.user_id, DONE, 1))

    def _skipped_lists(self, claim: Claim) -> dict[str, ListVerdict]:
        """With --skip-larger-than: the open lists of an account too large to expand, closed."""
        limit = self.settings.skip_larger_than
        if limit is None:
            return {}
        directions = self.settings.directions
        counts = [claim.reported.get(d) for d in directions]
        if not any(c is not None and c > limit for c in counts):
            return {}
        return {
            d: skipped_verdict(d, claim.reported.get(d) or 0, limit)
            for d in directions
            if not claim.lists[d].done
        }

    async def _walk_list(self, claim: Claim, direction: str) -> bool:
        """Fetch pages until the list ends; False if the user is finished or given back."""
        assert self.writer is not None and self.client is not None
        endpoint = LIST_ENDPOINTS[direction]
        state = claim.lists[direction]
        cursor = state.cursor
        limit = self.settings.max_list_items
        while True:
            if self.stop_event.is_set() or self._request_limit_reached():
                await self.writer.release(claim.user_id)
                return False
            most = endpoint.max_count
            size = most if limit is None else max(1, min(most, limit - state.items))
            self._calls += 1
            self.stats.in_flight += 1
            try:
                outcome = await self.client.list_page(endpoint, claim.username, cursor, size)
            finally:
                self.stats.in_flight -= 1
            if outcome.kind in (Kind.OK, Kind.HIDDEN):
                assert outcome.page is not None
                cursor = await self._commit_page(
                    claim, direction, outcome.page, cursor, hidden=outcome.kind is Kind.HIDDEN
                )
                if state.done:
                    return True
                continue
            if outcome.kind is Kind.QUOTA_EXHAUSTED:
                if await self.quota_exhausted():
                    continue  # a new quota day: fetch the same page again
                await self.writer.release(claim.user_id)
                return False
            await self._user_failed(claim, outcome)
            return False

    async def _commit_page(
        self,
        claim: Claim,
        direction: str,
        page: Page,
        cursor: int | None,
        *,
        hidden: bool = False,
    ) -> int | None:
        assert self.writer is not None and self.frontier is not None
        verdict = page_verdict(claim, direction, page, cursor, self.settings, hidden=hidden)
        if verdict.note:
            log.warning("%s %s: %s", _who(claim), direction, verdict.note)
            self.stats.warnings += 1
        if not await self.writer.page(verdict.record):
            raise LostClaim(_who(claim))
        state = claim.lists[direction]
        state.cursor, state.done = page.next_cursor, verdict.record.list_done
        state.verdict = verdict.record.list_state
        state.pages += 1
        state.items += verdict.record.fresh
        self.stats.pages += 1
        self.stats.items += verdict.record.fresh
        if verdict.record.user_complete:
            self.stats.users_done[UserStatus.PARSED] += 1
        self.frontier.changed()
        return page.next_cursor

    async def _user_failed(self, claim: Claim, outcome: Outcome) -> None:
        assert self.writer is not None
        kind = outcome.kind
        if outcome.interrupted:
            await self.writer.release(claim.user_id)
            return
        if kind is Kind.OUTAGE:  # no verdict on the user: the whole API was away
            await self.writer.release(claim.user_id)
            self.request_stop(StopReason.OUTAGE)
            return
        if kind in (Kind.SCOPE, Kind.FATAL, Kind.UNREACHABLE):
            if kind is Kind.SCOPE:
                self.fatal = (
                    f"the API refused the follow endpoints ({outcome.detail}): check that your "
                    "project's approved scopes include research.data.basic and follower/following access"
                )
            else:
                self.fatal = outcome.detail
            await self.writer.release(claim.user_id)
            self.request_stop(StopReason.FATAL)
            return
        if kind is Kind.NOT_FOUND:
            status, state = UserStatus.NOT_FOUND, DONE
        elif kind is Kind.REFUSED:
            status, state = UserStatus.REFUSED, DONE
        else:
            status, state = UserStatus.FAILED, FAILED
            log.warning(
                "%s: failed after retries: %s", _who(claim), _unnamed(claim, outcome.detail)
            )
        self.stats.users_done[status] += 1
        await self.writer.outcome(UserOutcome(claim.user_id, state, status, outcome.detail[:500]))

    async def _fetch_info(self, claim: Claim) -> bool:
        """User info of a claimed user; False if that settled the user (refused, not found)
        or gave it back (shutdown, outage). Info that fails otherwise is skipped, except in a
        refresh, which must hear from the account (it may be gone): there it waits for the
        info bucket's new day and fails the user like a failed page, to be retried."""
        assert self.writer is not None and self.client is not None and self.quota is not None
        strict = self._round.waits_for_info
        while True:
            if self.stop_event.is_set():
                await self.writer.release(claim.user_id)
                return False
            outcome = None
            if self.mode.budget_spent(self._calls):
                await self.writer.release(claim.user_id)
                return False
            if not self.quota.is_exhausted(self.quota.group("info")):
                self._calls += 1
                outcome = await self.client.user_info(claim.username)
                if outcome.kind is not Kind.QUOTA_EXHAUSTED:
                    break
            if not strict:  # the lists need not wait for the info bucket's new day
                if not self.info_spent_said:
                    self.info_spent_said = True
                    log.warning(
                        "the day's user-info calls are spent (%s today): accounts are expanded"
                        " without their profile from now on, their lists recorded unjudged;"
                        " a later run fetches the profiles and judges the lists",
                        self._quota_use(),
                    )
                return True
            if not await self.quota_exhausted():
                await self.writer.release(claim.user_id)
                return False
        if outcome.kind is Kind.OK:
            assert outcome.info is not None
            known_before = dict(claim.reported)
            claim.reported = reported_counts(outcome.info)
            info_json = msgspec.json.encode(outcome.info).decode("utf-8")
            verdicts = reverdict_ended_lists(claim, self.settings, known_before)
            record = ProfileRecord(
                claim.user_id, info_json, claim.reported, verdicts, outcome.log_id or None
            )
            await self.writer.profile(record)
            self.stats.infos += 1
            return True
        if outcome.kind in (Kind.NOT_FOUND, Kind.REFUSED, Kind.OUTAGE, Kind.UNREACHABLE):
            await self._user_failed(claim, outcome)
            return False
        if outcome.interrupted:
            await self.writer.release(claim.user_id)
            return False
        if self._round.must_hear:
            await self._user_failed(claim, outcome)
            return False
        log.warning("%s: user info unavailable: %s", _who(claim), _unnamed(claim, outcome.detail))
        return True

    # ----------------------------------------------------------------------- quota
    def _request_limit_reached(self) -> bool:
        own = self.mode.budget_spent(self._calls)  # a sample's budget is its own
        if own is not None:
            return own
        limit = self.settings.max_requests
        if (
            limit is not None
            and self.client is not None
            and self.client.counters["requests"] >= limit
        ):
            self.request_stop(StopReason.MAX_REQUESTS)
            return True
        return False

    async def quota_exhausted(self) -> bool:
        """React to a used-up daily quota; True when a new quota day has begun. The
        credentials are checked first: a wrong secret is said now, not after a night's wait."""
        if not await self._credentials_accepted():
            return False
        if self.settings.on_quota == "exit":
            if self.stop_reason is None:
                assert self.quota is not None
                log.warning(
                    "daily quota used up (%s today with these credentials): "
                    "stopping; the quota resets at %s",
                    self._quota_use(),
                    iso_utc(self.quota.next_reset()),
                )
            self.request_stop(StopReason.QUOTA)
            return False
        if self._quota_reset is None or self._quota_reset.done():
            self._quota_reset = asyncio.create_task(self._sleep_until_reset())
        return await asyncio.shield(self._quota_reset)

    async def _credentials_accepted(self) -> bool:
        """Whether the token endpoint takes the credentials (asked once a run, before the
        first quota wait: no request of the quota is spent on it)."""
        if self.client is None or self.client.tokens is None:
            return True
        if self._credentials_check is None:  # every worker waits for the one check
            self._credentials_check = asyncio.ensure_future(self.client.tokens.token())
        try:
            await asyncio.shield(self._credentials_check)
        except AuthError as exc:
            if self.fatal is None:
                self.fatal = str(exc)
            self.request_stop(StopReason.FATAL)
            return False
        except TransientAuthError:
            pass  # the API is away: the outage handling says so when a request needs it
        return True

    def _quota_use(self) -> str:
        """Today's use per bucket, for the quota messages (a refresh runs out of user info)."""
        assert self.quota is not None
        return (
            f"{self.quota.follow_used():,} follow requests,"
            f" {self.quota.used['info']:,} user-info requests"
        )

    async def _sleep_until_reset(self) -> bool:
        assert self.quota is not None and self.writer is not None
        await self.writer.flush()  # the usage is durable before the long sleep
        margin = min(60.0, self.settings.day_seconds * 0.01) * (1 + self._rng.random())
        until = self.quota.next_reset() + margin
        self.stats.quota_wait_until = until
        log.warning(
            "daily quota used up (%s today); waiting until %s", self._quota_use(), iso_utc(until)
        )
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=max(0.0, until - self._clock()))
            return False
        except TimeoutError:
            log.info("new quota day: resuming")
            return True
        finally:
            self.stats.quota_wait_until = None
