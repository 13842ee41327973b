"""Persisted pages/s of the crawler at 0 ms latency, beside a bare aiohttp loop (the ceiling).

The emulator serves `synthetic:200000` in its own process. The crawler (`tiktok-network crawl`,
concurrency 32) runs until --max-requests; then a bare aiohttp loop posts exactly the page
requests the crawler made to the same emulator, with no decoding or storage. Both share the two
cores with the emulator, so the ratio is the figure that holds.

    .venv/bin/python -m benchmarks.throughput [--requests 30000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.common import db_figures, emulator, machine, run_crawl


async def bare_loop(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Post every body with `concurrency` in flight; returns requests per second."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        form = {
            "client_key": "demo-key",
            "client_secret": "demo-secret",
            "grant_type": "client_credentials",
        }
        async with http.post(f"{url}/v2/oauth/token/", data=form) as resp:
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        queue = iter(bodies)

        async def worker() -> None:
            for body in queue:
                async with http.post(
                    f"{url}/v2/research/user/following/", data=body, headers=headers
                ) as r:
                    await r.read()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(bodies) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:200000")
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator("--graph", args.graph) as emu:
        db = Path(tmp) / "bench.db"
        seeds = ["sunsun0", "bobaneon1", "jojo.luna2", "yuki.tao3", "glow_taco4"]
        run = run_crawl(
            emu.url,
            db,
            *seeds,
            "--max-depth",
            "20",
            "--concurrency",
            str(args.concurrency),
            "--max-requests",
            str(args.requests),
        )
        fig = db_figures(db)
        conn = sqlite3.connect(db)
        bodies = [row[0].encode() for row in conn.execute("SELECT request FROM pages ORDER BY id")]
        conn.close()
        ceiling = asyncio.run(bare_loop(emu.url, bodies, args.concurrency))
    pages_per_s = fig["pages"] / fig["span"]
    print(f"machine: {machine()}")
    print(f"graph {args.graph}, concurrency {args.concurrency}, exit {run.returncode}")
    print(
        f"crawler: {fig['pages']:,} pages, {fig['edges']:,} edges, {fig['users']:,} users known, "
        f"wall {run.wall:.1f} s (first to last page {fig['span']:.1f} s), CPU {run.cpu:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB"
    )
    print(f"persisted pages/s: {pages_per_s:,.0f}")
    print(f"edges/s: {fig['edges'] / fig['span']:,.0f}")
    print(f"crawler CPU s per 1,000 pages: {1000 * run.cpu / fig['pages']:.3f}")
    print(f"bare aiohttp loop (ceiling), same {len(bodies):,} requests: {ceiling:,.0f} req/s")
    print(f"ratio crawler/ceiling: {pages_per_s / ceiling:.2f}")


if __name__ == "__main__":
    main()
