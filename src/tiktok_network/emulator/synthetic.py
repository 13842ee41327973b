"""A deterministic synthetic follow graph with the shape of a social network.

Three mechanisms give the properties a crawler and an analysis must cope with:
- heavy-tailed activity (out-degree) and popularity (in-degree, through preferential
  targets drawn from a Pareto weight), so a few hubs collect tens of thousands of followers;
- local follows inside communities of a few hundred users, which close triangles and lift
  clustering far above a random graph's;
- follow-backs, mostly on local follows, for a reciprocity between 0.3 and 0.5.
Everything is vectorised with numpy, so a million users load in seconds.
"""

from __future__ import annotations

import numpy as np

from tiktok_network.emulator.names import synthetic_username

MEAN_PRIMARY_OUT = 19.0  # follows a user initiates, before follow-backs
LOCAL_SHARE = 0.6  # of initiated follows, the share that stays in the user's community
COMMUNITY_SIZE = 200
FOLLOW_BACK_LOCAL = 0.45
FOLLOW_BACK_GLOBAL = 0.06


def synthetic_edges(n: int, *, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Usernames and the (follower, followed) arrays of a synthetic graph of ``n`` users;
    ``graph.parse_graph_spec`` turns them into a FollowGraph."""
    rng = np.random.default_rng(seed)
    out_deg = _activity(n, rng)
    src = np.repeat(np.arange(n, dtype=np.int64), out_deg)
    m = len(src)
    local = rng.random(m, dtype=np.float32) < LOCAL_SHARE

    dst = np.empty(m, dtype=np.int64)
    dst[local] = _community_targets(src[local], n, rng)
    dst[~local] = _popular_targets(int((~local).sum()), n, rng)

    back = rng.random(m, dtype=np.float32) < np.where(local, FOLLOW_BACK_LOCAL, FOLLOW_BACK_GLOBAL)
    del local
    names = [synthetic_username(i, seed) for i in range(n)]
    return names, np.concatenate([src, dst[back]]), np.concatenate([dst, src[back]])


def _activity(n: int, rng: np.random.Generator) -> np.ndarray:
    """Initiated follows per user: lognormal, heavy-tailed, capped at a few thousand."""
    sigma = 1.1
    mu = np.log(MEAN_PRIMARY_OUT) - sigma**2 / 2
    deg = np.floor(rng.lognormal(mu, sigma, size=n)).astype(np.int64)
    return np.clip(deg, 0, min(n - 1, 5000))


def _community_targets(src: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A target in the same community, skewed towards close neighbours to close triangles."""
    size = min(COMMUNITY_SIZE, n)
    base = (src // size) * size
    span = np.minimum(size, n - base)
    offset = src - base + np.floor(rng.exponential(size / 12, size=len(src))).astype(np.int64) + 1
    return base + offset % span


def _popular_targets(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Targets drawn in proportion to a Pareto popularity weight: the source of the hubs."""
    weight = rng.pareto(1.4, size=n) + 1.0
    weight /= weight.sum()
    return rng.choice(n, size=k, p=weight).astype(np.int64)


def planted_edges(
    n: int, *, communities: int = 20, mix: float = 0.15, seed: int = 0
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """A directed degree-corrected block model: ``n`` users in ``communities`` groups of
    unequal size, each user with a heavy-tailed activity (follows it initiates) and popularity
    (the chance of being followed); a follow stays in the user's group with probability
    ``1 - mix`` and otherwise goes anywhere, its target drawn in proportion to popularity in
    both cases (Karrer & Newman 2011, the degree-corrected stochastic block model). Follow-backs
    as in ``synthetic_edges``. Returns names, sources, targets and each user's group: the
    truth a community detection is scored against (``GET /_emulator/truth``)."""
    rng = np.random.default_rng(seed + 7_919)
    shares = rng.dirichlet(np.full(communities, 3.0))
    group = np.sort(rng.choice(communities, size=n, p=shares)).astype(np.int64)
    popularity = rng.pareto(1.6, size=n) + 1.0
    out_deg = _activity(n, rng)
    src = np.repeat(np.arange(n, dtype=np.int64), out_deg)
    local = rng.random(len(src)) >= mix
    dst = np.empty(len(src), dtype=np.int64)
    dst[~local] = rng.choice(n, size=int((~local).sum()), p=popularity / popularity.sum())
    starts = np.searchsorted(group, np.arange(communities + 1))
    for c in range(communities):
        members = np.arange(starts[c], starts[c + 1])
        picks = local & (group[src] == c)
        if not picks.any() or len(members) == 0:
            dst[picks] = rng.integers(0, n, size=int(picks.sum()))
            continue
        weight = popularity[members] / popularity[members].sum()
        dst[picks] = rng.choice(members, size=int(picks.sum()), p=weight)
    keep = src != dst
    src, dst, local = src[keep], dst[keep], local[keep]
    back = rng.random(len(src)) < np.where(local, FOLLOW_BACK_LOCAL, FOLLOW_BACK_GLOBAL)
    names = [synthetic_username(i, seed) for i in range(n)]
    return names, np.concatenate([src, dst[back]]), np.concatenate([dst, src[back]]), group
