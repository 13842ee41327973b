"""Time from start to the first request when resuming a crawl of a million known users.

Takes a database made by `benchmarks.memory --keep PATH` (or any large crawl database), copies
it, puts its last --requeue users back in the queue (a finished crawl has none), starts the
emulator with a request log, starts the same crawl command again and reports the
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


def _requeue_tail(db: Path, n: int) -> None:
    """Put the last n users back in the queue, so a finished crawl database resumes mid-way."""
    conn = sqlite3.connect(db)
    with conn:
        top = conn.execute("SELECT max(id) FROM users").fetchone()[0]
        conn.execute("UPDATE users SET state = 0, status = NULL WHERE id > ?", (top - n,))
        conn.execute("DELETE FROM lists WHERE user_id > ?", (top - n,))
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--graph", default="synthetic:1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--requeue", type=int, default=100_000, help="users put back in the queue first"
    )
    args = parser.parse_args()
    conn = sqlite3.connect(args.db)
    users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    conn.close()
    queued = args.requeue
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        with emulator("--graph", args.graph, "--request-log", str(log)) as emu:
            for i in range(args.runs):
                db = Path(tmp) / f"resume-{i}.db"
                shutil.copy(args.db, db)
                _requeue_tail(db, args.requeue)
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
