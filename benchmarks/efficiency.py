"""Requests spent per page needed: a clean crawl, and a crawl interrupted by kill -9s.

The minimum is the sum over crawled users of ceil(list length / 100), at least 1 per list: what
a client that never repeats a request must spend. The emulator's stats count what was spent.

    .venv/bin/python -m benchmarks.efficiency [--graph synthetic:20000] [--kills 10]
"""

from __future__ import annotations

import argparse
import math
import random
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import CLI, crawl_env, emulator, machine
from tiktok_network.emulator.graph import parse_graph_spec

SEEDS = ["sunsun0", "bobaneon1", "jojo.luna2"]


def minimum_pages(graph, db: Path) -> int:
    conn = sqlite3.connect(db)
    crawled = [name for (name,) in conn.execute("SELECT username FROM users WHERE status = 1")]
    conn.close()
    return sum(max(1, math.ceil(graph.following.degree(graph.user_id(u)) / 100)) for u in crawled)


def follow_requests(emu) -> int:
    return sum(emu.stats()["requests"].get("following", {}).values())


def crawl(url: str, db: Path, depth: int, concurrency: int) -> subprocess.Popen:
    args = [
        *CLI,
        "crawl",
        *SEEDS,
        "--db",
        str(db),
        "--max-depth",
        str(depth),
        "--concurrency",
        str(concurrency),
        "--no-export",
        "--follow-quota",
        str(10**9),
        "--quiet",
    ]
    return subprocess.Popen(
        args, env=crawl_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:20000")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    graph = parse_graph_spec(args.graph)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        with emulator("--graph", args.graph) as emu:
            db = Path(tmp) / "clean.db"
            assert crawl(emu.url, db, args.depth, args.concurrency).wait() == 0
            clean_spent, clean_min = follow_requests(emu), minimum_pages(graph, db)
        with emulator("--graph", args.graph, "--latency-ms", "20") as emu:
            db = Path(tmp) / "killed.db"
            kills = 0
            while kills < args.kills:
                proc = crawl(emu.url, db, args.depth, args.concurrency)
                time.sleep(rng.uniform(1.0, 2.5))
                if proc.poll() is not None:
                    break
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
            while crawl(emu.url, db, args.depth, args.concurrency).wait() != 0:
                pass
            killed_spent, killed_min = follow_requests(emu), minimum_pages(graph, db)
    print(f"machine: {machine()}")
    print(f"graph {args.graph}, depth {args.depth}, concurrency {args.concurrency}")
    print(
        f"clean crawl: {clean_spent:,} requests / {clean_min:,} minimum pages = {clean_spent / clean_min:.3f}"
    )
    extra = killed_spent - killed_min
    print(
        f"after {kills} kill -9s: {killed_spent:,} requests / {killed_min:,} minimum pages = "
        f"{killed_spent / killed_min:.3f}; extra {extra} <= pages in flight at the kills "
        f"({kills} x {args.concurrency} = {kills * args.concurrency}): {extra <= kills * args.concurrency}"
    )


if __name__ == "__main__":
    main()
