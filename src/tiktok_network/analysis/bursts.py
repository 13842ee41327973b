"""Bursts in a hashtag's use: Kleinberg's two-state automaton over batched counts.

Kleinberg (2002), "Bursty and hierarchical structure in streams" (KDD; Data Mining and
Knowledge Discovery 7, 2003), section 4, the enumerating model for documents that arrive in
batches: in week ``t`` a niche posted ``d_t`` videos, ``r_t`` of them with the tag. A hidden
state emits each video's "has the tag" with probability ``p0 = R / D`` (the tag's rate over the
whole period) in the base state and ``p1 = s * p0`` in the burst state; entering the burst state
costs ``gamma * ln(n)`` (``n`` weeks), leaving it is free; the cheapest state sequence (Viterbi)
marks the bursts. ``s = 2`` and ``gamma = 1`` are Kleinberg's defaults. A single library for this
exists (``burst_detection`` on PyPI, last released 2018, pinned to old pandas); the model fits
in a page, so it is written here and tested on planted bursts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Burst:
    """Bins ``start`` .. ``end`` (inclusive) in the burst state; ``weight``: how much cheaper
    the burst state made them (Kleinberg's weight of a burst), the order to list them in."""

    start: int
    end: int
    weight: float


def _cost(p: float, r: int, d: int) -> float:
    """-ln of the binomial probability of ``r`` of ``d`` at rate ``p`` (the binomial
    coefficient is the same in both states and left out)."""
    if d == 0:
        return 0.0
    p = min(max(p, 1e-12), 1 - 1e-12)
    return -(r * math.log(p) + (d - r) * math.log(1 - p))


def bursts(
    hits: Sequence[int], totals: Sequence[int], *, s: float = 2.0, gamma: float = 1.0
) -> list[Burst]:
    """The bursts of one tag: ``hits[t]`` of ``totals[t]`` items in bin ``t`` carry it."""
    n = len(totals)
    if n == 0 or len(hits) != n:
        return []
    big_r, big_d = sum(hits), sum(totals)
    if big_r == 0 or big_d == 0:
        return []
    p = (big_r / big_d, min(s * big_r / big_d, 0.9999))
    up = gamma * math.log(n) if n > 1 else gamma
    # Viterbi over two states: cost[i] of the best path ending in state i, with back-pointers.
    cost = [_cost(p[0], hits[0], totals[0]), up + _cost(p[1], hits[0], totals[0])]
    back: list[tuple[int, int]] = []
    for t in range(1, n):
        stay0, from1 = cost[0], cost[1]  # down is free
        to1_from0, stay1 = cost[0] + up, cost[1]
        b0 = 0 if stay0 <= from1 else 1
        b1 = 1 if stay1 <= to1_from0 else 0
        cost = [
            min(stay0, from1) + _cost(p[0], hits[t], totals[t]),
            min(stay1, to1_from0) + _cost(p[1], hits[t], totals[t]),
        ]
        back.append((b0, b1))
    state = 0 if cost[0] <= cost[1] else 1
    states = [state]
    for b in reversed(back):
        state = b[state]
        states.append(state)
    states.reverse()
    found: list[Burst] = []
    t = 0
    while t < n:
        if states[t] != 1:
            t += 1
            continue
        start = t
        while t < n and states[t] == 1:
            t += 1
        weight = sum(
            _cost(p[0], hits[u], totals[u]) - _cost(p[1], hits[u], totals[u])
            for u in range(start, t)
        )
        found.append(Burst(start, t - 1, weight))
    return sorted(found, key=lambda b: -b.weight)
