"""Shared pieces of the benchmarks: an emulator process, the crawler as a process, measurements.

Each benchmark runs the emulator in its own process on loopback and the crawler as the
`tiktok-network crawl` command a user runs, and reads figures from the crawl database, the
emulator's stats and /proc (CPU seconds, peak RSS).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tiktok_network.emulator.process import EmulatorProcess, emulator_process

CLI = [sys.executable, "-m", "tiktok_network.cli"]


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {cpu or platform.processor()}, Python {platform.python_version()}"
    )


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


Emulator = EmulatorProcess


def emulator(*args: str) -> contextlib.AbstractContextManager[EmulatorProcess]:
    """The project's emulator launcher, with a quota no benchmark reaches."""
    return emulator_process("--follow-quota", str(10**9), *args)


def crawl_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_")}
    env.update(
        TIKTOK_CLIENT_KEY="demo-key", TIKTOK_CLIENT_SECRET="demo-secret", TIKTOK_API_BASE=url
    )
    return env


@dataclass
class CrawlRun:
    returncode: int
    wall: float
    cpu: float
    peak_rss_mb: float
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    first_request_at: float | None = None


def run_crawl(
    url: str,
    db: Path,
    *args: str,
    sample_every: float = 0.5,
    timeout: float = 7200,
    command: str = "crawl",
) -> CrawlRun:
    """Run `tiktok-network crawl` (or ``command``: refresh) and sample its RSS and CPU until
    it exits."""
    cmd = [
        *CLI,
        command,
        "--db",
        str(db),
        "--no-export",
        "--quiet",
        "--follow-quota",
        str(10**9),
        *args,
    ]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=crawl_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    samples: list[tuple[float, float]] = []
    peak = 0.0
    cpu = 0.0
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
    reader.start()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
            peak = max(peak, usage.ru_maxrss / 1024)
            break
        try:
            mb = rss_mb(proc.pid)
        except (OSError, ValueError):
            mb = 0.0
        peak = max(peak, mb)
        samples.append((time.monotonic() - start, mb))
        if time.monotonic() - start > timeout:
            proc.kill()
        time.sleep(sample_every)
    wall = time.monotonic() - start
    reader.join(5)
    if proc.returncode not in (0, 75):
        sys.stderr.write("".join(stderr[-20:]))
    return CrawlRun(proc.returncode, wall, cpu, peak, samples)


def db_figures(db: Path) -> dict[str, float]:
    conn = sqlite3.connect(db)
    try:
        pages, first, last = conn.execute(
            "SELECT count(*), min(fetched_at), max(fetched_at) FROM pages"
        ).fetchone()
        edges = conn.execute("SELECT count(*) FROM edges").fetchone()[0]
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        crawled = conn.execute("SELECT count(*) FROM users WHERE status = 1").fetchone()[0]
    finally:
        conn.close()
    return {
        "pages": pages,
        "edges": edges,
        "users": users,
        "crawled": crawled,
        "span": (last - first) if pages else 0.0,
    }
