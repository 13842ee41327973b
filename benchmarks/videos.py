"""Calls, quota days and time to collect the videos of 10,000 accounts over 90 days.

The emulator serves `synthetic:N` with `--videos-per-account` videos a year each; a crawl
expands `--accounts` of them (breadth-first, `--max-users`), then `tiktok-network videos`
collects their videos over `--days` days with `--usernames-per-query` accounts a query. Printed:
the calls the collection made (the emulator's request log agrees), the days of the general
quota (1,000 calls a day) they take, the time, and the calls the original crawler's one query
per account and 30 days would have made.

    .venv/bin/python -m benchmarks.videos [--accounts 10000] [--days 90] [--per-query 100]
        [--layers liked,reposted,pinned]

With ``--layers``, the same accounts' lists of videos are collected after (one unit a list):
the calls, the lists by how they ended, the days of the general quota and the time.
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from benchmarks.common import CLI, crawl_env, emulator, machine, run_crawl
from tiktok_network.emulator.graph import parse_graph_spec

GENERAL_CALLS_A_DAY = 1_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--per-query", type=int, default=100)
    ap.add_argument("--videos-per-account", type=float, default=50.0)
    ap.add_argument("--graph", default="synthetic:40000")
    ap.add_argument("--layers", default="", help="liked,reposted,pinned or part of it")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp, emulator(
        "--graph", args.graph, "--videos-per-account", str(args.videos_per_account),
        "--info-quota", str(10**9),
    ) as emu:  # fmt: skip
        db = Path(tmp) / "v.db"
        graph = parse_graph_spec(args.graph)
        seed = graph.usernames[int(np.diff(graph.followers.offsets).argmax())]  # the top hub
        crawl = run_crawl(emu.url, db, "--max-depth", "3", "--max-users", str(args.accounts),
                          "--concurrency", "32", seed)  # fmt: skip
        expanded = _one(db, "SELECT count(*) FROM users WHERE status = 1")
        print(
            f"crawl: {expanded:,} accounts expanded in {crawl.wall:.1f} s (exit {crawl.returncode})"
        )
        until = date(2025, 12, 31)
        since = until - timedelta(days=args.days - 1)
        before = emu.stats()["requests"].get("video", {})
        start = time.monotonic()
        done = subprocess.run(
            [*CLI, "videos", "--db", str(db), "--since", since.isoformat(), "--until",
             until.isoformat(), "--usernames-per-query", str(args.per_query), "--concurrency",
             "8", "--info-quota", str(10**9), "--quiet"],
            env=crawl_env(emu.url), capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        wall = time.monotonic() - start
        after = emu.stats()["requests"].get("video", {})
        calls = sum(after.values()) - sum(before.values())
        videos = _one(db, "SELECT count(*) FROM videos")
        units = _one(db, "SELECT count(*) FROM video_units WHERE relation = 'posted'")
        windows = math.ceil(args.days / 30)
        original = expanded * windows
        print(
            f"videos: {videos:,} videos of {expanded:,} accounts over {args.days} days"
            f" ({since} to {until}), exit {done.returncode}, {wall:.1f} s"
        )
        print(
            f"calls: {calls:,} ({units:,} units of {args.per_query} accounts x 30-day windows)"
            f" = {calls / GENERAL_CALLS_A_DAY:.2f} days of the general quota"
        )
        print(
            f"the original's one query per account and 30 days: {original:,} calls"
            f" = {original / GENERAL_CALLS_A_DAY:.1f} days ({original / max(1, calls):.0f}x)"
        )
        if args.layers:
            _layers(emu, db, args.layers, since, until)


def _layers(emu: object, db: Path, layers: str, since: date, until: date) -> None:
    """The lists of videos of the same accounts, collected after the posted videos."""
    names = layers.split(",")

    def list_calls() -> int:
        counts = emu.stats()["requests"]  # type: ignore[attr-defined]
        return sum(sum(counts.get(n, {}).values()) for n in names)

    before = list_calls()
    start = time.monotonic()
    done = subprocess.run(
        [*CLI, "videos", "--db", str(db), "--since", since.isoformat(), "--until",
         until.isoformat(), "--layers", layers, "--concurrency", "8", "--info-quota",
         str(10**9), "--quiet"],
        env=crawl_env(emu.url), capture_output=True, text=True, timeout=3600,  # type: ignore[attr-defined]
    )  # fmt: skip
    wall = time.monotonic() - start
    calls = list_calls() - before
    conn = sqlite3.connect(db)
    try:
        ended = conn.execute(
            "SELECT relation, state, count(*), sum(videos) FROM video_units"
            " WHERE relation <> 'posted' GROUP BY relation, state ORDER BY relation, state"
        ).fetchall()
        edges = conn.execute(
            "SELECT count(*) FROM video_edges WHERE relation <> 'posted'"
        ).fetchone()[0]
    finally:
        conn.close()
    lists = sum(n for _, _, n, _ in ended)
    print(f"layers {layers}: {lists:,} lists, exit {done.returncode}, {wall:.1f} s"
          f" ({calls / max(wall, 1e-9):.0f} calls/s)")  # fmt: skip
    for relation, state, n, videos in ended:
        print(f"  {relation:9} {state or 'open':11} {n:7,} lists {videos or 0:9,} videos")
    print(
        f"calls: {calls:,} ({calls / max(1, lists):.2f} a list), {edges:,} edges"
        f" = {calls / GENERAL_CALLS_A_DAY:.2f} days of the general quota"
    )


def _one(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


if __name__ == "__main__":
    main()
