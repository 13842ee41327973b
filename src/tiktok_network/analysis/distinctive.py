"""What is distinctive of each group (a niche, a PageRank quartile): its hashtags, ranked.

Two scores, side by side:

- **TF-IDF across groups**, as the original crawler's ``hashtag_analysis.py`` ranked each
  community's hashtags: a group is one document; a tag's frequency in the group times
  ``log(groups / groups using the tag)``. A tag every group uses (#fyp) scores 0, but so does
  a niche's own tag once one member of any other group uses it, and a tag seen once in a small
  group can outrank the group's real vocabulary: a heuristic without a notion of noise.
- **Weighted log-odds with an informative Dirichlet prior** (Monroe, Colaresi & Quinn 2008,
  "Fightin' Words", Political Analysis 16(4), eq. 22 and 24): for group ``i`` against the rest,
  ``delta = log((y_i + a) / (n_i + a0 - y_i - a)) - log((y_r + a) / (n_r + a0 - y_r - a))``,
  where ``a`` is the prior count of the tag (``a0`` times its share in the whole corpus) and
  ``a0`` the prior's total; its variance is about ``1/(y_i + a) + 1/(y_r + a)`` and the score is
  the z-score ``delta / sqrt(var)``. The prior shrinks rare tags towards the corpus rate, so a
  tag seen twice does not lead, and a tag used everywhere at its usual rate scores about 0: the
  generic tags never label a niche. ``|z| > 1.96`` is the usual reading of "distinctive".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PRIOR = 0.0  # a0 = 0 means: the corpus's own size (the prior counts as much as the data)
SIGNIFICANT = 1.96  # a z-score above this: over-represented at the 5% level (two-sided)


@dataclass(frozen=True)
class Scored:
    """One tag of one group: its count there, and its two scores."""

    tag: str
    count: int
    tfidf: float
    z: float  # weighted log-odds z-score against the other groups
    delta: float  # the log-odds ratio itself


def tfidf(groups: Mapping[str, Counter[str]]) -> dict[str, dict[str, float]]:
    """TF-IDF of each tag in each group, a group being one document (term frequency: the
    tag's share of the group's tags)."""
    documents = len(groups)
    using: Counter[str] = Counter()
    for counts in groups.values():
        using.update(tag for tag, n in counts.items() if n > 0)
    out: dict[str, dict[str, float]] = {}
    for group, counts in groups.items():
        total = sum(counts.values())
        out[group] = {
            tag: (n / total) * math.log(documents / using[tag])
            for tag, n in counts.items()
            if n > 0 and total > 0
        }
    return out


def log_odds(
    groups: Mapping[str, Counter[str]], prior: float = DEFAULT_PRIOR
) -> dict[str, dict[str, tuple[float, float]]]:
    """``(delta, z)`` of each tag a group uses, that group against all the others together,
    under an informative Dirichlet prior whose total is ``prior`` (0: the corpus's size)."""
    corpus: Counter[str] = Counter()
    for counts in groups.values():
        corpus.update(counts)
    total = sum(corpus.values())
    if total == 0:
        return {group: {} for group in groups}
    a0 = prior if prior > 0 else float(total)
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for group, counts in groups.items():
        n_i = sum(counts.values())
        n_r = total - n_i
        scores: dict[str, tuple[float, float]] = {}
        for tag, y_i in counts.items():
            if y_i <= 0:
                continue
            a = a0 * corpus[tag] / total
            y_r = corpus[tag] - y_i
            delta = math.log((y_i + a) / (n_i + a0 - y_i - a)) - math.log(
                (y_r + a) / (n_r + a0 - y_r - a)
            )
            variance = 1.0 / (y_i + a) + 1.0 / (y_r + a)
            scores[tag] = (delta, delta / math.sqrt(variance))
        out[group] = scores
    return out


def distinctive(
    groups: Mapping[str, Counter[str]],
    top: int = 10,
    prior: float = DEFAULT_PRIOR,
    min_z: float = SIGNIFICANT,
) -> dict[str, list[Scored]]:
    """Each group's tags, most distinctive first (by the log-odds z-score, then count), at most
    ``top`` of them, and only those over-represented in the group (z above ``min_z``): a
    generic tag, used at about its corpus rate everywhere, labels no group."""
    weights = tfidf(groups)
    odds = log_odds(groups, prior)
    ranked: dict[str, list[Scored]] = {}
    for group, counts in groups.items():
        rows = [
            Scored(tag, counts[tag], weights[group].get(tag, 0.0), z, delta)
            for tag, (delta, z) in odds[group].items()
            if z > min_z
        ]
        rows.sort(key=lambda r: (-r.z, -r.count, r.tag))
        ranked[group] = rows[:top]
    return ranked
