"""What a refresh round costs beside the crawl it refreshes, and what history costs to read.

The emulator serves an evolving `synthetic:N`; the crawler fetches the following lists and user
info of `--seeds` accounts, the emulated clock moves 16 days (follows added and removed,
accounts deleted or turned private), and `tiktok-network refresh --lists --older-than 0s`
re-fetches everything. Printed: pages/s of the crawl and of the refresh, the purges and the time
they took within the refresh, the database size, and the time of `status`, `export --as-of` and
`diff` on the result.

    .venv/bin/python -m benchmarks.refresh [--graph synthetic:20000] [--seeds 4000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import CLI, crawl_env, emulator, machine, run_crawl
from tiktok_network.emulator.graph import parse_graph_spec

EVOLVE = (
    "--evolve-follow", "0.02", "--evolve-unfollow", "0.02", "--evolve-delete", "0.005",
    "--evolve-private", "0.005", "--day-seconds", "1000000000", "--info-quota", str(10**9),
)  # fmt: skip


def timed(cmd: list[str], url: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=crawl_env(url))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:20000,seed=1")
    parser.add_argument("--seeds", type=int, default=4000)
    args = parser.parse_args()
    names = parse_graph_spec(args.graph).usernames[: args.seeds]
    with tempfile.TemporaryDirectory() as tmp, emulator("--graph", args.graph, *EVOLVE) as emu:
        db = Path(tmp) / "bench.db"
        seeds = Path(tmp) / "seeds.csv"
        seeds.write_text("username\n" + "\n".join(names) + "\n")
        common = ("--info-quota", str(10**9), "--concurrency", "32")
        crawl = run_crawl(emu.url, db, "--seeds", str(seeds), "--max-depth", "0", "--info", *common)
        t0 = datetime.now(UTC)
        with sqlite3.connect(db) as conn:
            crawl_pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
        request = urllib.request.Request(
            emu.url + "/_emulator/advance",
            data=json.dumps({"days": 16}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=600).read()
        refresh = run_crawl(
            emu.url, db, "--lists", "--older-than", "0s", *common, command="refresh"
        )
        t1 = datetime.now(UTC)
        with sqlite3.connect(db) as conn:
            pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0] - crawl_pages
            purges, first, last = conn.execute(
                "SELECT count(*), min(at), max(at) FROM audit"
            ).fetchone()
            closed = conn.execute(
                "SELECT count(*) FROM edges WHERE removed_at IS NOT NULL"
            ).fetchone()[0]
            edges = conn.execute("SELECT count(*) FROM edges").fetchone()[0]
        size = db.stat().st_size / 1e6
        at = t0.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        status_s = timed([*CLI, "status", "--db", str(db)], emu.url)
        as_of_s = timed(
            [*CLI, "export", "--db", str(db), "--out", str(Path(tmp) / "then"), "--as-of", at],
            emu.url,
        )
        diff_s = timed(
            [*CLI, "diff", at, t1.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "--db", str(db),
             "--out", str(Path(tmp) / "diff.csv")],
            emu.url,
        )  # fmt: skip
    print(f"machine: {machine()}")
    print(f"graph {args.graph}, {args.seeds:,} seeds (following lists and user info)")
    print(
        f"crawl: {crawl_pages:,} pages in {crawl.wall:.1f} s wall, CPU {crawl.cpu:.1f} s,"
        f" exit {crawl.returncode}"
    )
    print(
        f"refresh --lists after 16 emulated days: {pages:,} pages in {refresh.wall:.1f} s wall,"
        f" CPU {refresh.cpu:.1f} s, peak RSS {refresh.peak_rss_mb:.0f} MB, exit {refresh.returncode}"
    )
    print(f"purged accounts: {purges:,} (first to last {((last or 0) - (first or 0)):.1f} s)")
    print(f"edges: {edges:,} held, {closed:,} closed by the refresh; database {size:.1f} MB")
    print(f"status {status_s:.2f} s, export --as-of (CSV) {as_of_s:.2f} s, diff {diff_s:.2f} s")


if __name__ == "__main__":
    main()
