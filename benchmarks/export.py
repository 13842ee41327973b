"""`export --format parquet` of a large crawl: wall time, rows per second and peak memory.

Give it a crawl database (`python -m benchmarks.memory --requests 600000 --keep /tmp/big.db`
makes one of about 10 M edges); it runs `tiktok-network export --db DB --format parquet` as a
user does and reads the process' peak RSS from the kernel. `--pythonpath` runs another
checkout's code (a "before" figure). Run it on two crawls of different sizes to see whether the
memory grows with the edges (it should not: the edges are written a row group at a time).

    .venv/bin/python -m benchmarks.export --db /tmp/big.db [--pythonpath /tmp/before/src]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine
from tiktok_network.store.read import CrawlReader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a crawl database")
    parser.add_argument("--pythonpath", help="run the export from this source folder instead")
    args = parser.parse_args()
    with CrawlReader(args.db) as reader:
        edges = reader.edge_count()
        users = sum(name is not None for name in reader.names())
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tiktok_network.cli", "export", "--db", args.db,
             "--format", "parquet", "--out", tmp],
            env=env, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    print(f"machine: {machine()}")
    print(
        f"crawl {args.db}: {users:,} users, {edges:,} edges; exit {os.waitstatus_to_exitcode(status)}"
    )
    print(
        f"export --format parquet: wall {wall:.1f} s ({edges / wall:,.0f} edges/s),"
        f" CPU {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {usage.ru_maxrss / 2**20:.2f} GB,"
        f" files {size / 2**20:,.0f} MB"
    )


if __name__ == "__main__":
    main()
