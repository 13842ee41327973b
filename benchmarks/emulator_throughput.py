"""How many full following pages (100 items) per second the emulator serves on one core.

Runs `tiktok-network emulator` in its own process on loopback at 0 ms latency, then posts
following-page requests from an aiohttp client (this process) and reports requests per
wall-clock second and per CPU second of the emulator process (its single core).

    .venv/bin/python -m benchmarks.emulator_throughput [--graph synthetic:200000] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

import aiohttp

from tiktok_network.emulator.graph import parse_graph_spec


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(url: str, users: list[str], n: int, concurrency: int) -> tuple[float, int]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(
            f"{url}/v2/oauth/token/",
            data={
                "client_key": "demo-key",
                "client_secret": "demo-secret",
                "grant_type": "client_credentials",
            },
        ) as resp:
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        items = 0
        counter = iter(range(n))

        async def worker() -> None:
            nonlocal items
            for i in counter:
                body = b'{"username":"%s","max_count":100}' % users[i % len(users)].encode()
                async with http.post(
                    f"{url}/v2/research/user/following/", data=body, headers=headers
                ) as r:
                    raw = await r.read()
                    assert r.status == 200, raw[:200]
                    items += raw.count(b'"username"')

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:200000")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    graph = parse_graph_spec(args.graph)
    users = [graph.usernames[u] for u in range(graph.n_users) if graph.following.degree(u) >= 100]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tiktok_network.cli",
            "emulator",
            "--port",
            "0",
            "--graph",
            args.graph,
            "--follow-quota",
            str(10**9),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        asyncio.run(run(url, users, 2000, args.concurrency))  # warm the item cache and connections
        cpu0 = cpu_seconds(proc.pid)
        wall, items = asyncio.run(run(url, users, args.requests, args.concurrency))
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait()
    print(f"graph {args.graph}: {len(users)} users with >= 100 followings")
    print(
        f"requests {args.requests}, concurrency {args.concurrency}, items {items} ({items / args.requests:.1f}/page)"
    )
    print(f"wall {wall:.2f} s, emulator CPU {cpu:.2f} s")
    print(f"pages/s (wall, client and server share 2 cores): {args.requests / wall:,.0f}")
    print(f"pages per emulator CPU-second (one core): {args.requests / cpu:,.0f}")


if __name__ == "__main__":
    main()
