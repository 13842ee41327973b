"""How far an initial plan can come from a small pilot: estimators of a depth-2 crawl's calls,
tried offline on the bundled graphs against the truth (issue 22, item 11: the goal is ±25%).

    python -m benchmarks.plan_pilot [--seeds 20] [--trials 30] [--sample 150] [--checks 400]
                                    [--hubs 40]

(The defaults are the sizes ``crawl/pilot.py`` uses; ``plan`` runs the ``strat`` estimator.)

For each graph and seed set it computes the real follow calls of a breadth-first crawl to
depth 2 (both directions) and three estimates from what a pilot would fetch:

- ``ht``: the seeds' lists (the depth-1 users, exactly), the lists of ``--sample`` random depth-1
  users, and for ``--checks`` of their neighbours not yet known, how many depth-1 users each is
  adjacent to; the depth-2 users are then a Horvitz-Thompson sum (each new neighbour weighted
  by 1 / its depth-1 adjacency);
- ``strat``: the same, stratified by degree from every depth-1 user's profile counts: the
  ``--hubs`` largest with certainty, the sample drawn from the rest;
- the pilot's cost in calls is printed beside them.

No emulator and no HTTP: the figures are about the estimators, not the client.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import numpy as np

import tiktok_network
from tiktok_network.emulator.graph import FollowGraph, parse_graph_spec

GRAPHS = Path(tiktok_network.__file__).parent / "data" / "graphs"


class Neighbours:
    """Undirected neighbourhoods and list costs of one graph, computed once per user."""

    def __init__(self, graph: FollowGraph) -> None:
        self.graph = graph
        self._cache: dict[int, set[int]] = {}

    def __call__(self, u: int) -> set[int]:
        found = self._cache.get(u)
        if found is None:
            g = self.graph
            found = {int(v) for v in g.following.row(u)[0]} | {
                int(v) for v in g.followers.row(u)[0]
            }
            self._cache[u] = found
        return found

    def cost(self, u: int) -> int:
        g = self.graph
        return max(1, math.ceil(g.following.degree(u) / 100)) + max(
            1, math.ceil(g.followers.degree(u) / 100)
        )


def depth2_new(
    nb: Neighbours, groups: list[tuple[list[int], float]], known: set[int], depth1: set[int],
    checks: int, rng: random.Random,
) -> tuple[float, float, int]:  # fmt: skip
    """(estimated new users at depth 2, their mean cost, calls the checks cost): each group of
    sampled depth-1 users stands for ``weight`` times as many."""
    total, weights, costs, spent = 0.0, [], [], 0
    for group, weight in groups:
        pairs = [(u, v) for u in group for v in nb(u) - known]
        if not pairs:
            continue
        checked = rng.sample(pairs, min(checks, len(pairs)))
        spent += sum(nb.cost(v) for _, v in checked)
        inverse = [1 / len(nb(v) & depth1) for _, v in checked]
        total += weight * len(pairs) * float(np.mean(inverse))
        weights += [weight * len(pairs) / len(checked) * x for x in inverse]
        costs += [nb.cost(v) for _, v in checked]
    w = np.array(weights)
    mean_cost = float((w * np.array(costs)).sum() / w.sum()) if len(w) else 2.0
    return total, mean_cost, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument(
        "--sample", type=int, default=150, help="depth-1 users whose lists are fetched"
    )
    parser.add_argument(
        "--checks", type=int, default=400, help="new neighbours whose lists are fetched"
    )
    parser.add_argument(
        "--hubs", type=int, default=40, help="largest depth-1 users taken with certainty"
    )
    args = parser.parse_args()
    graphs = {
        "wiki-vote": parse_graph_spec("wiki-vote"),
        "ego-facebook": parse_graph_spec("ego-facebook"),  # undirected: both ways
        "synthetic:10000": parse_graph_spec("synthetic:10000,seed=3"),
    }
    for name, graph in graphs.items():
        nb = Neighbours(graph)
        rows = {"ht": [], "strat": []}
        pilot_calls = []
        for trial in range(args.trials):
            rng = random.Random(trial)
            active = [u for u in range(graph.n_users) if nb(u)]
            seeds = set(rng.sample(active, args.seeds))
            depth1 = set().union(*(nb(u) for u in seeds)) - seeds
            known = seeds | depth1
            depth2 = set().union(*(nb(u) for u in depth1)) - known
            truth = sum(nb.cost(u) for u in known | depth2)
            seeds_cost = sum(nb.cost(u) for u in seeds)
            sample = rng.sample(sorted(depth1), min(args.sample, len(depth1)))
            n2, cost2, spent = depth2_new(
                nb, [(sample, len(depth1) / len(sample))], known, depth1, args.checks, rng
            )
            mean1 = float(np.mean([nb.cost(u) for u in sample]))
            estimate = seeds_cost + len(depth1) * mean1 + n2 * cost2
            rows["ht"].append((estimate - truth) / truth)
            pilot_calls.append(seeds_cost + sum(nb.cost(u) for u in sample) + spent)
            by_degree = sorted(depth1, key=lambda u: -len(nb(u)))
            hubs, rest = by_degree[: args.hubs], by_degree[args.hubs :]
            drawn = rng.sample(rest, min(args.sample, len(rest)))
            n2, cost2, _ = depth2_new(
                nb, [(hubs, 1.0), (drawn, len(rest) / max(1, len(drawn)))], known, depth1,
                args.checks, rng,
            )  # fmt: skip
            mean1 = sum(nb.cost(u) for u in depth1) / len(depth1)  # from the profile counts
            estimate = seeds_cost + len(depth1) * mean1 + n2 * cost2
            rows["strat"].append((estimate - truth) / truth)
        for kind, errors in rows.items():
            inside = sum(abs(e) <= 0.25 for e in errors)
            print(
                f"{name:<16} {kind:<5} within ±25%: {inside}/{len(errors)}, largest error"
                f" {max(errors, key=abs):+.0%}, root mean square {np.sqrt(np.mean(np.square(errors))):.0%}"
            )  # fmt: skip
        print(f"{name:<16} pilot about {np.mean(pilot_calls):,.0f} follow calls (ht)")


if __name__ == "__main__":
    main()
