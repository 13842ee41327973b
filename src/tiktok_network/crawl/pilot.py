"""The pilot of an initial plan: a small crawl whose pages the real crawl keeps, and what it
says of the level a breadth-first crawl has not discovered yet.

Counts of the seeds say how many users depth 1 holds, but not how many of their neighbours are
new at depth 2: that depends on how the neighbourhoods overlap, which the seeds' counts cannot
tell (an initial plan from counts alone was 2.7 times too high on Wiki-Vote, 4 times too low
on ego-Facebook: issue 22, item 11). The pilot measures the overlap on a sample:

1. the seeds' user info, then their lists: depth 1, exactly;
2. the user info of the depth-1 users (as far as the day's user-info bucket allows): their
   counts cost depth 1 exactly and say which of them are hubs;
3. to depth 2 or more: the lists of the ``HUBS`` largest depth-1 users (with certainty) and
   of ``SAMPLE`` others drawn at random: their neighbours not known yet are the depth-2 users
   they bring;
4. the lists of up to ``CHECKS`` such neighbours per stratum: how many depth-1 users each is
   adjacent to, the weight that makes the count of distinct depth-2 users unbiased (a
   Horvitz-Thompson sum: a neighbour met through ``k`` depth-1 users is counted ``1/k`` each
   time), and what a depth-2 user's lists cost.

Every call is one the crawl would make anyway (the users sampled are within ``--max-depth``),
and its pages are stored in the crawl's database, so the crawl does not fetch them again; the
runs are recorded as ``plan`` runs, which define no setting of the crawl. Measured on the
bundled graphs against the truth by ``python -m benchmarks.plan_accuracy --initial``
(``docs/completeness.md``).

The overlap needs both directions (a neighbour's adjacency to depth 1 is read from its own
lists). In a crawl of one direction it is not visible, and the accounts the sample did not
meet are estimated instead from how many it met once and twice (``_chao_lin``); the checks
then only cost depth 2.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tiktok_network.api.auth import Credentials
from tiktok_network.config import CrawlSettings
from tiktok_network.crawl.modes import InfoRound, Listed, Mode
from tiktok_network.crawl.plan import PilotLevel, PlanUser, Range, known_cost
from tiktok_network.store.base import UserStatus

# Sizes measured offline on the bundled graphs and a synthetic one (30 seed sets each): 40
# hubs, 150 drawn and 400 checks per stratum put every estimate of depth 2's users within
# ±25% (20, 80 and 120: 93-97%); the checks matter most, a neighbour's 1/k varying most.
HUBS = 40  # the largest depth-1 users, expanded with certainty
SAMPLE = 150  # depth-1 users drawn at random from the rest
CHECKS = 400  # new neighbours per stratum whose lists are fetched
CALLS = 3_000  # follow calls a pilot may make (plan --pilot-calls)
Z = 2.0  # standard errors either side of the range
MEASURED_ERROR = 0.25  # the largest error of depth 2's users in benchmarks/plan_pilot.py


class PilotError(Exception):
    """A pilot run that could not start or ended in an error (a wrong secret, a database in
    use): said in one line."""


@dataclass
class PilotResult:
    """The pilot's calls per bucket (its pages are in the crawl) and what it measured."""

    calls: dict[str, int] = field(
        default_factory=lambda: {"following": 0, "followers": 0, "info": 0}
    )
    level: PilotLevel | None = None
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None  # why it ended early (the quota), if it did


# One stratum as the estimate reads it: its users, the weight each stands for, the (user, new
# neighbour) pairs they listed, and the pairs drawn as checks.
Stratum = tuple[list["_Node"], float, list[tuple[int, int]], list[tuple[int, int]]]


@dataclass
class _Node:
    user: PlanUser
    user_id: int
    username: str


def _users(reader: Any, depth: int) -> dict[int, _Node]:
    """The users at ``depth``, in username order (the sample drawn from them is the same
    whatever order the pages were stored in)."""
    return {row[0]: _Node(PlanUser.of(row[2:]), row[0], row[1]) for row in reader.users_at(depth)}


def _degree(node: _Node, directions: Sequence[str]) -> int | None:
    counts = [node.user.reported[d] for d in directions]
    return None if any(c is None for c in counts) else sum(c or 0 for c in counts)


def _served(node: _Node) -> bool:
    return node.user.status is None or node.user.status == UserStatus.PARSED


class Pilot:
    """Runs the stages (each an engine run over the crawl's store) and reads what they left.

    ``run_engine(settings, seeds, **engine_options)`` runs one engine run and returns its
    ``CrawlResult``; ``open_reader()`` a ``CrawlReader`` of the crawl."""

    def __init__(
        self,
        settings: CrawlSettings,
        run_engine: Callable[..., Any],
        open_reader: Callable[[], Any],
        *,
        budget: int = CALLS,
        seed: int = 0,
    ) -> None:
        self.settings = settings
        self._base = dataclasses.replace(
            settings, on_quota="exit", info=False, sampler="bfs", max_requests=None
        )
        self._run_engine = run_engine
        self._open_reader = open_reader
        self.budget = budget
        self._rng = random.Random(seed)
        self.result = PilotResult()

    @property
    def _follow_spent(self) -> int:
        return self.result.calls["following"] + self.result.calls["followers"]

    def _stage(self, seeds: list[str], mode: InfoRound | Listed) -> bool:
        """One engine run; False when it stopped early (quota, signal): the pilot ends there."""
        settings = self._base
        bucket = "info" if isinstance(mode, InfoRound) else "lists"
        if bucket != "info":
            left = self.budget - self._follow_spent
            if left <= 0:
                self.result.stopped = f"its budget of {self.budget:,} follow calls is spent"
                return False
            settings = dataclasses.replace(settings, max_requests=left)
        outcome = self._run_engine(settings, seeds, mode)
        if outcome.fatal:
            raise PilotError(outcome.fatal)
        if bucket == "info":
            self.result.calls["info"] += outcome.requests
        else:
            self._split_follow_calls(outcome.requests)
        if outcome.reason not in ("complete", "limit"):
            self.result.stopped = {
                "quota": "the day's quota ran out",
                "max-requests": f"its budget of {self.budget:,} follow calls is spent",
            }.get(outcome.reason, f"it was stopped ({outcome.reason})")
            return False
        return True

    def _split_follow_calls(self, requests: int) -> None:
        """A stage's list calls, split between the directions as its plan's directions are."""
        directions = self.settings.directions
        share = requests // len(directions)
        for d in directions:
            self.result.calls[d] += share
        self.result.calls[directions[0]] += requests - share * len(directions)

    def run(self, seeds: list[str]) -> PilotResult:
        """The stages a plan of ``settings.max_depth`` needs; what ran is in ``result``."""
        s = self.settings
        if not self._stage(seeds, InfoRound()):
            return self.result
        if s.max_depth < 1 or self.budget <= 0:
            return self.result
        if s.sampler != "bfs" or s.max_users is not None or s.max_requests is not None:
            # A sample, or a crawl cut short by a budget, would not expand what the pilot does.
            self.result.notes.append(
                "no pilot: the crawl planned is a sample or has a budget (--max-users,"
                " --max-requests), which the pilot's expansions could overrun"
            )
            return self.result
        with self._open_reader() as reader:
            roots = _users(reader, 0)
        cost = sum(known_cost(n.user, d, s) or 1 for n in roots.values() for d in s.directions)
        if cost > self.budget:
            self.result.notes.append(
                f"no pilot: the seeds' own lists cost {cost:,} calls, more than its budget of"
                f" {self.budget:,} (plan --pilot-calls)"
            )
            return self.result
        if not self._stage([], Listed(sorted(roots))):
            return self.result
        if not self._stage([], InfoRound((1, 1))):
            return self.result
        if s.max_depth < 2:  # depth 1's counts cost it: the pilot has done its part
            return self.result
        with self._open_reader() as reader:
            depth1 = _users(reader, 1)
        strata = self._strata(depth1)
        chosen = [n.user_id for group, _ in strata for n in group]
        if not self._stage([], Listed(chosen)):
            return self.result
        self._measure_next(depth1, strata)
        return self.result

    def _strata(self, depth1: dict[int, _Node]) -> list[tuple[list[_Node], float]]:
        """The hubs (certainty: the largest whose lists fit the budget) and a random sample of
        the rest, each with the weight its users stand for."""
        s = self.settings
        served = [n for n in depth1.values() if _served(n)]
        left = self.budget - self._follow_spent
        sized = sorted(
            (n for n in served if _degree(n, s.directions) is not None),
            key=lambda n: (-(_degree(n, s.directions) or 0), n.username),
        )
        hubs: list[_Node] = []
        for n in sized[:HUBS]:
            price = sum(known_cost(n.user, d, s) or 1 for d in s.directions)
            if price <= left / 4:  # a hub may take a quarter of what is left, not all of it
                hubs.append(n)
                left -= price
        taken = {n.user_id for n in hubs}
        rest = [n for n in served if n.user_id not in taken]
        drawn = self._rng.sample(rest, min(SAMPLE, len(rest)))
        return [(hubs, 1.0), (drawn, len(rest) / len(drawn) if drawn else 0.0)]

    def _measure_next(
        self, depth1: dict[int, _Node], strata: list[tuple[list[_Node], float]]
    ) -> None:
        """Stage 4 and the estimate of depth 2 (see the module's docstring)."""
        s = self.settings
        ids1 = set(depth1)
        with self._open_reader() as reader:
            around = reader.neighbourhoods([n.user_id for g, _ in strata for n in g])
            names2 = {i: n.username for i, n in _users(reader, 2).items()}
        groups: list[Stratum] = []
        for group, weight in strata:
            pairs = []
            for n in group:
                out, into, parsed = around.get(n.user_id, (set(), set(), False))
                if not parsed:
                    continue
                near = (out if "following" in s.directions else set()) | (
                    into if "followers" in s.directions else set()
                )
                pairs += [(n.user_id, v) for v in sorted(near & names2.keys(), key=names2.get)]
            checked = self._rng.sample(pairs, min(CHECKS, len(pairs)))
            groups.append((group, weight, pairs, checked))
        both = set(s.directions) == {"following", "followers"}
        if both:
            wanted = sorted({v for *_, checked in groups for _, v in checked})
        else:  # the checks only cost depth 2: drawn from the new accounts seen
            seen = sorted({v for _, _, pairs, _ in groups for _, v in pairs}, key=names2.get)
            wanted = sorted(self._rng.sample(seen, min(CHECKS, len(seen))))
        if not self._stage([], Listed(wanted)):
            return
        with self._open_reader() as reader:
            nodes2 = _users(reader, 2)
            around = reader.neighbourhoods(wanted) if both else {}
        if both:
            self.result.level = _estimate(s, groups, ids1, nodes2, around)
        else:
            self.result.level = _estimate_one_way(s, groups, nodes2, wanted)


def _chao_lin(seen_once: int, seen_twice: int, drawn: int, fraction: float) -> float:
    """Accounts no drawn user listed, from how many were listed by exactly one and by exactly
    two of the ``drawn`` users, a ``fraction`` of those they were drawn from: the lower bound
    of Chao and Lin (2012) for sampling units drawn without replacement."""
    if fraction >= 1.0 or drawn < 2 or not seen_once:
        return 0.0
    return seen_once**2 / (
        drawn / (drawn - 1) * 2 * max(seen_twice, 1) + fraction / (1 - fraction) * seen_once
    )


def _estimate_one_way(
    s: CrawlSettings,
    groups: list[Stratum],
    nodes2: dict[int, _Node],
    checked: list[int],
) -> PilotLevel:
    """Depth 2 of a crawl of one direction: a new account's links to depth 1 are not in its
    own list, so its ``k`` is unknown; the accounts the sample did not meet are estimated from
    how many it met once and twice (offline on the bundled graphs and a synthetic one, 20
    seed sets each: within ±15%, where scaling up what was met was 23% high)."""
    (_, _, hub_pairs, _), (drawn, weight, pairs, _) = groups
    by_hubs = {v for _, v in hub_pairs}
    met = collections.Counter(v for _, v in pairs if v not in by_hubs)
    seen_once = sum(1 for c in met.values() if c == 1)
    seen_twice = sum(1 for c in met.values() if c == 2)
    fraction = 1.0 / weight if weight else 1.0
    total = len(by_hubs) + len(met) + _chao_lin(seen_once, seen_twice, len(drawn), fraction)
    seen = float(len(by_hubs) + len(met))
    spread = MEASURED_ERROR * total
    users = Range(total, max(seen, total - spread), total + spread)
    costs: dict[str, list[float]] = {d: [] for d in s.directions}
    for v in checked:
        node = nodes2.get(v)
        if node is None or node.user.status is None:
            continue
        for d in s.directions:
            costs[d].append(_calls(node, d, s))
    n = len(next(iter(costs.values()), []))
    cost = {d: _weighted(costs[d], [1.0] * n) for d in s.directions}
    return PilotLevel(2, users, cost)


def _estimate(
    s: CrawlSettings,
    groups: list[Stratum],
    ids1: set[int],
    nodes2: dict[int, _Node],
    around: dict[int, tuple[set[int], set[int], bool]],
) -> PilotLevel:
    """Depth 2's users and their cost from the strata (Horvitz-Thompson, see above)."""
    total, variance = 0.0, 0.0
    weights: list[float] = []
    costs: dict[str, list[float]] = {d: [] for d in s.directions}
    seen = set()
    for group, weight, pairs, checked in groups:
        seen.update(v for _, v in pairs)
        inverse: list[float | None] = []
        used: list[_Node] = []
        for _, v in checked:
            out, into, parsed = around.get(v, (set(), set(), False))
            node = nodes2.get(v)
            if node is None or node.user.status is None:
                continue  # not expanded (the budget ran out): not a check
            if node.user.status == UserStatus.PARSED and _expanded(node, s):
                inverse.append(1.0 / max(1, len((out | into) & ids1)))
            elif node.user.status in (UserStatus.REFUSED, UserStatus.NOT_FOUND):
                inverse.append(None)  # its lists are not served: adjacency as the others'
            else:
                continue
            used.append(node)
        if not pairs or not group:
            continue
        known = [x for x in inverse if x is not None]
        mean_inv = sum(known) / len(known) if known else 1.0  # nothing checked: no overlap
        inverse = [mean_inv if x is None else x for x in inverse]
        total += weight * len(pairs) * mean_inv
        listed = collections.Counter(u for u, _ in pairs)
        per_user = [listed[n.user_id] for n in group]
        if weight > 1 and len(per_user) > 1:  # the sample's error (the checks' comes below)
            population = weight * len(group)
            fraction = len(group) / population
            variance += (population**2) * (1 - fraction) * _var(per_user) / len(group) * mean_inv**2
        if len(inverse) > 1:
            variance += (weight * len(pairs)) ** 2 * _var(inverse) / len(inverse)
        for x, node in zip(inverse, used, strict=True):
            w = weight * len(pairs) / len(inverse) * x
            weights.append(w)
            for d in s.directions:
                costs[d].append(_calls(node, d, s))
    low_users = float(len(seen))  # distinct ones seen: there are at least these
    # The sampling error's formula understates it on clustered graphs (1/k is heavy-tailed):
    # the range is at least the largest error measured offline.
    spread = max(Z * math.sqrt(variance), MEASURED_ERROR * total)
    value = max(total, low_users)
    users = Range(value, max(low_users, total - spread), max(value, total + spread))
    cost = {d: _weighted(costs[d], weights) for d in s.directions}
    return PilotLevel(2, users, cost)


def _calls(node: _Node, direction: str, s: CrawlSettings) -> float:
    """The calls a checked user's list took (an account that is not served takes one, on the
    first direction asked)."""
    if node.user.status == UserStatus.PARSED:
        return float(node.user.pages[direction] or 1)
    return 1.0 if direction == s.directions[0] else 0.0


def _expanded(node: _Node, s: CrawlSettings) -> bool:
    return all(node.user.done[d] for d in s.directions)


def _weighted(values: list[float], weights: list[float]) -> Range:
    """The mean cost of a depth-2 user with its range (two standard errors)."""
    if not values or not weights or len(values) != len(weights):
        return Range(1.0, 1.0, math.inf)
    total = sum(weights)
    mean = sum(w * v for w, v in zip(weights, values, strict=True)) / total
    n_eff = total**2 / sum(w * w for w in weights)
    sd = math.sqrt(sum(w * (v - mean) ** 2 for w, v in zip(weights, values, strict=True)) / total)
    spread = Z * sd / math.sqrt(max(1.0, n_eff))
    return Range(mean, max(1.0, mean - spread), mean + spread)


def _var(values: Iterable[float]) -> float:
    xs = list(values)
    if len(xs) < 2:
        return 0.0
    mean = sum(xs) / len(xs)
    return sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


def run_pilot(
    settings: CrawlSettings,
    credentials: Credentials,
    seeds: list[str],
    *,
    budget: int = CALLS,
) -> PilotResult:
    """The pilot of ``settings`` from ``seeds`` on a crawl database that holds nothing yet."""
    import asyncio

    from tiktok_network.crawl.engine import Engine
    from tiktok_network.store import record_pilot
    from tiktok_network.store.read import CrawlReader

    def run_engine(stage: CrawlSettings, names: list[str], mode: Mode) -> Any:
        engine = Engine(stage, credentials, mode=mode)
        return asyncio.run(engine.run(names))

    seed = sum(map(ord, "".join(sorted(seeds))))  # the same seeds draw the same sample
    pilot = Pilot(settings, run_engine, lambda: CrawlReader(settings.db), budget=budget, seed=seed)
    result = pilot.run(seeds)
    if result.level is not None:
        record_pilot(settings.db, result.level.as_json())
    if result.stopped:
        result.notes.append(f"the pilot stopped early ({result.stopped}): a rougher estimate")
    return result
