"""Collect the videos of every expanded account (``tiktok-network videos``): a crawl mode.

The video query answers one condition over many accounts (``username IN``, up to
``--usernames-per-query`` of them) for at most 30 days at a time, so the collection is cut into
units, a batch of accounts over one window (``store/videos.py``), made once and kept in the
store. Workers claim units and page through each with its cursor and ``search_id``; every page
is one transaction, so a ``kill -9`` loses at most the pages in flight, and the next run goes on
from each unit's last page. A ``search_id`` that expired mid-paging starts its window again: the
videos already stored are upserted by id, never twice. Every call is counted against the
general budget (shared with user info: 1,000 requests a day) before it is sent, in the same
ledger as the crawl's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import date
from typing import Any

from tiktok_network.api import spec
from tiktok_network.api.outcomes import Kind, Outcome
from tiktok_network.config import CrawlSettings
from tiktok_network.crawl.frontier import FrontierBase
from tiktok_network.crawl.modes import Engine, ModeBase, Round
from tiktok_network.crawl.pages import stuck_cursor_note
from tiktok_network.crawl.results import MAX_USER_ATTEMPTS, LostClaim, StopReason
from tiktok_network.crawl.videos import windows
from tiktok_network.store.videos import (
    COMPLETE,
    ERROR,
    HIDDEN,
    POSTED,
    UNAVAILABLE,
    VideoPageRecord,
    VideoRow,
    VideoUnit,
)
from tiktok_network.store.writer import StoreWriter

log = logging.getLogger("tiktok_network.crawl")

# The fields the collection asks for and stores (the rest of spec.VIDEO_DOCUMENTED_FIELDS is
# not kept: a column nobody reads is one more thing a purge must reach): the lists' own.
FIELDS = spec.LAYER_FIELDS


def video_windows(since: date, until: date) -> list[tuple[str, str]]:
    """The period in windows the video query takes, as its ``YYYYMMDD`` dates."""
    return [(f"{a:%Y%m%d}", f"{b:%Y%m%d}") for a, b in windows(since, until)]


class UnitFrontier(FrontierBase):
    """The open units of some relations (the query's ``posted``, the lists of ``--layers``),
    by id, a batch at a time; a unit whose request failed is claimed again until it has used
    its attempts."""

    def __init__(
        self,
        writer: StoreWriter,
        worker_id: str,
        settings: CrawlSettings,
        stop: asyncio.Event,
        relations: tuple[str, ...] = (POSTED,),
    ) -> None:
        super().__init__(writer, worker_id, settings, stop)
        self.relations = relations

    async def _batch(self) -> list[Any] | None:
        want = max(2, self._settings.concurrency)
        return await self._writer.claim_video_units(
            self._worker_id, want, MAX_USER_ATTEMPTS, self.relations
        )

    async def _drained(self) -> bool:
        """No open unit to claim, none in progress here, and none held by another worker (a
        worker sharing the crawl finishes its own; one that died without a word holds its
        units until its lease expires: they are taken back then, and collected here)."""
        if self.busy:
            return False
        if (await self._writer.video_progress(self.relations))["held"] == 0:
            return True
        await self._writer.recover_video_units(self._worker_id, self._settings.lease)
        return False


class VideoCollection(ModeBase):
    """The mode of ``tiktok-network videos``: units planned for every expanded account and
    window, then paged through."""

    command = "videos"

    def __init__(
        self,
        since: date,
        until: date,
        per_query: int,
        page_size: int,
        layers: tuple[str, ...] = (),
    ) -> None:
        self.windows = video_windows(since, until)
        self.per_query = per_query
        self.page_size = page_size
        self.relations = (POSTED, *layers)
        self.frontier: UnitFrontier | None = None
        self.planned = 0  # units made by this run
        self.recovered = 0  # units a dead run held, taken back

    async def open(self, engine: Engine, seeds: list[str]) -> None:
        store, s = engine.store, engine.settings
        self.recovered = await store.recover_video_units(engine.worker_id, s.lease, new_run=True)
        self.planned = await store.plan_video_units(self.windows, self.per_query)
        self.planned += await store.plan_video_lists(self.relations[1:])
        left = await store.video_progress(self.relations)
        log.info(
            "videos: %d units planned now, %d open (%d taken back from a run that stopped)",
            self.planned,
            left["open"],
            self.recovered,
        )
        self.frontier = UnitFrontier(store, engine.worker_id, s, engine.stop_event, self.relations)

    async def rounds(self, engine: Engine) -> AsyncIterator[Round]:
        assert self.frontier is not None
        yield unit_round(engine, self.frontier, self.page_size)
        await units_left(engine, self.relations)

    async def complete(self, engine: Engine) -> bool:
        if engine.stop_reason is not None:
            return False
        return (await engine.store.video_progress(self.relations))["open"] == 0


def unit_round(engine: Engine, frontier: UnitFrontier, page_size: int) -> Round:
    """The round that pages through every open unit of the frontier's relations."""

    async def visit(unit: VideoUnit) -> None:
        if unit.relation == POSTED:
            await collect_unit(engine, unit, page_size)
        else:
            await collect_list(engine, unit)

    return Round(frontier, visit=visit)


async def units_left(engine: Engine, relations: tuple[str, ...]) -> None:
    """After the round: units still open failed every attempt (the run says so, exit 3)."""
    if engine.stop_reason is None:
        left = (await engine.store.video_progress(relations))["open"]
        if left:
            log.warning(
                "%d units failed every attempt: run the same command again to retry them", left
            )
            engine.request_stop(StopReason.FAILED_USERS)


async def lists_rounds(engine: Engine) -> AsyncIterator[Round]:
    """``crawl --layers``: once the follow graph is walked, the lists of videos of every
    expanded account, as units of the video collection (durable, resumable, the same
    budget)."""
    layers = engine.settings.layer_lists
    store = engine.store
    await store.recover_video_units(engine.worker_id, engine.settings.lease, new_run=True)
    planned = await store.plan_video_lists(layers)
    log.info("layers: %d lists of videos planned now (%s)", planned, ", ".join(layers))
    frontier = UnitFrontier(store, engine.worker_id, engine.settings, engine.stop_event, layers)
    yield unit_round(engine, frontier, spec.MAX_COUNT)
    await units_left(engine, layers)


def _query(unit: VideoUnit) -> dict[str, Any]:
    return {"and": [{"operation": "IN", "field_name": "username", "field_values": unit.usernames}]}


def video_rows(videos: list[dict[str, Any]]) -> list[VideoRow]:
    """The served videos as stored; an entry without an id or author is left out."""
    rows = []
    for v in videos:
        vid, name = v.get("id"), v.get("username")
        if not isinstance(vid, int) or isinstance(vid, bool) or not isinstance(name, str):
            continue
        tags = v.get("hashtag_names") or []
        rows.append(
            VideoRow(
                vid,
                name,
                _int(v.get("create_time")),
                _text(v.get("region_code")),
                "|".join(str(t) for t in tags if isinstance(t, str) and t),
                _text(v.get("video_description")),
                _int(v.get("view_count")),
                _int(v.get("like_count")),
                _int(v.get("comment_count")),
                _int(v.get("share_count")),
                "|".join(_mentions(v.get("video_mention_list"))),
            )
        )
    return rows


def _mentions(value: Any) -> list[str]:
    """The usernames ``video_mention_list`` names. Its shape is undocumented (research-api.md
    11 gives its name only): names, or objects with a ``username``/``user_name``, are read."""
    if not isinstance(value, list):
        return []
    names = []
    for m in value:
        if isinstance(m, dict):
            m = m.get("username", m.get("user_name"))
        if isinstance(m, str) and m and "|" not in m:
            names.append(m.replace("\x00", ""))
    return names


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value.replace("\x00", "") if isinstance(value, str) else None


async def collect_unit(engine: Engine, unit: VideoUnit, page_size: int) -> None:
    """Page through one unit to its end, a transaction a page; give it back on a stop."""
    client = engine.client
    assert client is not None
    if not unit.usernames:  # every member purged since it was planned
        await _commit(engine, unit, [], 0, None, done=True, log_id=None, fetched_at=0.0)
        return
    query = _query(unit)
    cursor, search_id = unit.cursor, unit.search_id
    while True:
        outcome = await _send(
            engine,
            unit,
            client.video_query(
                query,
                unit.start_date,
                unit.end_date,
                cursor,
                search_id,
                max_count=page_size,
                fields=FIELDS,
            ),
        )
        if outcome is None:
            return
        if outcome.kind is Kind.OK and outcome.videos is not None:
            page = outcome.videos
            done = not page.has_more or not page.videos
            rows = video_rows(page.videos)
            await _commit(
                engine,
                unit,
                rows,
                page.cursor,
                page.search_id,
                done=done,
                log_id=outcome.log_id or None,
                fetched_at=time.time(),
            )
            if done:
                return
            cursor, search_id = page.cursor, page.search_id
            continue
        if outcome.kind is Kind.SEARCH_EXPIRED:
            log.info(
                "videos: unit %d: its search_id expired: the window starts again", unit.unit_id
            )
            await _commit(
                engine,
                unit,
                [],
                0,
                None,
                done=False,
                log_id=None,
                fetched_at=time.time(),
                restart=True,
            )
            cursor, search_id = 0, None
            continue
        if outcome.kind is Kind.QUOTA_EXHAUSTED:
            if await _new_quota_day(engine, unit):
                continue
            return
        await _failed(engine, unit, outcome)
        return


async def _commit(
    engine: Engine,
    unit: VideoUnit,
    rows: list[VideoRow],
    next_cursor: int,
    search_id: str | None,
    *,
    done: bool,
    log_id: str | None,
    fetched_at: float,
    restart: bool = False,
    state: str | None = None,
    note: str | None = None,
) -> None:
    record = VideoPageRecord(
        unit.unit_id,
        engine.worker_id,
        engine.store.run_id,
        rows,
        next_cursor,
        search_id,
        done,
        log_id,
        fetched_at,
        restart,
        unit.relation,
        state,
        note,
    )
    if not await engine.store.video_page(record):
        raise LostClaim(f"video unit #{unit.unit_id}")
    if not restart:
        engine.stats.pages += 1
        engine.stats.items += len(rows)


async def collect_list(engine: Engine, unit: VideoUnit) -> None:
    """Page through one account's list of videos (its unit's one member) to its end, a
    transaction a page. A list its owner keeps private ends as ``hidden``, with the answer's
    log id (not a failure); an account the service no longer serves ends its lists as
    ``unavailable`` (a refresh of the follow graph decides whether it goes)."""
    client = engine.client
    assert client is not None
    endpoint = spec.VIDEO_LISTS[unit.relation]
    if not unit.usernames:  # its owner was purged since it was planned
        await _commit(engine, unit, [], 0, None, done=True, log_id=None, fetched_at=0.0)
        return
    cursor: int | None = unit.cursor or None
    # a resumed list's last page is not known: the upsert keeps a repeat once
    previous: set[int] = set()
    while True:
        outcome = await _send(engine, unit, client.list_page(endpoint, unit.usernames[0], cursor))
        if outcome is None:
            return
        if outcome.kind in (Kind.OK, Kind.HIDDEN) and outcome.page is not None:
            page = outcome.page
            # a like sharing its second with the next page's first comes back: kept once
            rows = [r for r in video_rows(page.videos) if r.video_id not in previous]
            previous = {r.video_id for r in rows}
            state, note = _list_end(endpoint, outcome.kind, page.has_more, cursor, page)
            done = state is not None
            await _commit(
                engine,
                unit,
                rows,
                page.next_cursor or 0,
                None,
                done=done,
                log_id=outcome.log_id or None,
                fetched_at=time.time(),
                state=state,
                note=note,
            )
            if note:
                log.warning("videos: unit %d (%s): %s", unit.unit_id, unit.relation, note)
            if done:
                return
            cursor = page.next_cursor
            continue
        if outcome.kind is Kind.QUOTA_EXHAUSTED:
            if await _new_quota_day(engine, unit):
                continue
            return
        if outcome.kind in (Kind.NOT_FOUND, Kind.REFUSED) and not outcome.interrupted:
            await _commit(
                engine,
                unit,
                [],
                0,
                None,
                done=True,
                log_id=outcome.log_id or None,
                fetched_at=time.time(),
                state=UNAVAILABLE,
                note=outcome.detail[:300],
            )
            return
        await _failed(engine, unit, outcome)
        return


async def _new_quota_day(engine: Engine, unit: VideoUnit) -> bool:
    """The quota is spent: True when its new day began (the same page is asked again); else
    the unit is given back as it stands (the run stops: --on-quota exit, or a signal)."""
    if await engine.quota_exhausted():
        return True
    await engine.store.release_video_unit(unit.unit_id, engine.worker_id)
    return False


async def _send(
    engine: Engine, unit: VideoUnit, request: Coroutine[Any, Any, Outcome]
) -> Outcome | None:
    """One request of a unit, counted in flight; None (the unit given back, the request never
    sent) when no call may start now."""
    if not engine.may_call():
        request.close()
        await engine.store.release_video_unit(unit.unit_id, engine.worker_id)
        return None
    engine.stats.in_flight += 1
    try:
        return await request
    finally:
        engine.stats.in_flight -= 1


def _list_end(
    endpoint: spec.ListEndpoint, kind: Kind, has_more: bool, cursor: int | None, page: Any
) -> tuple[str | None, str | None]:
    """How a page ends its list, if it does: ``(state, note)``, or ``(None, None)``."""
    if kind is Kind.HIDDEN:
        return HIDDEN, None
    if not has_more:
        return COMPLETE, None
    if not spec.cursor_moved(endpoint, cursor, page.next_cursor):
        return ERROR, stuck_cursor_note(cursor, page.next_cursor)
    return None, None


async def _failed(engine: Engine, unit: VideoUnit, outcome: Outcome) -> None:
    """A stop the whole run shares (outage, refused scope, a wrong address), or this unit's
    failure after the client's retries (given back with its error, claimed again until its
    attempts are spent)."""
    store = engine.store
    if outcome.interrupted or outcome.kind is Kind.OUTAGE:
        await store.release_video_unit(unit.unit_id, engine.worker_id)
        if outcome.kind is Kind.OUTAGE:
            engine.request_stop(StopReason.OUTAGE)
        return
    if outcome.kind in (Kind.SCOPE, Kind.FATAL, Kind.UNREACHABLE):
        await store.release_video_unit(unit.unit_id, engine.worker_id)
        engine.fail(
            f"the video query was refused ({outcome.detail}): check that your project's"
            " approved scopes include research.data.basic"
            if outcome.kind is Kind.SCOPE
            else outcome.detail
        )
        return
    log.warning("videos: unit %d failed: %s", unit.unit_id, outcome.detail[:300])
    await store.fail_video_unit(unit.unit_id, engine.worker_id, outcome.detail)


@dataclass(frozen=True)
class VideoForecast:
    """What collecting a period's videos will cost: units still to page (planned and not
    finished, and those the collection would plan), and the calls they take. Every unit takes
    at least one call; how many more depends on how many videos its accounts post, learnt from
    the units already finished (videos per account and day: the mean gives the estimate, the
    90th percentile its upper end)."""

    units_open: int
    units_new: int
    finished: int  # units finished so far (any window): what the estimate is learnt from
    calls_low: int
    calls: float | None
    calls_high: float | None

    @property
    def units(self) -> int:
        return self.units_open + self.units_new


def _days(start: str, end: str) -> int:
    a = date(int(start[:4]), int(start[4:6]), int(start[6:]))
    b = date(int(end[:4]), int(end[4:6]), int(end[6:]))
    return (b - a).days + 1


def forecast(
    reader: Any, since: date, until: date, per_query: int, page_size: int = spec.VIDEO_MAX_COUNT
) -> VideoForecast:
    """The forecast of ``tiktok-network videos --plan``, from a read snapshot (nothing is
    written: the units are counted, not made)."""
    wanted = set(video_windows(since, until))
    units = reader.video_units()
    # what is left: (accounts, days, pages already fetched) per unit to page
    todo = [(k, _days(a, b), p) for a, b, done, p, _, k in units if (a, b) in wanted and not done]
    n_open = len(todo)
    for a, b in sorted(wanted):
        accounts = reader.accounts_without_unit(a, b)
        while accounts > 0:
            todo.append((min(per_query, accounts), _days(a, b), 0))
            accounts -= per_query
    rates = sorted(v / (k * _days(a, b)) for a, b, done, _, v, k in units if done and k > 0)
    if not rates:
        return VideoForecast(n_open, len(todo) - n_open, 0, len(todo), None, None)

    def calls(rate: float, rounding: float) -> float:
        """Calls at a rate of videos per account and day: a unit's pages are its videos over
        the page size, rounded up (``rounding``: 0.5 on average, 1 at most), at least one."""
        return sum(
            max(1.0, k * d * rate / page_size + rounding - fetched) for k, d, fetched in todo
        )

    mean = sum(rates) / len(rates)
    high = rates[int(0.9 * (len(rates) - 1))]
    return (
        VideoForecast(
            n_open,
            len(todo) - n_open,
            len(rates),
            len(todo),
            calls(mean, 0.5),
            calls(max(high, mean), 1.0),
        )
        if todo
        else VideoForecast(0, 0, len(rates), 0, 0.0, 0.0)
    )


@dataclass(frozen=True)
class ListForecast:
    """What a list of videos (``--layers``) costs for every expanded account: lists to page
    (begun and new), and the calls: one a list at least; the mean pages of the lists already
    ended (None before any did)."""

    layer: str
    lists: int
    calls_low: int
    calls: float | None


def list_forecasts(reader: Any, layers: tuple[str, ...]) -> list[ListForecast]:
    """The forecast of ``videos --plan --layers``, from a read snapshot (nothing is written)."""
    known = reader.video_lists()
    out = []
    for layer in layers:
        counts = known.get(layer, {"open": 0, "pages": 0})
        todo = counts["open"] + reader.accounts_without_list(layer)
        ended = sum(v for k, v in counts.items() if k not in ("open", "pages", "videos"))
        mean = counts["pages"] / ended if ended else None
        calls = None if mean is None else todo * max(1.0, mean)
        out.append(ListForecast(layer, todo, todo, calls))
    return out
