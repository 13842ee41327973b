"""Peak RSS of a crawl that reaches a million known users and about 20 M stored edges.

The emulator serves `synthetic:1000000` (its own process, about 1.4 GB); the crawler walks
followings breadth-first until --max-requests, and its RSS is sampled over time to show it stays
flat as the crawl grows. Also prints the database size per million edges. Keep the database
with --keep PATH to feed benchmarks.resume.

    .venv/bin/python -m benchmarks.memory [--requests 1100000] [--keep /tmp/big.db]
    .venv/bin/python -m benchmarks.memory --postgresql     # one worker on PostgreSQL
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import db_figures, emulator, machine, run_crawl

SEEDS = ["sunsun0", "bobaneon1", "jojo.luna2", "yuki.tao3", "glow_taco4"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:1000000")
    parser.add_argument("--requests", type=int, default=1_100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep", help="copy the crawl database here afterwards")
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="crawl into PostgreSQL (TIKTOK_TEST_PG, else an embedded server)",
    )
    args = parser.parse_args()
    server = None
    with tempfile.TemporaryDirectory() as tmp, emulator("--graph", args.graph) as emu:
        db: Path | str = Path(tmp) / "big.db"
        if args.postgresql:
            from benchmarks.pg_workers import Server

            server = Server()
            db = server.new_database()
        run = run_crawl(
            emu.url,
            db,
            *SEEDS,
            "--max-depth",
            "30",
            "--concurrency",
            str(args.concurrency),
            "--max-requests",
            str(args.requests),
            sample_every=2.0,
        )
        if isinstance(db, str):
            from benchmarks.pg_workers import pg_figures

            fig = pg_figures(db)
            size = fig["bytes"]
            assert server is not None
            server.close()
        else:
            fig = db_figures(db)
            size = sum(p.stat().st_size for p in Path(tmp).glob("big.db*"))
            if args.keep:
                shutil.copy(db, args.keep)
    print(f"machine: {machine()}")
    print(
        f"crawl: {fig['pages']:,} pages, {fig['users']:,} users known, {fig['crawled']:,} crawled, "
        f"{fig['edges']:,} edges, wall {run.wall:.0f} s, exit {run.returncode}"
    )
    print("RSS over the crawl (MB):")
    n = len(run.rss_samples)
    for q in (0.1, 0.25, 0.5, 0.75, 1.0):
        t, mb = run.rss_samples[min(n - 1, int(q * n) - 1 if q < 1 else n - 1)]
        print(f"  at {t:6.0f} s ({q:4.0%} of the run): {mb:6.0f} MB")
    print(f"peak RSS: {run.peak_rss_mb:.0f} MB")
    print(
        f"database: {size / 2**20:,.0f} MB = {size / 2**20 / (fig['edges'] / 1e6):,.0f} MB per million edges "
        f"(raw responses compressed)"
    )


if __name__ == "__main__":
    main()
