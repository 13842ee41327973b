"""How close each sampling design gets to the truth, on graphs whose truth is known.

For each ground-truth graph served by the emulator (the repository's SNAP graphs and a large
synthetic one with a heavy tail), each budget (a share of the pages a full crawl of the graph
in both directions needs) and each design, ``--runs`` seeded samples are drawn through the
emulator over HTTP, each from 10 seeds drawn uniformly from the graph's largest component, and
``analysis/estimators.py`` estimates the degree distribution and the mean degree (degree: the
distinct accounts a user follows or is followed by). Printed: per graph, budget and design,
the KS distance of the estimated degree distribution to the true one and the relative error
of the mean-degree estimate (mean and standard deviation over the runs), and for walks how
often the stated 95% interval held the truth. ``--write-docs`` puts the tables into
docs/sampling.md (between its benchmark markers) and the plot into docs/figures/sampling.png.

    .venv/bin/python -m benchmarks.sampling [--runs 10] [--write-docs]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import tiktok_network
from benchmarks.common import emulator, machine
from tiktok_network.analysis.estimators import estimate, ks_distance, population, sample_of
from tiktok_network.emulator.graph import FollowGraph, parse_graph_spec

GRAPHS = ("ego-facebook", "wiki-vote", "synthetic:10000,seed=3")
BUDGETS = (1, 5, 10)  # percent of the pages a full crawl needs
DESIGNS = ("bfs", "snowball", "forest-fire", "rw", "rwrw", "mhrw", "nbrw")
SEEDS_PER_RUN = 10
DOCS = Path(__file__).resolve().parent.parent / "docs"
BEGIN, END = "<!-- benchmark:begin -->", "<!-- benchmark:end -->"


def full_crawl_pages(graph: FollowGraph) -> int:
    """Pages a crawl of every user's two lists needs (100 entries a page, one at least)."""
    total = 0
    for adjacency in (graph.following, graph.followers):
        degrees = np.diff(adjacency.offsets)
        total += int(np.maximum(1, -(-degrees // 100)).sum())
    return total


def truth_of(graph: FollowGraph) -> dict[str, Any]:
    return population(graph.n_users, *graph.edge_arrays())


def one_sample(
    url: str,
    folder: Path,
    graph: FollowGraph,
    truth: dict[str, Any],
    design: str,
    budget: int,
    run: int,
) -> dict[str, Any]:
    rng = random.Random(f"{design}:{budget}:{run}")
    seeds = [graph.usernames[int(i)] for i in rng.sample(list(truth["members"]), SEEDS_PER_RUN)]
    db = folder / f"{design}-{budget}-{run}.db"
    settings: dict[str, Any] = {
        "db": str(db), "api_base": url, "max_requests": budget, "direction": "both",
        "max_depth": 99, "concurrency": 10, "follow_quota": 10**9,
        "quota_ledger": str(folder / "ledger.db"), "sampler": design,
    }  # fmt: skip
    if design != "bfs":
        settings.update(walkers=SEEDS_PER_RUN, sample_seed=run)
    result = tiktok_network.crawl(seeds, **settings)
    if result.exit_code not in (0, 75):
        raise SystemExit(f"{design} run {run}: the crawl failed: {result.fatal}")
    est = estimate(sample_of(db))
    db.unlink()
    mean = est["mean_degree"]
    covered = None
    if mean["ci_low"] is not None:
        covered = mean["ci_low"] <= truth["mean_degree"] <= mean["ci_high"]
    return {
        "ks": ks_distance(est["degree_ccdf"], truth["degrees"]) if est["degree_ccdf"] else math.nan,
        "error": (mean["value"] - truth["mean_degree"]) / truth["mean_degree"]
        if mean["value"] is not None
        else math.nan,
        "covered": covered,
        "pages": result.stats.pages,
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread over the runs that estimated anything (a budget too small for a walk to
    take a step estimates nothing: counted in ``empty``)."""
    ks = [r["ks"] for r in runs if not math.isnan(r["ks"])]
    errors = [r["error"] for r in runs if not math.isnan(r["error"])]
    covers = [r["covered"] for r in runs if r["covered"] is not None]
    return {
        "ks": statistics.mean(ks) if ks else math.nan,
        "ks_sd": statistics.stdev(ks) if len(ks) > 1 else 0.0,
        "empty": len(runs) - len(ks),
        "error": statistics.mean(errors) if errors else math.nan,
        "error_sd": statistics.stdev(errors) if len(errors) > 1 else 0.0,
        "coverage": (sum(covers) / len(covers)) if covers else None,
        "runs": len(runs),
    }


def table(name: str, truth: dict[str, Any], pages: int, cells: dict[tuple[int, str], Any]) -> str:
    lines = [
        f"**{name}**: {truth['nodes']:,} users in the largest component, true mean degree "
        f"{truth['mean_degree']:.2f}; a full crawl needs {pages:,} pages.",
        "",
        "| design | " + " | ".join(f"{b}%: KS | {b}%: mean-degree error" for b in BUDGETS) + " |",
        "|---" * (1 + 2 * len(BUDGETS)) + "|",
    ]
    for design in DESIGNS:
        row = [design]
        for budget in BUDGETS:
            c = cells[(budget, design)]
            if math.isnan(c["ks"]):
                row += ["no estimate", "no estimate"]
                continue
            cover = "" if c["coverage"] is None else f" (CI held {c['coverage']:.0%})"
            row += [
                f"{c['ks']:.3f} ± {c['ks_sd']:.3f}",
                f"{c['error']:+.1%} ± {c['error_sd']:.1%}{cover}",
            ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot(results: dict[str, dict[tuple[int, str], Any]], path: Path) -> None:
    from tiktok_network.analysis.canvas import new_figure

    fig, axes = new_figure((11, 3.4 * len(results)), rows=2 * len(results))
    fig.clear()
    grid = fig.subplots(len(results), 2, squeeze=False)
    colours = dict(
        zip(
            DESIGNS,
            ("#444444", "#8c564b", "#e377c2", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd"),
            strict=True,
        )
    )
    for row, (name, cells) in enumerate(results.items()):
        for col, (key, label) in enumerate(
            (
                ("ks", "KS distance to the true degree distribution"),
                ("error", "relative error of the mean degree"),
            )
        ):
            ax = grid[row][col]
            for i, design in enumerate(DESIGNS):
                xs = [b * (1 + (i - 3) * 0.025) for b in BUDGETS]
                ys = [cells[(b, design)][key] for b in BUDGETS]
                sd = [cells[(b, design)][f"{key}_sd"] for b in BUDGETS]
                ax.errorbar(xs, ys, yerr=sd, marker="o", markersize=3, capsize=2, linewidth=1.2,
                            label=design, color=colours[design])  # fmt: skip
            if key == "error":
                ax.axhline(0, color="black", linewidth=0.8)
            ax.set_xscale("log")
            ax.set_xticks(BUDGETS, [f"{b}%" for b in BUDGETS])
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_xlabel("budget (share of a full crawl's pages)", fontsize=8)
            ax.grid(True, alpha=0.3)
            if row == 0 and col == 1:
                ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def write_docs(text: str) -> None:
    doc = DOCS / "sampling.md"
    body = doc.read_text(encoding="utf-8")
    start, end = body.index(BEGIN) + len(BEGIN), body.index(END)
    doc.write_text(body[:start] + "\n" + text + "\n" + body[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--graphs", default=",".join(GRAPHS))
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    os.environ.update(TIKTOK_CLIENT_KEY="demo-key", TIKTOK_CLIENT_SECRET="demo-secret")
    started = time.perf_counter()
    results: dict[str, dict[tuple[int, str], Any]] = {}
    tables = []
    for spec in _specs(args.graphs):
        graph = parse_graph_spec(spec)
        truth = truth_of(graph)
        pages = full_crawl_pages(graph)
        cells: dict[tuple[int, str], Any] = {}
        with (
            emulator("--graph", spec, "--info-quota", str(10**9)) as emu,
            tempfile.TemporaryDirectory() as tmp,
        ):
            for budget_share in BUDGETS:
                budget = max(20, pages * budget_share // 100)
                for design in DESIGNS:
                    runs = []
                    for run in range(args.runs):
                        with contextlib.redirect_stderr(io.StringIO()):
                            runs.append(
                                one_sample(emu.url, Path(tmp), graph, truth, design, budget, run)
                            )
                    cells[(budget_share, design)] = summarise(runs)
                    c = cells[(budget_share, design)]
                    cover = "" if c["coverage"] is None else f", CI held {c['coverage']:.0%}"
                    print(
                        f"{spec} {budget_share:>2}% ({budget:,} calls) {design:<11} KS {c['ks']:.3f} ± {c['ks_sd']:.3f}"
                        f", mean-degree error {c['error']:+.1%} ± {c['error_sd']:.1%}{cover}",
                        flush=True,
                    )
        results[spec] = cells
        tables.append(table(spec, truth, pages, cells))
    seconds = time.perf_counter() - started
    header = (
        f"Produced by `python -m benchmarks.sampling --runs {args.runs} --write-docs` "
        f"({machine()}; {seconds / 60:.0f} min). Each cell: mean ± standard deviation over "
        f"{args.runs} seeded runs; walks use {SEEDS_PER_RUN} walkers, every design starts from "
        f"{SEEDS_PER_RUN} seeds drawn uniformly from the largest component.\n\n"
        "![KS distance and mean-degree error by design and budget](figures/sampling.png)\n"
    )
    text = header + "\n" + "\n\n".join(tables)
    print()
    print(text)
    if args.write_docs:
        (DOCS / "figures").mkdir(exist_ok=True)
        plot(results, DOCS / "figures" / "sampling.png")
        write_docs(text)
        print(f"\nwrote {DOCS / 'sampling.md'} and {DOCS / 'figures' / 'sampling.png'}")


def _specs(text: str) -> list[str]:
    """Graph specs separated by commas (``synthetic:N,seed=S`` keeps its own comma)."""
    specs: list[str] = []
    for part in text.split(","):
        if part.startswith("seed=") and specs:
            specs[-1] += "," + part
        else:
            specs.append(part)
    return specs


if __name__ == "__main__":
    main()
