"""Power-law fits of degree distributions (Clauset, Shalizi & Newman, via ``powerlaw``).

Every fit reports alpha, xmin, the tail size and the KS distance, and the likelihood-ratio
tests against a lognormal and a truncated power law with their p-values, because an exponent
alone says nothing about whether a power law fits. The xmin search costs about (unique values)
x n, so large sequences are fitted on a seeded subsample and the xmin search is bounded.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

MAX_SAMPLE = 50_000
MAX_XMIN_CANDIDATES = 200


def fit_degrees(degrees: np.ndarray, *, seed: int = 0, compare: bool = True) -> dict[str, Any]:
    """The fit of ``degrees``; ``compare=False`` leaves out the likelihood-ratio tests (the
    truncated power law's discrete normaliser is most of a fit's time: seconds per fit)."""
    import powerlaw

    data = degrees[degrees > 0]
    result: dict[str, Any] = {"n": int(len(data))}
    if len(data) < 50 or len(np.unique(data)) < 5:
        result["skipped"] = "too few distinct positive degrees to fit"
        return result
    if len(data) > MAX_SAMPLE:
        data = np.random.default_rng(seed).choice(data, MAX_SAMPLE, replace=False)
        result["subsample"] = MAX_SAMPLE
    values = np.unique(data)
    xmin_range = (float(values[0]), float(values[min(len(values) - 2, MAX_XMIN_CANDIDATES)]))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(data, discrete=True, xmin=xmin_range, verbose=False)
        result.update(
            alpha=float(fit.power_law.alpha),
            xmin=float(fit.power_law.xmin),
            tail_size=int((data >= fit.power_law.xmin).sum()),
            ks_distance=float(fit.power_law.D),
        )
        if not compare:
            result["verdict"] = "not compared with other distributions"
            return result
        r_ln, p_ln = fit.distribution_compare("power_law", "lognormal", normalized_ratio=True)
        r_tp, p_tp = fit.distribution_compare("power_law", "truncated_power_law", nested=True)
    result.update(
        vs_lognormal={"loglikelihood_ratio": float(r_ln), "p": float(p_ln)},
        vs_truncated_power_law={"loglikelihood_ratio": float(r_tp), "p": float(p_tp)},
        verdict=_verdict(float(r_ln), float(p_ln), float(r_tp), float(p_tp)),
    )
    return result


def _verdict(r_ln: float, p_ln: float, r_tp: float, p_tp: float) -> str:
    """Plain words for the likelihood-ratio tests (R > 0 favours the power law)."""
    if p_ln < 0.1 and r_ln < 0:
        return "lognormal fits better than a power law"
    if p_tp < 0.1 and r_tp < 0:
        return "a truncated power law fits better than a pure power law"
    if p_ln < 0.1 and r_ln > 0:
        return "power law favoured over lognormal"
    return "power law and the alternatives cannot be told apart"


def ccdf(degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(K >= k) for each distinct positive degree k."""
    data = np.sort(degrees[degrees > 0])
    if len(data) == 0:
        return np.zeros(0), np.zeros(0)
    values, first = np.unique(data, return_index=True)
    return values, 1.0 - first / len(data)
