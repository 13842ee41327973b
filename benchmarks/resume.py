"""Time from start to the first request when resuming a crawl of a million known users.

Takes a database made by `benchmarks.memory --keep PATH` (or any large crawl database), copies
it, starts the emulator with a request log, starts the same crawl command again and reports the
time from process start to the emulator's first follow request.

    .venv/bin/python -m benchmarks.resume --db /tmp/big.db [--graph synthetic:1000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import CLI, crawl_env, emulator, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--graph", default="synthetic:1000000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    conn = sqlite3.connect(args.db)
    users, queued = conn.execute("SELECT count(*), sum(state = 0) FROM users").fetchone()
    conn.close()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        with emulator("--graph", args.graph, "--request-log", str(log)) as emu:
            for i in range(args.runs):
                db = Path(tmp) / f"resume-{i}.db"
                shutil.copy(args.db, db)
                lines_before = len(log.read_text().splitlines()) if log.exists() else 0
                start = time.time()
                proc = subprocess.Popen(
                    [
                        *CLI,
                        "crawl",
                        "--db",
                        str(db),
                        "--max-depth",
                        "30",
                        "--max-requests",
                        "50",
                        "--no-export",
                        "--follow-quota",
                        str(10**9),
                        "--quiet",
                    ],
                    env=crawl_env(emu.url),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                proc.wait()
                entries = [json.loads(x) for x in log.read_text().splitlines()[lines_before:]]
                first = min(e["time"] for e in entries if e["endpoint"] == "following")
                times.append(first - start)
    print(f"machine: {machine()}")
    print(f"database: {users:,} known users, {queued:,} queued")
    print(
        "start to first request: "
        + ", ".join(f"{t:.2f} s" for t in times)
        + f" (best {min(times):.2f} s)"
    )


if __name__ == "__main__":
    main()
