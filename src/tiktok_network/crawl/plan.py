"""Quota planning: the calls per bucket, and the days of quota, that a crawl still needs.

Exact where the store knows a user's counts (a list of ``n`` entries costs ``max(1, ceil(n /
100))`` calls, less what was fetched already, within the follower cap and ``--max-list-items``);
estimated, with a range, where it does not: the users whose counts are unknown are costed from
users already costed (the deepest level with enough of them, and all of them: the range spans
both means, widened by twice the sampling error), and the users of depths not yet discovered
are counted from how many new users each expanded user brought at the last level that was
fully expanded (low: none beyond those already known; high: the largest such ratio seen).
``docs/completeness.md`` quotes how the range compared with real crawls.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tiktok_network.api.spec import MAX_COUNT
from tiktok_network.config import CrawlSettings
from tiktok_network.store.base import UserStatus

BUCKETS = ("following", "followers", "info")
MIN_SAMPLE = 30  # users a level needs to stand for the next one
Z = 2.0  # sampling error multiplier of the range


@dataclass
class PlanUser:
    """One user as the planner sees it (``CrawlReader.plan_rows``)."""

    depth: int
    status: int | None
    has_info: bool
    reported: dict[str, int | None]
    done: dict[str, bool]
    items: dict[str, int]
    pages: dict[str, int]

    @classmethod
    def of(cls, row: tuple[Any, ...]) -> PlanUser:
        depth, status, _state, has_info, fo_rep, fr_rep = row[:6]
        fo_done, fo_items, fo_pages, fr_done, fr_items, fr_pages = row[6:12]
        return cls(
            depth,
            status,
            bool(has_info),
            {"following": fo_rep, "followers": fr_rep},
            {"following": bool(fo_done), "followers": bool(fr_done)},
            {"following": int(fo_items or 0), "followers": int(fr_items or 0)},
            {"following": int(fo_pages or 0), "followers": int(fr_pages or 0)},
        )


@dataclass
class Range:
    """A figure with its range; low == high == value where it is exact."""

    value: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def add(self, value: float, low: float | None = None, high: float | None = None) -> None:
        self.value += value
        self.low += value if low is None else low
        self.high += value if high is None else high

    @property
    def exact(self) -> bool:
        return self.low == self.high == self.value


@dataclass
class PilotLevel:
    """What a plan's pilot (``crawl/pilot.py``) measured of the first depth a breadth-first
    crawl has not discovered in full: its users in all (those known included) and what a
    user there costs, per direction."""

    depth: int
    users: Range
    cost: dict[str, Range]  # calls per user there, over all of them

    def as_json(self) -> str:
        """What ``store.record_pilot`` keeps."""
        return json.dumps(
            {
                "depth": self.depth,
                "users": dataclasses.astuple(self.users),
                "cost": {d: dataclasses.astuple(r) for d, r in self.cost.items()},
            }
        )

    @classmethod
    def of_json(cls, text: str | None) -> PilotLevel | None:
        """The kept measurement (None: none kept, or not one this version reads)."""
        try:
            data = json.loads(text or "null")
            return cls(
                int(data["depth"]),
                Range(*map(float, data["users"])),
                {d: Range(*map(float, r)) for d, r in data["cost"].items()},
            )
        except (TypeError, ValueError, KeyError):
            return None


@dataclass
class Forecast:
    calls: dict[str, Range] = field(default_factory=lambda: {b: Range() for b in BUCKETS})
    records: Range = field(default_factory=Range)
    days: Range = field(default_factory=Range)
    users: Range = field(default_factory=Range)  # users whose lists are still to fetch
    info_spent: int = 0  # user-info calls the plan itself made (seeds' counts)
    pilot_spent: int = 0  # list calls the plan's pilot made (its pages are the crawl's)
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return all(r.exact for r in self.calls.values())

    def as_json(self) -> dict[str, Any]:
        """The object ``plan --json`` prints."""
        return {
            "calls": {b: round(r.value) for b, r in self.calls.items()},
            "calls_low": {b: math.floor(r.low) for b, r in self.calls.items()},
            "calls_high": {
                b: math.ceil(r.high) if math.isfinite(r.high) else None
                for b, r in self.calls.items()
            },
            "days": round(self.days.value, 3),
            "days_low": round(self.days.low, 3),
            "days_high": round(self.days.high, 3) if math.isfinite(self.days.high) else None,
            "exact": self.exact,
            "users_to_expand": round(self.users.value),
            "info_calls_made_by_plan": self.info_spent,
            "list_calls_made_by_plan": self.pilot_spent,
            "notes": self.notes,
        }

    def lines(self) -> list[str]:
        """The forecast as ``plan`` and ``status`` print it."""
        out = []
        for bucket in BUCKETS:
            r = self.calls[bucket]
            out.append(f"  {bucket:<10} {_figure(r)} calls")
        out.append(f"  days of quota: {_figure(self.days, 2)}")
        if self.info_spent:
            out.append(
                f"  (info includes {self.info_spent:,} user-info calls this plan made for counts)"
            )
        if self.pilot_spent:
            out.append(
                f"  (the lists include {self.pilot_spent:,} calls this plan's pilot made; their"
                " pages are stored, the crawl does not fetch them again)"
            )
        out += [f"  note: {n}" for n in self.notes]
        return out


def _figure(r: Range, digits: int = 0) -> str:
    if r.exact:
        return f"{r.value:,.{digits}f} (exact)"
    if not math.isfinite(r.high):
        return f"{r.value:,.{digits}f} (at least {r.low:,.{digits}f}; no upper bound known)"
    return f"{r.value:,.{digits}f} (range {r.low:,.{digits}f} to {r.high:,.{digits}f})"


def list_calls(direction: str, reported: int, items: int, settings: CrawlSettings) -> int:
    """Calls left on a list of ``reported`` entries of which ``items`` were fetched."""
    target = reported
    if direction == "followers" and settings.followers_cap:
        target = min(target, settings.followers_cap)
    if settings.max_list_items is not None:
        target = min(target, settings.max_list_items)
    return max(1, math.ceil(max(0, target - items) / MAX_COUNT))


def _skipped(user: PlanUser, settings: CrawlSettings) -> bool:
    limit = settings.skip_larger_than
    return limit is not None and any((user.reported[d] or 0) > limit for d in settings.directions)


def _inaccessible(user: PlanUser) -> bool:
    return user.status in (UserStatus.REFUSED, UserStatus.NOT_FOUND)


def known_cost(user: PlanUser, direction: str, settings: CrawlSettings) -> int | None:
    """Calls one user's list still needs, if known exactly (None: its count is unknown)."""
    if user.done[direction] or (user.status is not None and user.status != UserStatus.FAILED):
        return 0
    if _skipped(user, settings):
        return 0
    reported = user.reported[direction]
    if reported is None:
        return None
    return list_calls(direction, reported, user.items[direction], settings)


def sample_cost(user: PlanUser, direction: str, settings: CrawlSettings) -> int | None:
    """What a finished or counted user would cost under these settings, from the start: the
    sample that users of unknown counts are costed from."""
    if _inaccessible(user):
        first = settings.directions[0] == direction
        return 1 if first and not settings.info else 0
    if user.reported[direction] is not None:
        return (
            0
            if _skipped(user, settings)
            else list_calls(direction, user.reported[direction] or 0, 0, settings)
        )
    if user.done[direction]:
        return user.pages[direction]
    return None


class _Sample:
    """Per-user costs of one direction: the last level with enough users, and all."""

    def __init__(self) -> None:
        self.by_depth: dict[int, list[int]] = {}

    def add(self, depth: int, cost: int) -> None:
        self.by_depth.setdefault(depth, []).append(cost)

    def per_user(self, n: float) -> tuple[float, float, float]:
        """(value, low, high) for ``n`` users of unknown cost.

        The value is the mean of the deepest level with enough users (the likeliest to look
        like the next one), its top 5% cut to its 95th percentile: the largest accounts are
        found early and, once known, are not found again, so the next level has fewer of them
        (on Wiki-Vote and the synthetic graph this came within 10% where the plain mean was
        2.6 times too high: ``docs/completeness.md``); the high end the largest mean of any such level (or of all), plus
        twice the sampling error; the low end what the users would cost if every list fitted
        in one page (breadth-first levels grow sparser as the graph is used up, so the next
        level's mean can fall below every mean seen so far, but not below that floor).
        """
        every = [c for costs in self.by_depth.values() for c in costs]
        if n <= 0:
            return 0.0, 0.0, 0.0
        if not every:  # nothing to go by: one call each at least, no upper bound known
            return n, n, math.inf
        deep = [d for d, costs in self.by_depth.items() if len(costs) >= MIN_SAMPLE]
        ref = self.by_depth[max(deep)] if deep else every
        means = [sum(self.by_depth[d]) / len(self.by_depth[d]) for d in deep]
        means.append(sum(every) / len(every))
        spread = Z * _sd(ref) * math.sqrt(n)
        floor = sum(min(c, 1) for c in every) / len(every)
        cut = sorted(ref)[int(0.95 * (len(ref) - 1))]
        value = sum(min(c, cut) for c in ref) / len(ref)
        return n * value, n * floor, n * max(means) + spread


def _sd(values: list[int]) -> float:
    if len(values) < 2:
        return float(values[0]) if values else 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


@dataclass
class _Level:
    """What the planner keeps of one depth: counts only, so memory stays flat."""

    known: int = 0
    parsed: int = 0
    open: int = 0  # no verdict yet: to be expanded
    entries: int = 0  # list entries its parsed users returned (crawled directions)
    finished: int = 0  # users with a verdict
    calls: dict[str, float] = field(default_factory=dict)  # their lists' calls, per direction


@dataclass
class _Census:
    """One pass over the users: samples, levels, users started, counts reported."""

    samples: dict[str, _Sample]
    levels: dict[int, _Level] = field(default_factory=dict)
    started: int = 0
    counted: int = 0  # users with a reported count in a crawled direction
    counted_sum: int = 0
    beyond_without_info: int = 0


def _census(
    rows: Iterable[tuple[Any, ...]], blanks: dict[int, int], settings: CrawlSettings
) -> _Census:
    census = _Census({d: _Sample() for d in settings.directions})
    for depth, n in blanks.items():
        level = census.levels.setdefault(depth, _Level())
        level.known += n
        level.open += n
        if depth > settings.max_depth:
            census.beyond_without_info += n
    for row in rows:
        u = PlanUser.of(row)
        level = census.levels.setdefault(u.depth, _Level())
        level.known += 1
        level.parsed += u.status == UserStatus.PARSED
        level.open += u.status is None
        if u.status == UserStatus.PARSED:
            level.entries += sum(u.items[d] for d in settings.directions)
        if u.status is not None and u.status != UserStatus.FAILED:
            level.finished += 1
            for d in settings.directions:
                spent = u.pages[d] if u.status == UserStatus.PARSED else sample_cost(u, d, settings)
                level.calls[d] = level.calls.get(d, 0.0) + (spent or 0)
        census.started += u.status is not None or any(u.pages.values())
        if u.depth > settings.max_depth and not u.has_info:
            census.beyond_without_info += 1
        counts = [u.reported[d] for d in settings.directions if u.reported[d] is not None]
        if counts:
            census.counted += 1
            census.counted_sum += sum(counts)
        for d in settings.directions:
            cost = sample_cost(u, d, settings)
            if cost is not None:
                census.samples[d].add(u.depth, cost)
    return census


def forecast(
    rows: Callable[[], Iterable[tuple[Any, ...]]],
    settings: CrawlSettings,
    *,
    blanks: dict[int, int] | None = None,
    info_spent: int = 0,
    sample_spent: int = 0,
    pilot: PilotLevel | None = None,
    pilot_calls: dict[str, int] | None = None,
) -> Forecast:
    """The calls and days a crawl of ``settings`` (depth, direction, budgets) still needs.

    ``rows`` gives the users something is known of (``CrawlReader.plan_rows``) afresh on each
    call, ``blanks`` how many users per depth nothing is known of but their depth: two passes,
    one to learn the levels and samples, one to cost the users to expand, keep memory flat on
    a crawl of millions of users. A --max-users budget is spent level by level. ``pilot``:
    the depth a plan's pilot measured, costed from it; ``pilot_calls``: the list calls the
    pilot made, counted in (the forecast is of the whole crawl)."""
    f = Forecast(info_spent=info_spent)
    if settings.sampler != "bfs" and settings.max_requests is not None:
        return _sample_forecast(f, settings, sample_spent)
    directions = settings.directions
    blanks = blanks or {}
    census = _census(rows(), blanks, settings)
    if pilot is not None and (
        not census.levels.get(pilot.depth - 1, _Level()).open  # discovered: the crawl knows
        or set(pilot.cost) != set(directions)  # measured for other directions
    ):
        pilot = None
    budget = None if settings.max_users is None else max(0, settings.max_users - census.started)
    unknown = dict.fromkeys(directions, 0)

    def take(n: int) -> int:
        """How many of ``n`` users the --max-users budget still allows."""
        nonlocal budget
        granted = n if budget is None else min(n, budget)
        if budget is not None:
            budget -= granted
        return granted

    by_depth_rows = _todo_rows(rows(), settings)
    depths = set(blanks) | set(by_depth_rows) | ({pilot.depth} if pilot else set())
    for depth in sorted(depths):
        if depth > settings.max_depth:
            continue
        if pilot is not None and depth == pilot.depth:
            _cost_pilot_level(pilot, census.levels.get(depth, _Level()), settings, f, take)
            u = pilot.users
            f.notes.append(
                f"depth {depth} measured by the plan's pilot: about {u.value:,.0f} accounts"
                f" (range {u.low:,.0f} to {u.high:,.0f}), from how the sampled neighbourhoods"
                " overlap"
            )
            continue
        for u in by_depth_rows.get(depth, ())[: take(len(by_depth_rows.get(depth, ())))]:
            _cost_known_user(u, settings, f, unknown)
        n = take(blanks.get(depth, 0))
        f.users.add(n)
        for d in directions:
            unknown[d] += n
        if settings.info:
            f.calls["info"].add(n)
    for d in directions:
        if unknown[d]:
            value, low, high = census.samples[d].per_user(unknown[d])
            f.calls[d].add(value, low, high)
            f.records.add(value * MAX_COUNT, low * MAX_COUNT, high * MAX_COUNT)
    if budget is None:  # a --max-users budget ends with the users known
        if pilot is not None:
            _complete_levels(census, pilot)
        _undiscovered(census, settings, f)
    for d, calls in (pilot_calls or {}).items():
        if d in settings.directions and calls:
            f.calls[d].add(calls)
            f.pilot_spent += calls
    if settings.info and settings.info_for == "all":
        f.calls["info"].add(census.beyond_without_info)
    f.calls["info"].add(info_spent)
    if any(unknown.values()) and not any(census.samples[d].by_depth for d in directions):
        f.notes.append("no user's counts are known yet: each user is counted as one call")
    elif any(unknown.values()):
        f.notes.append(
            f"{max(unknown.values()):,} users to expand have no known counts: costed from "
            "the users whose counts are known"
        )
    f.days = _days(f, settings)
    _info_note(f, settings)
    return f


def forecast_crawl(
    reader: Any,
    settings: CrawlSettings,
    *,
    extra_seeds: int = 0,
    info_spent: int = 0,
    pilot_calls: dict[str, int] | None = None,
) -> Forecast:
    """The forecast of the crawl ``reader`` reads (a ``CrawlReader``), as ``plan`` and
    ``status`` print it: its users, the seeds it does not hold yet (``extra_seeds``), the
    budget a sample spent and what a plan's pilot measured."""
    from tiktok_network.store import PILOT_KEY

    blanks = reader.blank_users()
    if extra_seeds:
        blanks[0] = blanks.get(0, 0) + extra_seeds
    return forecast(
        reader.plan_rows,
        settings,
        blanks=blanks,
        info_spent=info_spent,
        sample_spent=reader.sample_calls_spent(),
        pilot=PilotLevel.of_json(reader.meta(PILOT_KEY)),
        pilot_calls=pilot_calls,
    )


def _sample_forecast(f: Forecast, settings: CrawlSettings, spent: int) -> Forecast:
    """A sampled crawl spends its budget (--max-requests, calls over the whole crawl, of which
    ``spent`` are spent): the total is known, how it splits between the lists is the walk's."""
    assert settings.max_requests is not None
    left = float(max(0, settings.max_requests - spent))
    buckets = [*settings.directions, *(["info"] if settings.info else [])]
    for bucket in buckets:
        f.calls[bucket].add(left / len(buckets), 0.0, left)
    walks = settings.sampler in ("rw", "rwrw", "mhrw", "nbrw")
    days = left / min(settings.follow_quota, settings.info_quota if settings.info else math.inf)
    f.days = Range(days, 0.0 if not walks else days, days)
    f.users.add(0.0, 0.0, left)
    f.notes.append(
        f"--sampler {settings.sampler} spends its budget of {settings.max_requests:,} calls over"
        f" the whole crawl ({spent:,} spent, {left:,.0f} left)"
        + ("" if walks else ", or less if its waves run out")
        + "; how the calls split between the lists depends on the walk"
    )
    return f


def _todo_rows(
    rows: Iterable[tuple[Any, ...]], settings: CrawlSettings
) -> dict[int, list[PlanUser]]:
    """The known users still to expand, per depth (the few a crawl has started or counted)."""
    todo: dict[int, list[PlanUser]] = {}
    for row in rows:
        u = PlanUser.of(row)
        if (
            u.depth <= settings.max_depth
            and (u.status is None or u.status == UserStatus.FAILED)
            and not all(u.done[d] for d in settings.directions)
        ):
            todo.setdefault(u.depth, []).append(u)
    return todo


def _cost_known_user(
    u: PlanUser, settings: CrawlSettings, f: Forecast, unknown: dict[str, int]
) -> None:
    """Add one user's calls: exact where its counts are known, else counted as unknown."""
    f.users.add(1)
    for d in settings.directions:
        cost = known_cost(u, d, settings)
        if cost is None:
            unknown[d] += 1
        else:
            f.calls[d].add(cost)
            f.records.add(min(u.reported[d] or 0, cost * MAX_COUNT))
    if settings.info and not u.has_info:
        f.calls["info"].add(1)


def _cost_pilot_level(
    pilot: PilotLevel,
    level: _Level,
    settings: CrawlSettings,
    f: Forecast,
    take: Callable[[int], int],
) -> None:
    """The users of the depth the pilot measured that are still to expand (known or not):
    their number and cost from the pilot, not from the users known there (the pilot's own
    expansions, drawn by their links, are not like the rest)."""
    left = pilot.users.value - level.finished
    n = float(take(max(0, math.ceil(left))))
    scale = n / left if left > 0 else 0.0
    low = max(0.0, pilot.users.low - level.finished) * scale
    high = max(0.0, pilot.users.high - level.finished) * scale
    f.users.add(n, low, high)
    for d in settings.directions:
        # The level's calls in all, less those of the users expanded already (known).
        cost, spent = pilot.cost[d], level.calls.get(d, 0.0)
        value = max(0.0, pilot.users.value * cost.value - spent) * scale
        lo = min(value, max(low, pilot.users.low * cost.low - spent) * scale)
        hi = max(value, (pilot.users.high * cost.high - spent) * scale)
        f.calls[d].add(value, lo, hi)
        f.records.add(value * MAX_COUNT, lo * MAX_COUNT, hi * MAX_COUNT)
    if settings.info:  # the users the pilot expanded have no profile yet either
        f.calls["info"].add(n + level.finished, low + level.finished, high + level.finished)


def _complete_levels(census: _Census, pilot: PilotLevel) -> None:
    """The levels as they will stand once the pilot's depth is discovered in full: the level
    above it expanded, the pilot's depth holding the users it counted (so the levels below
    grow from there)."""
    above = census.levels.setdefault(pilot.depth - 1, _Level())
    if above.parsed:  # the entries its expanded users returned, scaled to all of it
        above.entries = round(above.entries * (above.parsed + above.open) / above.parsed)
    above.parsed += above.open
    above.open = 0
    level = census.levels.setdefault(pilot.depth, _Level())
    level.known = max(level.known, round(pilot.users.value))
    level.open = max(0, level.known - level.finished)


def _growth(levels: dict[int, _Level]) -> list[float]:
    """New users per expanded user at each level that was fully expanded."""
    return [
        levels[depth + 1].known / level.parsed if depth + 1 in levels else 0.0
        for depth, level in sorted(levels.items())
        if level.parsed and not level.open
    ]


def _population(levels: dict[int, _Level]) -> float:
    """How many accounts the walk can reach, from how often it met known ones (a capture-
    recapture estimate): expanding the last complete level, a share ``f`` of the entries its
    lists returned were new, while about ``K`` accounts were known; with accounts met at random,
    ``f = 1 - K / N``. Infinite where nothing says otherwise (no complete level, no overlap)."""
    known = 0
    estimate = math.inf
    for depth, level in sorted(levels.items()):
        known += level.known
        nxt = levels.get(depth + 1)
        if not (level.parsed and not level.open and level.entries and nxt):
            continue
        new_share = min(nxt.known / level.entries, 1.0)
        during = known + nxt.known / 2  # known while the level was expanded
        if new_share < 1.0:
            estimate = during / (1.0 - new_share)
    return estimate


HORIZON = 2  # levels beyond the deepest known one that are estimated at all
POPULATION_SLACK = 10.0  # the high end may reach this many times the estimated population


def _undiscovered(census: _Census, settings: CrawlSettings, f: Forecast) -> None:
    """Users at depths not fully discovered yet: their number from the growth seen so far,
    within the population the overlaps suggest, their cost from the sample."""
    growth = _growth(census.levels)
    if not growth:
        if not census.counted:
            deepest = max(census.levels, default=0)
            if settings.max_depth > deepest and census.levels:
                for d in settings.directions:  # the levels below: more calls, how many unknown
                    f.calls[d].add(0.0, 0.0, math.inf)
                f.users.add(0.0, 0.0, math.inf)
                f.notes.append(
                    f"depths {deepest + 1} to {settings.max_depth} are not counted: no account's"
                    " counts are known yet (plan without --offline fetches the seeds' counts)"
                )
            return
        growth = [census.counted_sum / census.counted]  # every listed account new: a high figure
    g_point, g_high = growth[-1], max(growth)
    before = (f.users.value, f.users.high)
    population = _population(census.levels)
    ceiling = POPULATION_SLACK * population
    total = float(sum(lv.known for lv in census.levels.values()))
    known = {"capped": total, "free": total, "high": total}
    deepest = max(census.levels, default=0)
    new = dict.fromkeys(known, 0.0)  # users at this depth not known yet, three projections
    for depth in range(settings.max_depth + 2):
        if depth > 0:
            expanding = census.levels.get(depth - 1, _Level()).open
            new = {
                "capped": min(
                    (expanding + new["capped"]) * g_point, max(0.0, population - known["capped"])
                ),
                "free": (expanding + new["free"]) * g_point,
                "high": min((expanding + new["high"]) * g_high, max(0.0, ceiling - known["high"])),
            }
            for key in known:
                known[key] += new[key]
        if not new["high"]:
            continue
        if depth > deepest + HORIZON:
            f.notes.append(
                f"depths beyond {deepest + HORIZON} are not estimated: what is known yet says "
                "too little of how fast the walk runs out of new accounts; plan again later"
            )
            break
        # The point between saturation and free growth (clustered neighbourhoods make the walk
        # meet known accounts early, so the overlaps understate what is left).
        point = min(math.sqrt(new["capped"] * new["free"]), new["high"])
        new_range = Range(point, 0.0, new["high"])
        if depth <= settings.max_depth:
            for d in settings.directions:
                value = census.samples[d].per_user(new_range.value)[0]
                high = census.samples[d].per_user(new_range.high)[2]
                f.calls[d].add(value, 0.0, high)
                f.records.add(value * MAX_COUNT, 0.0, high * MAX_COUNT)
            if settings.info:
                f.calls["info"].add(new_range.value, new_range.low, new_range.high)
            f.users.add(new_range.value, new_range.low, new_range.high)
        elif settings.info and settings.info_for == "all":
            f.calls["info"].add(new_range.value, new_range.low, new_range.high)
    if (f.users.value, f.users.high) != before:
        reach = (
            ""
            if population == math.inf
            else f"; the overlaps suggest about {population:,.0f} reachable accounts"
        )
        f.notes.append(
            "users of depths not discovered yet are estimated from how many new users each "
            f"expanded user brought ({g_point:.2f} at the last complete level, up to "
            f"{g_high:.2f}{reach}): a rough figure; the low end counts only users already known"
        )


def _days(f: Forecast, settings: CrawlSettings, *, info: bool = True) -> Range:
    """Days of quota: the bucket that takes longest decides (``info``: the user-info bucket
    counts too; without it, the days the follow lists alone take)."""

    def days(pick: str) -> float:
        fo = getattr(f.calls.get("following", Range()), pick)
        fr = getattr(f.calls.get("followers", Range()), pick)
        follow = max(fo, fr) if settings.separate_follow_quotas else fo + fr
        calls = getattr(f.calls["info"], pick) if info else 0.0
        return max(
            follow / settings.follow_quota,
            getattr(f.records, pick) / settings.follow_records_quota,
            calls / settings.info_quota,
            calls / settings.info_records_quota,
        )

    return Range(days("value"), days("low"), days("high"))


def _info_note(f: Forecast, settings: CrawlSettings) -> None:
    lists = _days(f, settings, info=False)  # the lists do not wait for the info bucket
    if settings.info and f.days.value > lists.value * 1.05 + 0.01:
        f.notes.append(
            f"the follow lists take {_figure(lists, 2)} days; the profiles take longer (the"
            f" user-info bucket, {settings.info_quota:,} calls a day): accounts expanded once a"
            " day's user-info calls are spent have their lists recorded unjudged until later"
            " runs fetch their profiles"
        )
