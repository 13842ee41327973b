"""Estimates of the whole graph from a sampled crawl, with their uncertainty.

A random walk visits a user in proportion to its degree (the number of distinct accounts it
follows or is followed by); weighting each visit by 1/degree corrects that (re-weighted random
walk, Gjoka et al. 2010; the same for the non-backtracking walk, whose stationary distribution
is the same). A Metropolis-Hastings walk visits users uniformly: plain means. A simple walk
without weights (``rw``) and the wave designs (breadth-first, snowball, forest fire) describe
what they visited, which over-represents well-connected accounts: their figures are reported
as figures of the sample, with no interval.

Every figure is a ratio of weighted sums, sum(w * y) / sum(w * z). Its interval comes from
independent groups of visits: each walker is one group when there are at least
``MIN_GROUPS`` walkers (walkers are independent, so their spread is honest about how slowly a
walk mixes), otherwise consecutive batches of each walk (batch means). The variance of the
ratio is its linearisation over groups, and the interval uses Student's t with groups - 1
degrees of freedom. The first ``BURN_IN`` of each walk (and at least its seed) is left out:
a walk starts at seeds the researcher chose, not at a draw from its stationary distribution; Geweke's z per walker and Gelman-Rubin's R-hat
over walkers, both on the degree sequence, say whether the walk has converged.

Average clustering uses the walk's consecutive triples (Hardiman & Katzir 2013): for a walk at
``v`` between ``u`` and ``w``, whether ``u`` and ``w`` are adjacent is known (both were
visited), and its expectation gives ``v``'s local clustering.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REWEIGHTED = ("rwrw", "nbrw")  # stationary distribution proportional to degree: weight 1/d
UNIFORM = ("mhrw",)  # stationary distribution uniform: plain means
WALKS = ("rw", "rwrw", "mhrw", "nbrw")
BURN_IN = 0.1  # share of each walk left out at its start
MIN_GROUPS = 5  # walkers needed to use walkers as the groups of the interval
BATCHES = 10  # otherwise: batches of the walks, this many in all (at least)
LEVEL = 0.95
SAMPLE_NOTE = (
    "figures of the users this design visited, not of the population: breadth-first, snowball "
    "and forest-fire samples (and an unweighted random walk) over-represent well-connected "
    "accounts, so the mean degree is over-estimated (docs/sampling.md)"
)


@dataclass
class Visit:
    """One step of a walk (or one sampled user of a wave design)."""

    user: int
    degree: int  # distinct accounts followed or following
    out_degree: int
    in_degree: int
    mutual: int  # accounts it follows that follow it back
    triangle: float | None = None  # the triple (prev, here, next): prev and next adjacent?


@dataclass
class Sample:
    """What a sampled crawl saw, ready for estimation."""

    design: str
    chains: list[list[Visit]]
    walkers: int = 0


def sample_of(db: str | Path) -> Sample:
    """The sample a crawl holds: its design, and each visit's degrees from the crawl's current
    edges. A breadth-first crawl's sample is the users whose lists it fetched."""
    from tiktok_network.store.read import CrawlReader

    with CrawlReader(db) as reader:
        design = str(reader.last_settings().get("sampler", "bfs"))
        chains = reader.sample_steps()
        if design in WALKS:
            visited = sorted({u for path in chains.values() for u in path})
            around = reader.neighbourhoods(visited)
            paths = [chains[c] for c in sorted(chains)]
            return Sample(design, [_walk_visits(p, around) for p in paths], walkers=len(paths))
        degrees = reader.degree_table()
    members = [u for c in sorted(chains) for u in chains[c]] if design != "bfs" else sorted(degrees)
    visits = [_counted(u, degrees[u]) for u in dict.fromkeys(members) if u in degrees]
    return Sample(design, [visits])


def _counted(user: int, counts: tuple[int, int, int]) -> Visit:
    out_degree, in_degree, mutual = counts
    return Visit(user, out_degree + in_degree - mutual, out_degree, in_degree, mutual)


def _visit(user: int, around: dict[int, tuple[set[int], set[int], bool]]) -> Visit:
    follows, followers, _ = around.get(user, (set(), set(), False))
    union = (follows | followers) - {user}
    return Visit(user, len(union), len(follows), len(followers), len(follows & followers))


def _walk_visits(
    path: list[int], around: dict[int, tuple[set[int], set[int], bool]]
) -> list[Visit]:
    """A walk's steps as visits; a step between two others records whether those two are
    adjacent (the walk visited both, so their neighbourhoods are known)."""
    visits = [_visit(u, around) for u in path]
    for k in range(1, len(path) - 1):
        before, here, after = path[k - 1], path[k], path[k + 1]
        if before == here or after == here:
            continue  # a walk that stayed put: no triple
        follows, followers, _ = around.get(before, (set(), set(), False))
        visits[k].triangle = 1.0 if after in follows or after in followers else 0.0
    return visits


# ----------------------------------------------------------------------------- estimates
Term = Callable[[Visit], float | None]


def estimate(sample: Sample) -> dict[str, Any]:
    """The ``estimates`` object of stats.json."""
    design = sample.design
    chains = [_after_burn_in(c) if design in WALKS else c for c in sample.chains]
    chains = [[v for v in c if v.degree > 0] for c in chains]
    groups = _groups(chains, sample.walkers)
    weight = _weight(design)
    corrected = design in REWEIGHTED or design in UNIFORM
    doc: dict[str, Any] = {
        "design": design,
        "corrects_bias": corrected,
        "visits": sum(len(c) for c in chains),
        "distinct_users": len({v.user for c in chains for v in c}),
        "walkers": sample.walkers,
        "interval": f"{LEVEL:.0%} t-interval over {len(groups)} "
        + ("walkers" if sample.walkers >= MIN_GROUPS else "batches")
        if corrected
        else None,
    }
    intervals = corrected  # an interval around a biased figure would be read as the truth's
    doc["mean_degree"] = _ratio(groups, lambda v: weight(v) * v.degree, weight, intervals)
    doc["mean_in_degree"] = _ratio(groups, lambda v: weight(v) * v.in_degree, weight, intervals)
    doc["mean_out_degree"] = _ratio(groups, lambda v: weight(v) * v.out_degree, weight, intervals)
    doc["reciprocity"] = _ratio(
        groups, lambda v: weight(v) * v.mutual, lambda v: weight(v) * v.out_degree, intervals
    )
    doc["average_clustering"] = _clustering(design, groups)
    doc["degree_ccdf"] = degree_ccdf([v for c in chains for v in c], weight)
    if design in WALKS:
        doc["convergence"] = convergence([[float(v.degree) for v in c] for c in chains])
    if not corrected:
        doc["note"] = SAMPLE_NOTE
    return doc


def _after_burn_in(chain: list[Visit]) -> list[Visit]:
    return chain[max(1, int(BURN_IN * len(chain))) :]


def _weight(design: str) -> Callable[[Visit], float]:
    if design in REWEIGHTED:
        return lambda v: 1.0 / v.degree
    return lambda v: 1.0


def _groups(chains: list[list[Visit]], walkers: int) -> list[list[Visit]]:
    """Independent groups of visits: the walkers, or consecutive batches of each walk."""
    chains = [c for c in chains if c]
    if walkers >= MIN_GROUPS:
        return chains
    per_chain = max(1, math.ceil(BATCHES / max(1, len(chains))))
    groups: list[list[Visit]] = []
    for chain in chains:
        size = max(1, len(chain) // per_chain)
        groups += [chain[i : i + size] for i in range(0, len(chain), size)]
    return [g for g in groups if g]


def _ratio(
    groups: list[list[Visit]], top: Term, bottom: Term, interval: bool
) -> dict[str, float | None]:
    """sum(top) / sum(bottom) over every visit, with its interval over the groups."""
    tops = np.array([sum(t for v in g if (t := top(v)) is not None) for g in groups], float)
    bottoms = np.array(
        [sum(b for v in g if top(v) is not None and (b := bottom(v)) is not None) for g in groups],
        float,
    )
    total = bottoms.sum()
    if not len(groups) or total <= 0:
        return {"value": None, "ci_low": None, "ci_high": None}
    value = float(tops.sum() / total)
    low = high = None
    if interval and len(groups) >= 2:
        g = len(groups)
        residuals = tops - value * bottoms
        se = math.sqrt(g / (g - 1) * float((residuals**2).sum())) / total
        half = _t_quantile(g - 1) * se
        low, high = value - half, value + half
    return {"value": value, "ci_low": low, "ci_high": high}


def _clustering(design: str, groups: list[list[Visit]]) -> dict[str, float | None]:
    """Average local clustering from the walk's triples: rwrw E[phi (d-1)^-1] / E[1/d] over a
    degree-biased walk, nbrw E[phi / d] / E[1/d] (it never turns back), rw the visit average of
    phi d / (d-1) (degree-biased). A Metropolis-Hastings walk's triples are not uniform pairs
    of neighbours: no estimate."""
    if design not in ("rw", "rwrw", "nbrw"):
        return {"value": None, "ci_low": None, "ci_high": None}
    intervals = design in REWEIGHTED

    def top(v: Visit) -> float | None:
        if v.triangle is None:
            return None
        if v.degree < 2:
            return 0.0
        if design == "rwrw":
            return v.triangle / (v.degree - 1)
        if design == "nbrw":
            return v.triangle / v.degree
        return v.triangle * v.degree / (v.degree - 1)

    def bottom(v: Visit) -> float:
        return 1.0 / v.degree if design in REWEIGHTED else 1.0

    return _ratio(groups, top, bottom, intervals)


def degree_ccdf(visits: Sequence[Visit], weight: Callable[[Visit], float]) -> list[list[float]]:
    """[k, P(degree >= k)] at each degree seen, the visits weighted."""
    if not visits:
        return []
    degrees = np.array([v.degree for v in visits])
    weights = np.array([weight(v) for v in visits])
    order = np.argsort(degrees)
    degrees, weights = degrees[order], weights[order]
    tail = np.cumsum(weights[::-1])[::-1] / weights.sum()
    ks, first = np.unique(degrees, return_index=True)
    return [[int(k), float(tail[i])] for k, i in zip(ks, first, strict=True)]


def ks_distance(estimate_ccdf: list[list[float]], true_degrees: np.ndarray) -> float:
    """Largest gap between an estimated degree distribution and the true one (both as
    P(degree >= k), compared at every degree either holds)."""
    true_degrees = np.sort(np.asarray(true_degrees))
    ks = np.union1d(true_degrees, [k for k, _ in estimate_ccdf]) if estimate_ccdf else true_degrees
    est_k = np.array([k for k, _ in estimate_ccdf], float)
    est_p = np.array([p for _, p in estimate_ccdf], float)
    gap = 0.0
    for k in ks:
        truth = 1.0 - np.searchsorted(true_degrees, k, side="left") / len(true_degrees)
        i = np.searchsorted(est_k, k, side="left")
        est = est_p[i] if i < len(est_k) else 0.0
        gap = max(gap, abs(truth - est))
    return float(gap)


def _t_quantile(df: int) -> float:
    """Student's t quantile for the interval's level (scipy comes with powerlaw)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + LEVEL / 2, df))


# --------------------------------------------------------------------------- convergence
def geweke(series: Sequence[float], first: float = 0.1, last: float = 0.5) -> float | None:
    """Geweke's z: the mean of the first 10% against the last 50%, each mean's variance by
    batch means (an autocorrelated series has fewer independent values than points)."""
    x = np.asarray(series, float)
    n = len(x)
    a, b = x[: int(first * n)], x[int((1 - last) * n) :]
    if len(a) < 2 or len(b) < 2:
        return None
    var = _mean_variance(a) + _mean_variance(b)
    if var <= 0:
        return 0.0 if a.mean() == b.mean() else None
    return float((a.mean() - b.mean()) / math.sqrt(var))


def _mean_variance(x: np.ndarray) -> float:
    size = max(1, int(math.sqrt(len(x))))
    batches = np.array([x[i : i + size].mean() for i in range(0, len(x) - size + 1, size)])
    if len(batches) < 2:
        return float(x.var(ddof=1) / len(x)) if len(x) > 1 else 0.0
    return float(batches.var(ddof=1) / len(batches))


def gelman_rubin(chains: Sequence[Sequence[float]]) -> float | None:
    """R-hat over walkers (cut to the shortest): near 1 when they agree."""
    usable = [np.asarray(c, float) for c in chains if len(c) >= 4]
    if len(usable) < 2:
        return None
    n, m = min(len(c) for c in usable), len(usable)
    x = np.array([c[:n] for c in usable])
    within = float(x.var(axis=1, ddof=1).mean())
    between = n * float(x.mean(axis=1).var(ddof=1))
    if within <= 0:
        return None
    pooled = (n - 1) / n * within + (m + 1) / (m * n) * between
    return float(math.sqrt(pooled / within))


def convergence(chains: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Geweke per walker and Gelman-Rubin over walkers, on the degree sequence."""
    z = [geweke(c) for c in chains]
    finite = [v for v in z if v is not None]
    return {
        "geweke_z": z,
        "geweke_within_2": (sum(abs(v) <= 2 for v in finite) / len(finite)) if finite else None,
        "gelman_rubin": gelman_rubin(chains),
        "steps": [len(c) for c in chains],
    }


# -------------------------------------------------------------------------------- figure
def convergence_figure(sample: Sample, estimates: dict[str, Any], path: Path) -> Path:
    """Each walker's running estimate of the mean degree, and the pooled one with its
    interval: the lines settle when the walk has converged."""
    from tiktok_network.analysis.canvas import new_figure

    weight = _weight(sample.design)
    fig, (top, bottom, diagnostics) = new_figure((8, 9), rows=3)
    for chain in sample.chains:
        visits = [v for v in chain if v.degree > 0]
        if not visits:
            continue
        w = np.array([weight(v) for v in visits])
        d = np.array([v.degree for v in visits], float)
        top.plot(np.arange(len(d)), np.cumsum(w * d) / np.cumsum(w), linewidth=0.8, alpha=0.7)
        bottom.plot(np.arange(len(d)), d, linewidth=0.5, alpha=0.6)
    mean = estimates["mean_degree"]
    if mean["value"] is not None:
        top.axhline(mean["value"], color="black", linewidth=1.5, label="pooled estimate")
        if mean["ci_low"] is not None:
            top.axhspan(
                mean["ci_low"], mean["ci_high"], color="grey", alpha=0.25, label="95% interval"
            )
    top.set_title(f"Running mean-degree estimate per walker ({sample.design})")
    top.set_xlabel("step")
    top.set_ylabel("mean degree estimate")
    top.legend(fontsize=8)
    top.grid(True, alpha=0.3)
    bottom.set_yscale("log")
    bottom.set_title("Degree of the user visited at each step (Geweke and Gelman-Rubin use it)")
    bottom.set_xlabel("step")
    bottom.set_ylabel("degree (log scale)")
    bottom.grid(True, alpha=0.3)
    _diagnostics_panel(diagnostics, estimates.get("convergence") or {})
    fig.tight_layout()
    fig.savefig(path)
    return path


def _diagnostics_panel(ax: Any, conv: dict[str, Any]) -> None:
    """Geweke's z of each walker against the |z| <= 2 band, and R-hat in the title."""
    z = conv.get("geweke_z") or []
    values = [0.0 if v is None else v for v in z]
    colours = ["#bbbbbb" if v is None else "#d62728" if abs(v) > 2 else "#2ca02c" for v in z]
    ax.bar(range(len(values)), values, color=colours)
    ax.set_xticks(range(len(values)))
    ax.axhspan(-2, 2, color="#2ca02c", alpha=0.08)
    for bound in (-2, 2):
        ax.axhline(bound, color="#2ca02c", linewidth=0.8, linestyle="--")
    rhat = conv.get("gelman_rubin")
    shown = "n/a" if rhat is None else f"{rhat:.3f}"
    ax.set_title(
        f"Geweke z per walker (|z| <= 2 green; grey: too short); Gelman-Rubin R-hat {shown}"
    )
    ax.set_xlabel("walker")
    ax.set_ylabel("z (first 10% vs last 50%)")
    ax.grid(True, axis="y", alpha=0.3)


# ---------------------------------------------------------------------------- the truth
def population(n: int, src: np.ndarray, dst: np.ndarray) -> dict[str, Any]:
    """The figures a walk estimates, computed on a whole graph's largest (weakly) connected
    component, the part a walk started in it can reach: for benchmarks and tests against
    the emulator's graphs."""
    import igraph as ig

    graph = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=True)
    graph.simplify(multiple=True, loops=True)
    parts = graph.connected_components(mode="weak")
    largest = int(np.argmax(parts.sizes()))
    members = np.flatnonzero(np.array(parts.membership) == largest)
    giant = graph.induced_subgraph(members)
    und = giant.as_undirected(mode="collapse")
    degrees = np.array(und.degree())
    out_deg = np.array(giant.outdegree())
    return {
        "nodes": giant.vcount(),
        "members": members,  # the component's users, as indices into the graph's users
        "degrees": degrees,
        "mean_degree": float(degrees.mean()),
        "mean_in_degree": float(out_deg.mean()),  # every follow is one out and one in
        "mean_out_degree": float(out_deg.mean()),
        "reciprocity": float(giant.reciprocity(ignore_loops=True, mode="default")),
        "average_clustering": float(und.transitivity_avglocal_undirected(mode="zero")),
    }
