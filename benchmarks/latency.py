"""Wall time for N page requests at 300 ms latency: the crawler at several concurrencies, and a
sequential baseline in the style of the original crawler (requests library, one request at a
time, followings kept in memory).

At 300 ms a sequential run of 20,000 requests takes 100 minutes, so runs whose concurrency is
below --full-from are measured on --sample x concurrency requests and scaled to N (a client
with a fixed number of requests in flight has a constant time per request); the output marks
the scaled figures. Needs the bench extra: `make bench-setup`.

    .venv/bin/python -m benchmarks.latency [--requests 20000] [--sample 400] [--full-from 32]
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import db_figures, emulator, machine, run_crawl

SEEDS = ["sunsun0", "bobaneon1", "jojo.luna2", "yuki.tao3", "glow_taco4"]


def sequential_baseline(url: str, n: int) -> float:
    """The original crawler's shape: one blocking request after another. Returns wall seconds."""
    import requests  # the benchmark extra: pip install -e '.[bench]'

    token = requests.post(
        f"{url}/v2/oauth/token/",
        data={
            "client_key": "demo-key",
            "client_secret": "demo-secret",
            "grant_type": "client_credentials",
        },
        timeout=30,
    ).json()["access_token"]
    queue = collections.deque(SEEDS)
    seen = set(SEEDS)
    followings: dict[str, list[str]] = {}
    sent = 0
    start = time.perf_counter()
    while queue and sent < n:
        user = queue.popleft()
        cursor = None
        while sent < n:
            body = {"username": user, "max_count": 100}
            if cursor:
                body["cursor"] = cursor
            reply = requests.post(
                f"{url}/v2/research/user/following/",
                data=json.dumps(body),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                timeout=30,
            )
            sent += 1
            data = reply.json().get("data", {})
            names = [item["username"] for item in data.get("user_following", [])]
            followings.setdefault(user, []).extend(names)
            for name in names:
                if name not in seen:
                    seen.add(name)
                    queue.append(name)
            if not data.get("has_more"):
                break
            cursor = data["cursor"]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:200000")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--sample", type=int, default=400)
    parser.add_argument(
        "--full-from", type=int, default=32, help="concurrency from which N is run in full"
    )
    parser.add_argument("--concurrency", default="1,8,32,64")
    parser.add_argument("--latency-ms", type=float, default=300)
    args = parser.parse_args()
    n = args.requests
    latency = args.latency_ms / 1000
    rows = []
    with emulator("--graph", args.graph, "--latency-ms", str(args.latency_ms)) as emu:
        for c in (int(x) for x in args.concurrency.split(",")):
            measured = n if c >= args.full_from else min(n, args.sample * c)
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "bench.db"
                run = run_crawl(
                    emu.url,
                    db,
                    *SEEDS,
                    "--max-depth",
                    "20",
                    "--concurrency",
                    str(c),
                    "--max-requests",
                    str(measured),
                )
                pages = db_figures(db)["pages"]
            wall = run.wall * n / pages
            rows.append((f"crawler c={c}", pages, wall, n * latency / c, measured < n))
            print(f"crawler concurrency {c}: {pages:,} pages in {run.wall:.1f} s", flush=True)
        seq = sequential_baseline(emu.url, args.sample)
        rows.append(("sequential baseline", args.sample, seq * n / args.sample, n * latency, True))
    baseline = rows[-1][2]
    print(f"machine: {machine()}")
    print(
        f"{n:,} page requests at {args.latency_ms:g} ms latency ({args.graph}); * = scaled from a sample"
    )
    print(
        f"{'run':<22}{'measured':>10}{'wall s':>11}{'bound s':>10}{'efficiency':>12}{'speed-up':>10}"
    )
    for name, measured, wall, bound, scaled in rows:
        mark = "*" if scaled else " "
        print(
            f"{name:<22}{measured:>10,}{wall:>10.1f}{mark}{bound:>10.1f}{bound / wall:>12.3f}{baseline / wall:>9.1f}x"
        )


if __name__ == "__main__":
    main()
