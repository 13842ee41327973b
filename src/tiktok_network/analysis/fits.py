"""Power-law fits of degree distributions (Clauset, Shalizi & Newman, via ``powerlaw``).

Every fit reports alpha, xmin, the tail size and the KS distance, and the likelihood-ratio
tests against a lognormal and a truncated power law with their p-values, because an exponent
alone says nothing about whether a power law fits. The xmin search costs about (unique values)
x n, so large sequences are fitted on a seeded subsample and the xmin search is bounded.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np

MAX_SAMPLE = 50_000
MAX_XMIN_CANDIDATES = 200
LERCH_HEAD = 2_000  # terms summed before the Euler-Maclaurin tail


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
        # This fit's truncated power law sums its discrete normaliser instead of asking
        # mpmath's lerchphi (50 times slower: most of an analysis's time); nothing global.
        fit.supported_distributions = {
            **fit.supported_distributions,
            "truncated_power_law": _truncated_power_law(),
        }
        result.update(
            alpha=float(fit.power_law.alpha),
            alpha_standard_error=float(fit.power_law.sigma),
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


@functools.cache
def _truncated_power_law() -> type:
    """powerlaw's truncated power law with a fast discrete normaliser (same value to ~1e-8)."""
    import powerlaw

    class TruncatedPowerLaw(powerlaw.Truncated_Power_Law):  # type: ignore[misc, name-defined]
        @property
        def _pdf_discrete_normalizer(self) -> float:
            if self.xmax or not self.Lambda > 0:
                return super()._pdf_discrete_normalizer  # type: ignore[no-any-return]
            phi = lerch_sum(float(self.Lambda), float(self.alpha), float(self.xmin))
            return math.exp(self.xmin * self.Lambda) / phi

    return TruncatedPowerLaw


def lerch_sum(lam: float, alpha: float, a: float) -> float:
    """Lerch's transcendent Phi(e^-lam, alpha, a) = sum over n >= 0 of e^(-lam n) (n + a)^-alpha:
    the first terms summed, the rest by Euler-Maclaurin (integral, half the first term and its
    derivative's correction; the integral an upper incomplete gamma function)."""
    import mpmath

    head = int(min(LERCH_HEAD, math.ceil(40.0 / lam)))
    n = np.arange(head, dtype=float)
    total = float(np.sum(np.exp(-lam * n) * (n + a) ** -alpha))
    if lam * head >= 40.0:  # the rest is below e^-40 of the first term
        return total
    first = math.exp(-lam * head) * (head + a) ** -alpha
    slope = -first * (lam + alpha / (head + a))
    integral = mpmath.exp(lam * a) * mpmath.power(lam, alpha - 1)
    integral *= mpmath.gammainc(1 - alpha, lam * (head + a))
    return total + float(integral) + first / 2 - slope / 12


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
