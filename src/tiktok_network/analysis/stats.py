"""Network statistics, each under the name and definition papers use.

Quantities that papers define differently are reported separately and named: edge vs pair
reciprocity, average local clustering (SNAP's: nodes of degree < 2 count as 0) vs global
transitivity vs SNAP's "fraction of closed triangles". Clustering, triangles and distances are
computed on the undirected simple view, as SNAP does.

Which library does what was chosen by measurement at 11 M and 100 M edges
(``docs/performance.md``): the directed figures on one scipy sparse matrix (components in C,
PageRank as a power iteration), reciprocity and assortativities in numpy over the edge arrays,
the undirected graph in NetworKit (its clustering, breadth-first searches on both cores and
Leiden communities), and igraph only for the exact distances of small graphs. No graph library
builds a Python object per edge.
"""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from tiktok_network.analysis.arrays import undirected_pairs
from tiktok_network.analysis.edgelist import EdgeList

EXACT_DISTANCE_LIMIT = 10_000  # nodes in the largest WCC up to which all-pairs BFS is exact
BFS_SOURCES = 1_000
BFS_EDGE_BUDGET = 250_000_000  # sampled BFS sources x edges: bounded time on large graphs
BFS_THREADS = 2  # searches run side by side; their histograms add, so the figures do not change
PAGERANK_DAMPING = 0.85
PAGERANK_TOLERANCE = 1e-12  # L1 change between iterations; igraph's PRPACK agrees to 1e-10
CHUNK = 10_000_000  # edges per numpy pass: bounded temporaries at 100 M edges
BOOTSTRAP_ROUNDS = 1000  # resamples of the BFS sources for the effective diameter's interval


@dataclass
class DegreeSummary:
    """A network's figures and its degree arrays (in, out, undirected: one per node), which
    the fits and CCDFs are drawn from; made in memory (``network_summary``) or out of core
    (``out_of_core.summarise``)."""

    stats: dict[str, Any]
    in_degrees: np.ndarray
    out_degrees: np.ndarray
    undirected_degrees: np.ndarray


def network_stats(
    el: EdgeList,
    *,
    seed: int = 0,
    bfs_sources: int = BFS_SOURCES,
    exact_limit: int = EXACT_DISTANCE_LIMIT,
    communities: bool = True,
) -> dict[str, Any]:
    """Every figure of the report for one network (degree fits are in ``fits.py``)."""
    return network_summary(
        el, seed=seed, bfs_sources=bfs_sources, exact_limit=exact_limit, communities=communities
    ).stats


def network_summary(
    el: EdgeList,
    *,
    seed: int = 0,
    bfs_sources: int = BFS_SOURCES,
    exact_limit: int = EXACT_DISTANCE_LIMIT,
    communities: bool = True,
) -> DegreeSummary:
    """``network_stats`` with the degree arrays it computed on the way, so the report's fits
    do not count them again (the undirected ones take the pairs: seconds at 100 M edges)."""
    n, m = el.n_nodes, el.n_edges
    stats: dict[str, Any] = {
        "name": el.name,
        "nodes": n,
        "edges": m,
        "duplicate_edges_removed": el.duplicates_removed,
        "self_loops_removed": el.self_loops_removed,
        "input_checksum": el.checksum,
    }
    if n == 0 or m == 0:
        stats["empty"] = True
        empty = np.zeros(0, dtype=np.int64)
        return DegreeSummary(stats, empty, empty, empty)
    out_deg = np.bincount(el.src, minlength=n)
    in_deg = np.bincount(el.dst, minlength=n)
    stats.update(
        density=m / (n * (n - 1)) if n > 1 else 0.0,
        mean_degree=m / n,
        max_out_degree=int(out_deg.max()),
        max_in_degree=int(in_deg.max()),
    )
    stats.update(directed_assortativity(el, out_deg, in_deg))
    adjacency = directed_adjacency(el, out_deg)
    weak = connected_components(adjacency, directed=True, connection="weak")[1]
    strong = connected_components(adjacency, directed=True, connection="strong")[1]
    stats.update(components(weak, "wcc", el))
    stats.update(components(strong, "scc", el))
    del strong
    stats["top_pagerank"] = _top(el, pagerank(adjacency, out_deg), 10)
    del adjacency
    a, b = undirected_pairs(el.src, el.dst, n)
    stats.update(reciprocity(m, len(a)))
    stats["assortativity_undirected"] = undirected_assortativity(a, b, n)
    u = networkit_graph(a, b, n)
    undirected = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    stats.update(clustering(u, undirected))
    stats.update(
        distances(u, a, b, weak, seed=seed, bfs_sources=bfs_sources, exact_limit=exact_limit)
    )
    del a, b, weak
    stats["top_in_degree"] = _top(el, in_deg.astype(float), 10)
    if communities:
        stats.update(community_stats(el, in_deg, seed=seed, graph=u))
    return DegreeSummary(stats, in_deg, out_deg, undirected)


def directed_adjacency(el: EdgeList, out_deg: np.ndarray) -> sp.csr_array:
    """The directed graph as a sparse matrix whose entry (s, d) is 1 / out-degree of s: the
    components read its pattern, PageRank multiplies by its transpose. int32 indices: 12 bytes
    an edge."""
    weights = 1.0 / out_deg[el.src]
    return sp.csr_array(
        (weights, (el.src.astype(np.int32), el.dst.astype(np.int32))),
        shape=(el.n_nodes, el.n_nodes),
    )


def reciprocity(edges: int, pairs: int) -> dict[str, float]:
    """Edge reciprocity (the share of edges whose reverse exists) and pair reciprocity (the
    share of linked pairs linked both ways), from the edge and pair counts alone: a pair linked
    both ways holds two edges, so there are ``edges - pairs`` of them."""
    mutual = edges - pairs
    return {
        "edge_reciprocity": 2 * mutual / edges if edges else 0.0,
        "pair_reciprocity": mutual / pairs if pairs else 0.0,
    }


def pagerank(adjacency: sp.csr_array, out_deg: np.ndarray) -> np.ndarray:
    """PageRank with damping 0.85, the rank of accounts that follow no one spread over all
    (igraph's PRPACK and networkx do the same), by power iteration over the sparse matrix."""
    n = adjacency.shape[0]
    transposed = adjacency.T
    sinks = out_deg == 0
    rank = np.full(n, 1.0 / n)
    for _ in range(1000):
        new = PAGERANK_DAMPING * (transposed @ rank)
        new += (PAGERANK_DAMPING * rank[sinks].sum() + 1.0 - PAGERANK_DAMPING) / n
        new /= new.sum()
        change = np.abs(new - rank).sum()
        rank = new
        if change < PAGERANK_TOLERANCE:
            break
    return rank


def components(labels: np.ndarray, key: str, el: EdgeList) -> dict[str, Any]:
    """Count and size of the components ``labels`` assigns; the largest one's edges counted
    over the edge arrays instead of building it as a subgraph."""
    sizes = np.bincount(labels)
    largest = int(np.argmax(sizes))
    inside = 0
    for start in range(0, el.n_edges, CHUNK):
        s, d = el.src[start : start + CHUNK], el.dst[start : start + CHUNK]
        inside += int(((labels[s] == largest) & (labels[d] == largest)).sum())
    return {
        f"{key}_count": len(sizes),
        f"largest_{key}_nodes": int(sizes[largest]),
        f"largest_{key}_edges": inside,
        f"largest_{key}_fraction": int(sizes[largest]) / len(labels),
    }


def _pearson(x_of: Any, y_of: Any, m: int) -> float | None:
    """Pearson's r of x and y over m items, given as functions of a slice of item indices so
    that no array of m floats is held: two passes (means, then centred sums) in float64."""
    sx = sy = 0.0
    for start in range(0, m, CHUNK):
        part = slice(start, min(start + CHUNK, m))
        sx += float(x_of(part).sum(dtype=np.float64))
        sy += float(y_of(part).sum(dtype=np.float64))
    mx, my = sx / m, sy / m
    sxy = sxx = syy = 0.0
    for start in range(0, m, CHUNK):
        part = slice(start, min(start + CHUNK, m))
        x = x_of(part) - mx
        y = y_of(part) - my
        sxy += float(x @ y)
        sxx += float(x @ x)
        syy += float(y @ y)
    if sxx <= 0 or syy <= 0:
        return None  # a constant degree: r is undefined
    return sxy / math.sqrt(sxx * syy)


def directed_assortativity(
    el: EdgeList, out_deg: np.ndarray, in_deg: np.ndarray
) -> dict[str, float | None]:
    """Degree assortativity r(source degree, target degree) over the edges, for the four
    directed pairings (Foster et al. 2010; networkx's ``x``/``y``)."""
    kinds = {"out": out_deg.astype(np.float64), "in": in_deg.astype(np.float64)}
    result: dict[str, float | None] = {}
    for a in ("out", "in"):
        for b in ("in", "out"):
            result[f"assortativity_{a}_{b}"] = _pearson(
                lambda part, deg=kinds[a]: deg[el.src[part]],
                lambda part, deg=kinds[b]: deg[el.dst[part]],
                el.n_edges,
            )
    return result


def undirected_assortativity(a: np.ndarray, b: np.ndarray, n: int) -> float | None:
    """Degree assortativity of the undirected view, each linked pair counted in both directions
    as Newman (2002) and igraph do. Both ends then have the same mean degree, so r is
    2 sum (da - mu)(db - mu) / sum ((da - mu)^2 + (db - mu)^2) over the pairs."""
    pairs = len(a)
    if pairs == 0:
        return None
    degree = (np.bincount(a, minlength=n) + np.bincount(b, minlength=n)).astype(np.float64)
    chunks = [slice(start, start + CHUNK) for start in range(0, pairs, CHUNK)]
    mean = sum(float(degree[a[c]].sum() + degree[b[c]].sum()) for c in chunks) / (2 * pairs)
    cross = squares = 0.0
    for c in chunks:
        x = degree[a[c]] - mean
        y = degree[b[c]] - mean
        cross += float(x @ y)
        squares += float(x @ x) + float(y @ y)
    return 2 * cross / squares if squares > 0 else None


def networkit_graph(a: np.ndarray, b: np.ndarray, n: int) -> Any:
    """The undirected simple view as a NetworKit graph (built in C++ from the pair arrays:
    3.4 s for 8.5 M pairs against 7.5 s through igraph's reader)."""
    import networkit as nk

    return nk.GraphFromCoo((a, b), n=n, directed=False)


def clustering(u: Any, degree: np.ndarray) -> dict[str, Any]:
    """Average local clustering (degree < 2 counts as 0), global transitivity, triangles and
    SNAP's fraction of closed triangles, all from NetworKit's parallel local clustering: a
    node's triangles are its coefficient times its wedges."""
    import networkit as nk

    local = nk.centrality.LocalClusteringCoefficient(u, turbo=True)
    local.run()
    coefficient = np.asarray(local.scores(), dtype=np.float64)
    node_wedges = degree.astype(np.float64) * (degree - 1) / 2
    wedges = float(node_wedges.sum())  # connected triples W
    triangles = int(np.rint(coefficient * node_wedges).sum()) // 3
    transitivity = 3 * triangles / wedges if wedges else 0.0
    closed = triangles / (wedges - 2 * triangles) if wedges - 2 * triangles > 0 else 0.0
    return {
        "undirected_edges": u.numberOfEdges(),
        "average_clustering": float(coefficient.mean()),
        "global_transitivity": transitivity,
        "triangles": triangles,
        "fraction_closed_triangles": closed,
    }


def effective_diameter(hist: np.ndarray, percentile: float = 0.9) -> float:
    """SNAP's interpolated effective diameter from counts of pairs at each distance (0, 1, ...)."""
    cdf = np.cumsum(hist.astype(np.float64))
    target = percentile * cdf[-1]
    above = np.nonzero(cdf > target)[0]
    if len(above) == 0:
        return float(len(hist) - 1)
    d = int(above[0])
    if d == 0:
        return 1.0
    delta = cdf[d] - cdf[d - 1]
    return float(d) if delta == 0 else (d - 1) + (target - cdf[d - 1]) / delta


def distances(
    u: Any,
    a: np.ndarray,
    b: np.ndarray,
    weak: np.ndarray,
    *,
    seed: int,
    bfs_sources: int,
    exact_limit: int,
) -> dict[str, Any]:
    """Diameter, mean distance and 90% effective diameter on the largest WCC (undirected):
    exact over all pairs up to ``exact_limit`` nodes, else from sampled sources."""
    sizes = np.bincount(weak)
    largest = int(np.argmax(sizes))
    giant_nodes = np.nonzero(weak == largest)[0]
    k = len(giant_nodes)
    if k < 2:
        return {
            "diameter": 0,
            "mean_distance": 0.0,
            "effective_diameter_90": 0.0,
            "distance_sources": k,
        }
    if k <= exact_limit:
        hist = _all_pairs_histogram(a, b, weak == largest, giant_nodes)
        return {**_distance_figures(hist), "distance_sources": k, "distances_exact": True}
    giant_edges = int((weak[a] == largest).sum())
    budget = max(32, BFS_EDGE_BUDGET // max(giant_edges, 1))
    picks = random.Random(seed).sample(range(k), min(bfs_sources, budget, k))
    per_source = _sampled_histograms(u, giant_nodes[picks])
    return {
        **_distance_figures(per_source.sum(axis=0)),
        **_sampling_error(per_source, seed),
        "distance_sources": len(picks),
        "distances_exact": False,
    }


def _distance_figures(hist: np.ndarray) -> dict[str, Any]:
    pairs = hist[1:].sum()
    mean = float((np.arange(len(hist))[1:] * hist[1:]).sum() / pairs) if pairs else 0.0
    return {
        "diameter": len(hist) - 1,
        "mean_distance": mean,
        "effective_diameter_90": effective_diameter(hist),
    }


def _sampling_error(per_source: np.ndarray, seed: int) -> dict[str, Any]:
    """How far the sampled figures may be from the all-pairs ones. Every source reaches the
    whole component, so the mean distance is the mean of the sources' means and its standard
    error theirs; the effective diameter gets a 95% bootstrap interval over the sources; the
    diameter found is a lower bound (the farthest pair may have no sampled end)."""
    sources = len(per_source)
    steps = np.arange(per_source.shape[1])
    means = (per_source * steps).sum(axis=1) / np.maximum(per_source[:, 1:].sum(axis=1), 1)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, sources, size=(BOOTSTRAP_ROUNDS, sources))
    effective = [effective_diameter(per_source[d].sum(axis=0)) for d in draws]
    low, high = np.percentile(effective, [2.5, 97.5])
    return {
        "mean_distance_standard_error": float(means.std(ddof=1) / math.sqrt(sources))
        if sources > 1
        else None,
        "effective_diameter_90_interval": [float(low), float(high)],
        "diameter_is_lower_bound": True,
    }


def _all_pairs_histogram(
    a: np.ndarray, b: np.ndarray, inside: np.ndarray, giant_nodes: np.ndarray
) -> np.ndarray:
    """Pairs at each distance over all pairs of a small component, by igraph in C. Unordered
    pairs are counted once there, so they are doubled and the k zero-length pairs added, as
    SNAP's histogram over BFS sources counts them."""
    import igraph as ig

    keep = inside[a]
    position = np.full(len(inside), -1, dtype=np.int64)
    position[giant_nodes] = np.arange(len(giant_nodes))
    giant = ig.Graph(
        n=len(giant_nodes),
        edges=np.column_stack([position[a[keep]], position[b[keep]]]),
        directed=False,
    )
    bins = list(giant.path_length_hist(directed=False).bins())
    hist = np.zeros(int(bins[-1][0]) + 1, dtype=np.int64)
    for start, _, count in bins:
        hist[int(start)] = 2 * count
    hist[0] = len(giant_nodes)
    return hist


def _sampled_histograms(u: Any, sources: np.ndarray) -> np.ndarray:
    """Pairs at each distance (columns) from each source (rows), by NetworKit's BFS on both
    cores: its search releases the GIL, and each row lands in its source's place, so the
    order the threads finish in changes nothing."""
    import networkit as nk

    n = u.numberOfNodes()

    def from_source(source: int) -> np.ndarray:
        search = nk.distance.BFS(u, int(source), storePaths=False)
        search.run()
        found = np.asarray(search.getDistances(asarray=True))
        return np.bincount(found[found < n].astype(np.int64))

    with ThreadPoolExecutor(BFS_THREADS) as pool:
        rows = list(pool.map(from_source, sources.tolist()))
    table = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, row in enumerate(rows):
        table[i, : len(row)] = row
    return table


def community_stats(
    el: EdgeList, in_deg: np.ndarray, *, seed: int, graph: Any = None
) -> dict[str, Any]:
    """Leiden communities (modularity objective) on the undirected view: sizes, top accounts.

    Leiden rather than Louvain: it guarantees connected communities. NetworKit's
    ``ParallelLeiden`` on one thread rather than igraph's: 9 s instead of 18.5 s on 11 M edges,
    the same modularity to 1e-4 (``docs/performance.md``); one thread because on two the
    scheduling changes the communities from run to run, and a report must give the same
    figures for the same graph and seed. ``graph`` is the undirected view if already built.
    """
    import networkit as nk

    if graph is None:
        graph = networkit_graph(*undirected_pairs(el.src, el.dst, el.n_nodes), el.n_nodes)
    threads = nk.getMaxNumberOfThreads()
    nk.setNumberOfThreads(1)
    try:
        nk.engineering.setSeed(seed, False)
        leiden = nk.community.ParallelLeiden(graph)
        leiden.run()
        partition = leiden.getPartition()
        modularity = nk.community.Modularity().getQuality(partition, graph)
    finally:
        nk.setNumberOfThreads(threads)
    membership = np.asarray(partition.getVector(), dtype=np.int64)
    _, membership = np.unique(membership, return_inverse=True)  # ids 0..k-1
    sizes = np.bincount(membership)
    order = np.argsort(-sizes, kind="stable")
    largest = []
    for c in order[:5]:
        members = np.nonzero(membership == c)[0]
        top = members[np.argsort(-in_deg[members], kind="stable")[:5]]
        largest.append({"size": int(sizes[c]), "top_accounts": [el.names[i] for i in top]})
    return {
        "communities": len(sizes),
        "modularity": modularity,
        "community_sizes": sorted(sizes.tolist(), reverse=True),
        "largest_communities": largest,
    }


def _top(el: EdgeList, values: np.ndarray, k: int) -> list[dict[str, Any]]:
    idx = np.argsort(-values, kind="stable")[:k]
    return [{"account": el.names[i], "value": float(values[i])} for i in idx]
