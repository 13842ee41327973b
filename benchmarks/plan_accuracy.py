"""How close `plan` comes: against the calls the crawl then really makes.

    python -m benchmarks.plan_accuracy [--graph wiki-vote] [--seeds 30 25 28] [--depth 1]
                                       [--ahead 1] [--direction both]
    python -m benchmarks.plan_accuracy --initial [--graph ego-facebook] [--random-seeds 20]
                                       [--trials 5] [--ahead 2]

Default: crawl a bundled graph to depth ``--depth``, plan ``--ahead`` depths more, crawl them,
compare. ``--initial``: plan a new crawl (its pilot runs), then crawl it to ``--ahead``,
and compare the plan's calls (the pilot's included) with every call the emulator logged;
``--random-seeds N --trials T`` repeats that for T sets of N seeds drawn from the graph's
active users. Prints per bucket the planned calls, the range and the real calls.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from tiktok_network.emulator.graph import parse_graph_spec
from tiktok_network.emulator.process import emulator_process

CLI = [sys.executable, "-m", "tiktok_network.cli"]
QUOTAS = ["--follow-quota", "100000000", "--info-quota", "1000000"]


def calls(log: Path) -> dict[str, int]:
    counts = {"following": 0, "followers": 0, "info": 0}
    if log.exists():
        for line in log.read_text().splitlines():
            endpoint = json.loads(line)["endpoint"]
            if endpoint in counts:
                counts[endpoint] += 1
    return counts


def random_seeds(graph: str, n: int, trial: int) -> list[str]:
    """``n`` users drawn from those with a neighbour (the same draw for the same trial)."""
    g = parse_graph_spec(graph)
    active = [i for i in range(g.n_users) if g.following.degree(i) or g.followers.degree(i)]
    return [g.usernames[i] for i in random.Random(trial).sample(active, n)]


def one(args: argparse.Namespace, seeds: list[str], root: Path) -> list[tuple[str, dict, int]]:
    log = root / "requests.jsonl"
    env = dict(os.environ, TIKTOK_CLIENT_KEY="demo-key", TIKTOK_CLIENT_SECRET="demo-secret")
    with emulator_process("--graph", args.graph, *QUOTAS, request_log=log) as emu:
        common = [
            "--api-base", emu.url, "--db", str(root / "c.db"), "--direction", args.direction,
            "--quota-ledger", str(root / "ledger.db"), *QUOTAS, "--quiet",
        ] + (["--info"] if args.info else [])  # fmt: skip
        crawl = [*CLI, "crawl", *common, "--no-export"]
        if args.initial:
            target = str(args.ahead)
            plan = [*CLI, "plan", *seeds, *common, "--max-depth", target, "--json"]
        else:
            subprocess.run([*crawl, *seeds, "--max-depth", str(args.depth)], env=env, check=True)
            target = str(args.depth + args.ahead)
            plan = [*CLI, "plan", *common, "--max-depth", target, "--json"]
        before = calls(log) if not args.initial else dict.fromkeys(calls(log), 0)
        planned = json.loads(
            subprocess.run(plan, env=env, check=True, capture_output=True, text=True).stdout
        )
        if not args.initial:
            before = calls(log)
        subprocess.run(
            [*crawl, *(seeds if args.initial else []), "--max-depth", target], env=env, check=True
        )
        after = calls(log)
    return [(b, planned, after[b] - before[b]) for b in ("following", "followers", "info")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="wiki-vote")
    parser.add_argument("--seeds", nargs="+", default=["30", "25", "28"])
    parser.add_argument("--random-seeds", type=int, default=0, help="draw this many seeds")
    parser.add_argument("--trials", type=int, default=1, help="seed sets drawn")
    parser.add_argument("--depth", type=int, default=1, help="depth crawled before the plan")
    parser.add_argument("--direction", default="both")
    parser.add_argument("--info", action="store_true", help="crawl with --info")
    parser.add_argument("--ahead", type=int, default=1, help="depths planned beyond --depth")
    parser.add_argument("--initial", action="store_true", help="plan a new crawl (pilot)")
    args = parser.parse_args()
    inside_25 = contained = total = 0
    for trial in range(args.trials):
        seeds = (
            random_seeds(args.graph, args.random_seeds, trial) if args.random_seeds else args.seeds
        )
        with tempfile.TemporaryDirectory() as tmp:
            rows = one(args, seeds, Path(tmp))
        what = f"plan of a new crawl to depth {args.ahead}" if args.initial else (
            f"depth {args.depth} crawled, plan for depth {args.depth + args.ahead}"
        )  # fmt: skip
        shown = " ".join(seeds) if len(seeds) <= 5 else f"{len(seeds)} seeds (trial {trial})"
        print(f"{args.graph}, {shown}, {args.direction}: {what}")
        follow_planned = follow_real = 0
        for bucket, planned, real in rows:
            low, high = planned["calls_low"][bucket], planned["calls_high"][bucket]
            holds = real >= low if high is None else low <= real <= high
            inside = "inside" if holds else "OUTSIDE"
            error = (planned["calls"][bucket] - real) / real if real else 0.0
            if bucket != "info" and (real or planned["calls"][bucket]):  # a crawled direction
                follow_planned += planned["calls"][bucket]
                follow_real += real
                total += 1
                contained += inside == "inside"
                inside_25 += abs(error) <= 0.25
            print(
                f"  {bucket:<10} planned {planned['calls'][bucket]:>7,} (range {low:,} to "
                f"{high if high is None else format(high, ','):}) real {real:>7,}  {error:+.0%}"
                f"  {inside}"
            )
        if follow_real:
            print(f"  lists      {(follow_planned - follow_real) / follow_real:+.0%} in all")
    print(
        f"list buckets within ±25%: {inside_25}/{total}; range holds the truth: {contained}/{total}"
    )


if __name__ == "__main__":
    main()
