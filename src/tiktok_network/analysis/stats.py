"""Network statistics, each under the name and definition papers use.

Quantities that papers define differently are reported separately and named: edge vs pair
reciprocity, average local clustering (SNAP's: nodes of degree < 2 count as 0) vs global
transitivity vs SNAP's "fraction of closed triangles". Clustering, triangles and distances are
computed on the undirected simple view, as SNAP does. igraph does the graph work; numpy the
degree arrays.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
from typing import Any

import igraph as ig
import numpy as np

from tiktok_network.analysis.arrays import undirected_pairs
from tiktok_network.analysis.edgelist import EdgeList

EXACT_DISTANCE_LIMIT = 10_000  # nodes in the largest WCC up to which all-pairs BFS is exact
BFS_SOURCES = 1_000
BFS_EDGE_BUDGET = 250_000_000  # sampled BFS sources x edges: bounded time on large graphs


def build_graph(el: EdgeList) -> ig.Graph:
    return igraph_of(el.src, el.dst, el.n_nodes, directed=True)


def igraph_of(src: np.ndarray, dst: np.ndarray, n: int, *, directed: bool) -> ig.Graph:
    """An igraph graph of ``n`` nodes and the edges ``src[i] -> dst[i]``, through a text file
    igraph's C reader parses. Its Python constructor takes numpy arrays through the sequence
    protocol: 8.3 s and 1.55 GB of transient memory for 11 M edges (about 140 bytes an edge,
    20 GB at 100 M), against 7.5 s and none this way (``docs/performance.md``)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with tempfile.TemporaryDirectory(prefix="tiktok-network-") as tmp:
        path = os.path.join(tmp, "edges.txt")
        pacsv.write_csv(
            pa.table({"s": src, "d": dst}),
            path,
            pacsv.WriteOptions(include_header=False, delimiter=" "),
        )
        g = ig.Graph.Read_Edgelist(path, directed=directed)
    if g.vcount() < n:  # nodes after the last one an edge names
        g.add_vertices(n - g.vcount())
    return g


def network_stats(
    el: EdgeList,
    *,
    seed: int = 0,
    bfs_sources: int = BFS_SOURCES,
    exact_limit: int = EXACT_DISTANCE_LIMIT,
    communities: bool = True,
) -> dict[str, Any]:
    """Every figure of the report for one network (degree fits are in ``fits.py``)."""
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
        return stats
    out_deg = np.bincount(el.src, minlength=n)
    in_deg = np.bincount(el.dst, minlength=n)
    stats.update(
        density=m / (n * (n - 1)) if n > 1 else 0.0,
        mean_degree=m / n,
        max_out_degree=int(out_deg.max()),
        max_in_degree=int(in_deg.max()),
    )
    # One graph in memory at a time (each is about 50 bytes an edge in igraph): the directed
    # figures, then the undirected ones, then the communities; at 100 M edges the two views
    # side by side did not fit in 23 GB.
    g = build_graph(el)
    stats.update(reciprocity(g))
    stats.update(components(g, el))
    stats.update(directed_assortativity(g, out_deg, in_deg))
    stats["top_pagerank"] = _top(el, np.array(g.pagerank(directed=True)), 10)
    del g
    a, b = undirected_pairs(el.src, el.dst, n)
    u = igraph_of(a, b, n, directed=False)
    del a, b
    stats.update(clustering(u))
    stats.update(distances(u, seed=seed, bfs_sources=bfs_sources, exact_limit=exact_limit))
    value = u.assortativity_degree(directed=False)
    stats["assortativity_undirected"] = None if value is None or math.isnan(value) else value
    del u
    stats["top_in_degree"] = _top(el, in_deg.astype(float), 10)
    if communities:
        stats.update(community_stats(el, in_deg, seed=seed))
    return stats


def reciprocity(g: ig.Graph) -> dict[str, float]:
    edge = g.reciprocity(ignore_loops=True, mode="default")
    return {"edge_reciprocity": edge, "pair_reciprocity": edge / (2 - edge) if edge < 2 else 0.0}


def clustering(u: ig.Graph) -> dict[str, Any]:
    degrees = np.array(u.degree(), dtype=np.float64)
    wedges = float((degrees * (degrees - 1) / 2).sum())  # connected triples W
    transitivity = u.transitivity_undirected() if wedges else 0.0
    triangles = round(transitivity * wedges / 3) if wedges else 0
    closed = triangles / (wedges - 2 * triangles) if wedges - 2 * triangles > 0 else 0.0
    return {
        "undirected_edges": u.ecount(),
        "average_clustering": u.transitivity_avglocal_undirected(mode="zero"),
        "global_transitivity": transitivity,
        "triangles": triangles,
        "fraction_closed_triangles": closed,
    }


def components(g: ig.Graph, el: EdgeList) -> dict[str, Any]:
    """Count and size of weak and strong components; the largest one's edges counted with numpy
    instead of building it as a subgraph (seconds saved on large graphs)."""
    out: dict[str, Any] = {}
    for mode, key in (("weak", "wcc"), ("strong", "scc")):
        membership = np.array(g.connected_components(mode=mode).membership)
        sizes = np.bincount(membership)
        largest = int(np.argmax(sizes))
        inside = (membership[el.src] == largest) & (membership[el.dst] == largest)
        out[f"{key}_count"] = len(sizes)
        out[f"largest_{key}_nodes"] = int(sizes[largest])
        out[f"largest_{key}_edges"] = int(inside.sum())
        out[f"largest_{key}_fraction"] = int(sizes[largest]) / g.vcount()
    return out


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


def distances(u: ig.Graph, *, seed: int, bfs_sources: int, exact_limit: int) -> dict[str, Any]:
    """Diameter, mean distance and 90% effective diameter on the largest WCC (undirected)."""
    parts = u.connected_components()
    # the largest component as its own graph, unless it is the whole graph (a copy saved)
    giant = u if len(parts) == 1 else parts.giant()
    del parts
    k = giant.vcount()
    if k < 2:
        return {
            "diameter": 0,
            "mean_distance": 0.0,
            "effective_diameter_90": 0.0,
            "distance_sources": k,
        }
    if k <= exact_limit:
        # All pairs in C; unordered pairs counted once, so double them and add the k
        # zero-length pairs, as SNAP's histogram over BFS sources counts them.
        bins = list(giant.path_length_hist(directed=False).bins())
        hist = np.zeros(int(bins[-1][0]) + 1, dtype=np.int64)
        for start, _, count in bins:
            hist[int(start)] = 2 * count
        hist[0] = k
        sources_used = k
        exact = True
    else:
        budget = max(32, BFS_EDGE_BUDGET // max(giant.ecount(), 1))
        sources = random.Random(seed).sample(range(k), min(bfs_sources, budget, k))
        hist = np.zeros(1, dtype=np.int64)
        for start in range(0, len(sources), 16):
            block = np.array(giant.distances(source=sources[start : start + 16]), dtype=np.float64)
            counts = np.bincount(block[np.isfinite(block)].astype(np.int64))
            if len(counts) > len(hist):
                hist = np.pad(hist, (0, len(counts) - len(hist)))
            hist[: len(counts)] += counts
        sources_used = len(sources)
        exact = False
    pairs = hist[1:].sum()
    mean = float((np.arange(len(hist))[1:] * hist[1:]).sum() / pairs) if pairs else 0.0
    return {
        "diameter": len(hist) - 1,
        "mean_distance": mean,
        "effective_diameter_90": effective_diameter(hist),
        "distance_sources": sources_used,
        "distances_exact": exact,
    }


def directed_assortativity(
    g: ig.Graph, out_deg: np.ndarray, in_deg: np.ndarray
) -> dict[str, float | None]:
    """Degree assortativity r(source degree, target degree) for the four directed pairings
    (the undirected one is computed on the undirected view, ``network_stats``)."""
    result: dict[str, float | None] = {}
    kinds = {"out": out_deg.tolist(), "in": in_deg.tolist()}
    for a in ("out", "in"):
        for b in ("in", "out"):
            value = g.assortativity(types1=kinds[a], types2=kinds[b], directed=True)
            result[f"assortativity_{a}_{b}"] = None if value is None or math.isnan(value) else value
    return result


def community_stats(el: EdgeList, in_deg: np.ndarray, *, seed: int) -> dict[str, Any]:
    """Leiden communities (modularity objective) on the undirected view: sizes, top accounts.

    Leiden rather than Louvain: it guarantees connected communities. NetworKit's
    ``ParallelLeiden`` on one thread rather than igraph's: 9 s instead of 18.5 s on 11 M edges,
    the same modularity to 1e-4 (``docs/performance.md``); one thread because on two the
    scheduling changes the communities from run to run, and a report must give the same
    figures for the same graph and seed.
    """
    import networkit as nk

    a, b = undirected_pairs(el.src, el.dst, el.n_nodes)
    g = nk.GraphFromCoo(
        (np.ones(len(a)), (a.astype(np.uint64), b.astype(np.uint64))),
        n=el.n_nodes,
        directed=False,
        weighted=False,
    )
    threads = nk.getMaxNumberOfThreads()
    nk.setNumberOfThreads(1)
    try:
        nk.engineering.setSeed(seed, False)
        leiden = nk.community.ParallelLeiden(g)
        leiden.run()
        partition = leiden.getPartition()
        modularity = nk.community.Modularity().getQuality(partition, g)
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
