"""The degree-based figures of a graph larger than memory, computed by DuckDB over Parquet.

``analyze --out-of-core`` needs no graph in memory: DuckDB turns the edge file into integer ids,
deduplicates the edges and the linked pairs, and reduces them to degree tables, spilling to
disk beyond its memory limit. What follows from degrees alone is computed exactly: counts,
density, the three degree distributions (their CCDFs and power-law fits), edge and pair
reciprocity, the five degree assortativities and the top accounts by in-degree; with a crawl,
the coverage section. What needs the graph's structure is listed as not computed
(``IN_MEMORY_ONLY``), never estimated silently. The degree arrays handed to the fits hold one
small integer per node: 4 bytes a node, not per edge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tiktok_network.analysis.edgelist import EdgeListError, sha256_of
from tiktok_network.analysis.stats import DegreeSummary

# Figures of the in-memory report that need the graph itself, in the report's words.
IN_MEMORY_ONLY = (
    "clustering and triangles",
    "weakly and strongly connected components",
    "distances (diameter, mean distance, effective diameter)",
    "PageRank",
    "communities",
)
DEFAULT_MEMORY_LIMIT = "4GB"


def summarise(
    path: str | Path,
    name: str | None = None,
    *,
    undirected: bool = False,
    core_of: str | Path | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> DegreeSummary:
    """The degree figures of the edge file ``path`` (Parquet or CSV with a header: its first
    two columns). ``core_of``: a nodes.parquet whose ``status`` 1 (lists fetched) rows are the
    only accounts kept, as the in-memory report's crawled core."""
    from tiktok_network.store.columnar import ColumnarError, degree_tables

    path = Path(path)
    try:
        tables = degree_tables(
            path, undirected=undirected, core_of=core_of, memory_limit=memory_limit
        )
    except ColumnarError as exc:
        raise EdgeListError(str(exc)) from None
    n, m = tables.nodes, tables.edges
    stats: dict[str, Any] = {
        "name": name or path.stem,
        "nodes": n,
        "edges": m,
        "duplicate_edges_removed": tables.rows - tables.self_loops - m,
        "self_loops_removed": tables.self_loops,
        "input_checksum": sha256_of(path),
        "out_of_core": True,
        "not_computed": list(IN_MEMORY_ONLY),
    }
    if n == 0 or m == 0:
        stats["empty"] = True
        empty = np.zeros(0, dtype=np.int64)
        return DegreeSummary(stats, empty, empty, empty)
    in_deg, out_deg, und = (
        _degrees(tables.histograms[kind], n) for kind in ("in", "out", "undirected")
    )
    mutual = m - tables.linked_pairs
    stats.update(
        density=m / (n * (n - 1)) if n > 1 else 0.0,
        mean_degree=m / n,
        max_out_degree=int(out_deg.max()),
        max_in_degree=int(in_deg.max()),
        edge_reciprocity=2 * mutual / m,
        pair_reciprocity=mutual / tables.linked_pairs if tables.linked_pairs else 0.0,
        undirected_edges=tables.linked_pairs,
        **tables.assortativity,
        top_in_degree=[{"account": label, "value": float(k)} for label, k in tables.top_in_degree],
    )
    return DegreeSummary(stats, in_deg, out_deg, und)


def _degrees(histogram: list[tuple[int, int]], n: int) -> np.ndarray:
    """One degree per node (zeros included) from a histogram: sorted, which the fits and
    CCDFs do not mind (they are functions of the multiset)."""
    values = np.array([k for k, _ in histogram], dtype=np.int64)
    counts = np.array([c for _, c in histogram], dtype=np.int64)
    zeros = n - int(counts.sum())
    return np.concatenate([np.zeros(zeros, dtype=np.int64), np.repeat(values, counts)])
