"""Backbones of a weighted undirected network: the edges that carry more than chance.

Two filters, each scoring every edge once and then kept at several thresholds (the retention
curves the original crawler plotted: what each threshold keeps of the nodes, the edges and
the largest component):

- **Disparity filter** (Serrano, Boguñá & Vespignani 2009, PNAS 106(16), eq. 2): at a node of
  degree ``k > 1`` and strength ``s``, an edge of weight ``w`` has the p-value
  ``alpha = (1 - w/s) ** (k - 1)`` under the null of strength spread uniformly over its
  edges; an edge is kept when either end finds it significant (``alpha < threshold``).
- **Noise-corrected backbone** (Coscia & Neffke 2017, ICDE, eq. 1-8): the weight ``N_ij`` is
  compared with its expectation ``N_i. N_.j / N..`` under a binomial null; the lift is
  rescaled to ``(kappa N_ij - 1) / (kappa N_ij + 1)`` with ``kappa = N.. / (N_i. N_.j)``, and a
  Bayesian (beta prior) estimate of its standard deviation by the delta method. An edge is kept
  when its score exceeds ``delta`` standard deviations (``delta`` 1.28, 1.64, 2.32: one-tailed
  p of 0.1, 0.05, 0.01). An undirected network is read as its symmetric matrix:
  ``N.. = 2 W`` and ``N_i.`` the strength of ``i``.

``netbone`` implements both, but pins exact old versions of igraph, numpy, networkx and jax that
cannot live beside this project's; the formulas are short, written here from the papers and
tested on hand-worked examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DISPARITY_ALPHAS = (0.2, 0.1, 0.05, 0.01, 0.001)
NC_DELTAS = (0.0, 1.28, 1.64, 2.32, 3.09)


@dataclass(frozen=True)
class Retention:
    """What one threshold of one filter keeps."""

    method: str
    threshold: float
    nodes: int  # nodes with at least one edge kept
    edges: int
    largest_component: int  # nodes in the largest connected component of what is kept


def disparity_alpha(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """The disparity filter's p-value of each edge: the smaller of its two ends' (an end of
    degree 1 gives 1: the filter cannot judge its only edge)."""
    w = w.astype(float)
    strength = np.bincount(u, weights=w, minlength=n) + np.bincount(v, weights=w, minlength=n)
    degree = np.bincount(u, minlength=n) + np.bincount(v, minlength=n)

    def at(end: np.ndarray) -> np.ndarray:
        k = degree[end]
        p = w / strength[end]
        return np.where(k > 1, (1.0 - p) ** (k - 1), 1.0)

    return np.minimum(at(u), at(v))


def noise_corrected(
    u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coscia & Neffke's score and its standard deviation for each edge."""
    nij = w.astype(float)
    strength = np.bincount(u, weights=nij, minlength=n) + np.bincount(v, weights=nij, minlength=n)
    total = 2.0 * nij.sum()  # the symmetric matrix's sum
    ni, nj = strength[u], strength[v]
    kappa = total / (ni * nj)
    score = (kappa * nij - 1.0) / (kappa * nij + 1.0)
    prior_mean = ni * nj / total / total
    prior_var = (ni * nj * (total - ni) * (total - nj)) / (total**2 * total**2 * (total - 1.0))
    alpha_prior = (prior_mean**2 / prior_var) * (1.0 - prior_mean) - prior_mean
    beta_prior = (prior_mean / prior_var) * (1.0 - prior_mean**2) - (1.0 - prior_mean)
    alpha_post = alpha_prior + nij
    beta_post = total - nij + beta_prior
    expected = alpha_post / (alpha_post + beta_post)
    var_nij = expected * (1.0 - expected) * total
    d = 1.0 / (ni * nj) - total * ((ni + nj) / (ni * nj) ** 2)
    var_score = var_nij * ((2.0 * (kappa + nij * d)) / ((kappa * nij + 1.0) ** 2)) ** 2
    return score, np.sqrt(var_score)


def kept_nc(score: np.ndarray, sdev: np.ndarray, delta: float) -> np.ndarray:
    return score > delta * sdev


def retention(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> list[Retention]:
    """Both filters at each of their thresholds."""
    alpha = disparity_alpha(u, v, w, n)
    score, sdev = noise_corrected(u, v, w, n)
    rows = [_kept("disparity", a, alpha < a, u, v, n) for a in DISPARITY_ALPHAS]
    rows += [_kept("noise-corrected", d, kept_nc(score, sdev, d), u, v, n) for d in NC_DELTAS]
    return rows


def _kept(
    method: str, threshold: float, keep: np.ndarray, u: np.ndarray, v: np.ndarray, n: int
) -> Retention:
    import igraph as ig

    ku, kv = u[keep], v[keep]
    nodes = np.unique(np.concatenate([ku, kv])) if keep.any() else np.zeros(0, dtype=np.int64)
    largest = 0
    if len(nodes):
        g = ig.Graph(n=n, edges=np.column_stack([ku, kv]).tolist())
        largest = max(g.connected_components().sizes())
    return Retention(method, threshold, int(len(nodes)), int(keep.sum()), int(largest))
