"""Sampling designs: which users a crawl expands, decided from what it already holds.

A design is pure: given the chains so far (a walker's positions, or a wave's members) and a
view of the users the crawl has expanded, it returns the next round of decisions, or the users
it must see expanded first, or says it is finished. Every random draw comes from a generator
seeded by (sample seed, chain, step) alone, so a decision replayed after a ``kill -9`` (or
recomputed once a needed user is expanded) draws the same numbers: the same seed, graph and
budget give the same sample, step for step. The frontier (``crawl/frontier.py``) fetches what
a design needs and stores its decisions, one round per transaction (``store/sampling.py``).

Walks move on the undirected neighbourhood (everyone a user follows or is followed by), the
graph on which their stationary distributions are known (Gjoka et al. 2010): a simple walk
visits users in proportion to their degree (``rw``; ``rwrw`` is the same walk, re-weighted by
``analysis/estimators.py``), a Metropolis-Hastings walk uniformly (``mhrw``), and a
non-backtracking walk in proportion to degree with less back-and-forth (``nbrw``, Lee et al.
2012). Accounts a walk cannot stand on (private, deleted, no neighbours) are skipped: a walk
draws again among the other neighbours, and a Metropolis-Hastings proposal to one is refused.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tiktok_network.config import CrawlSettings
from tiktok_network.store.sampling import SampleNode

WALKS = ("rw", "rwrw", "mhrw", "nbrw")
WAVES = ("snowball", "forest-fire")

View = Callable[[int], SampleNode | None]  # an expanded user, or None (not expanded yet)
Row = tuple[int, int, int]  # (chain, step, user id)


@dataclass(frozen=True)
class Need:
    """Users whose expansion the next decisions wait for."""

    ids: frozenset[int]


@dataclass(frozen=True)
class Restart:
    """A forest fire that died out: it starts again from a user the crawl knows."""


def step_rng(seed: int, chain: int, step: int) -> random.Random:
    """The generator of one decision (string seeds are hashed with SHA-512: the same on every
    machine and Python run, unlike ``hash``)."""
    return random.Random(f"tiktok-network:{seed}:{chain}:{step}")


class Walk:
    """``walkers`` random walks, moving together one step per round."""

    def __init__(self, kind: str, walkers: int, seed: int) -> None:
        self.kind = kind
        self.walkers = walkers
        self.seed = seed
        # The crawl's seeds (by id): where a walker whose seed cannot be walked from (private,
        # missing, no neighbours) starts again. Set by the frontier from what the crawl stores.
        self.seeds: list[int] = []

    def start(self, seeds: list[int]) -> list[Row]:
        """Step 0 of each walker: distinct seeds drawn with the sample seed while there are
        enough, else the seeds in turn."""
        if len(seeds) >= self.walkers:
            chosen = random.Random(f"tiktok-network:{self.seed}:start").sample(seeds, self.walkers)
        else:
            chosen = [seeds[w % len(seeds)] for w in range(self.walkers)]
        return [(w, 0, user) for w, user in enumerate(chosen)]

    def advance(self, chains: dict[int, list[int]], view: View) -> list[Row] | Need | None:
        """Every walker's next step, or the users to expand first; None when no walker can
        move (each stands on an account without neighbours)."""
        rows: list[Row] = []
        needs: set[int] = set()
        for chain, path in sorted(chains.items()):
            decision = self._step(chain, path, view)
            if isinstance(decision, Need):
                needs |= decision.ids
            elif decision is not None:
                rows.append((chain, len(path), decision))
        if needs:
            return Need(frozenset(needs))
        return rows or None

    def _step(self, chain: int, path: list[int], view: View) -> int | Need | None:
        here = path[-1]
        node = view(here)
        if node is None:
            return Need(frozenset({here}))
        if not node.usable:
            # A walker standing on an account it cannot leave (only a seed can be one: a walk
            # never steps onto such an account) starts again from a usable seed.
            return self._restart(chain, path, view) if len(path) == 1 else None
        rng = step_rng(self.seed, chain, len(path) - 1)
        if self.kind == "mhrw":
            return _metropolis_hastings(node, rng, view)
        came_from = path[-2] if self.kind == "nbrw" and len(path) > 1 else None
        return _uniform_neighbour(node, rng, view, avoid=came_from)

    def _restart(self, chain: int, path: list[int], view: View) -> int | Need | None:
        """A seed drawn uniformly among those a walk can stand on (all of them expanded
        first); None when no seed is usable."""
        others = [u for u in self.seeds if u != path[0]]
        unknown = frozenset(u for u in others if view(u) is None)
        if unknown:
            return Need(unknown)
        usable = [u for u in others if view(u).usable]  # type: ignore[union-attr]
        if not usable:
            return None
        return usable[step_rng(self.seed, chain, -1).randrange(len(usable))]

    def stuck(self, chains: dict[int, list[int]]) -> bool:
        """Whether no walker ever moved (every seed private, missing or alone)."""
        return all(len(path) == 1 for path in chains.values())


def _uniform_neighbour(
    node: SampleNode, rng: random.Random, view: View, avoid: int | None
) -> int | Need:
    """A neighbour drawn uniformly among those a walk can stand on (``avoid``, where a
    non-backtracking walk came from, only when no other is left); the node itself when none."""
    candidates = list(node.neighbours)
    if avoid is not None and len(candidates) > 1 and avoid in candidates:
        candidates.remove(avoid)
    else:
        avoid = None
    while candidates:
        user = candidates.pop(rng.randrange(len(candidates)))
        seen = view(user)
        if seen is None:
            return Need(frozenset({user}))
        if seen.usable:
            return user
    if avoid is not None:
        return avoid
    return node.user_id


def _metropolis_hastings(node: SampleNode, rng: random.Random, view: View) -> int | Need:
    """Propose a uniform neighbour, accept it with probability min(1, k_here / k_there)."""
    user = node.neighbours[rng.randrange(node.degree)]
    seen = view(user)
    if seen is None:
        return Need(frozenset({user}))
    if not seen.usable:
        return node.user_id
    return user if rng.random() * seen.degree <= node.degree else node.user_id


class Waves:
    """Snowball (at most ``k`` neighbours of each member, drawn at random) or forest fire
    (a geometric number of neighbours, mean p/(1-p), Leskovec & Faloutsos 2006): wave w+1 is
    drawn from wave w's members once all of them are expanded, in their order, never picking
    a user twice. A snowball ends after ``max_depth`` waves; a fire that dies out starts again
    from a random user the crawl knows."""

    def __init__(self, kind: str, seed: int, k: int, burn: float, max_depth: int) -> None:
        self.kind = kind
        self.seed = seed
        self.k = k
        self.burn = burn
        self.max_depth = max_depth

    def start(self, seeds: list[int]) -> list[Row]:
        return [(0, i, user) for i, user in enumerate(seeds)]

    def advance(
        self, chains: dict[int, list[int]], view: View
    ) -> list[Row] | Need | Restart | None:
        wave = max(chains)
        members = chains[wave]
        waiting = frozenset(m for m in members if view(m) is None)
        if waiting:
            return Need(waiting)
        if self.kind == "snowball" and wave >= self.max_depth:
            return None
        picked = {user for path in chains.values() for user in path}
        chosen: list[int] = []
        for i, member in enumerate(members):
            node = view(member)
            assert node is not None
            if not node.usable:
                continue
            rng = step_rng(self.seed, wave, i)
            candidates = [u for u in node.neighbours if u not in picked]
            take = self.k if self.kind == "snowball" else _geometric(rng, self.burn)
            for user in rng.sample(candidates, min(take, len(candidates))):
                picked.add(user)
                chosen.append(user)
        if not chosen:
            return Restart() if self.kind == "forest-fire" else None
        return [(wave + 1, i, user) for i, user in enumerate(chosen)]

    def restart(self, chains: dict[int, list[int]], known: list[int]) -> list[Row] | None:
        """A new fire from a user drawn among those known and not yet burnt."""
        picked = {user for path in chains.values() for user in path}
        left = [u for u in known if u not in picked]
        if not left:
            return None
        wave = max(chains)
        return [(wave + 1, 0, step_rng(self.seed, wave + 1, -1).choice(left))]


def _geometric(rng: random.Random, p: float) -> int:
    """How many neighbours burn: each further one with probability ``p``."""
    count = 0
    while rng.random() < p:
        count += 1
    return count


Design = Walk | Waves


def design_of(settings: CrawlSettings) -> Design:
    """The design ``--sampler`` names (not breadth-first: that is the store's own order)."""
    if settings.sampler in WALKS:
        return Walk(settings.sampler, settings.walkers, settings.sample_seed)
    if settings.sampler in WAVES:
        return Waves(
            settings.sampler,
            settings.sample_seed,
            settings.snowball_k,
            settings.burn_probability,
            settings.max_depth,
        )
    raise ValueError(f"not a sampling design: {settings.sampler}")
