"""Helpers for crawler tests: an emulator process, the CLI as a user runs it, ground truth."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tiktok_network.emulator.graph import FollowGraph
from tiktok_network.emulator.process import EmulatorProcess
from tiktok_network.emulator.process import emulator_process as start_emulator_process

CLI = [sys.executable, "-m", "tiktok_network.cli"]
KEY, SECRET = "demo-key", "demo-secret"


@contextmanager
def emulator_process(tmp_path: Path, *args: str, port: int = 0) -> Iterator[EmulatorProcess]:
    """The emulator as a user starts it, logging requests in the test's folder; ``port``
    restarts one where an earlier one was."""
    log = tmp_path / f"requests-{len(list(tmp_path.glob('requests-*')))}.jsonl"
    with start_emulator_process(*args, port=port, request_log=log) as emu:
        yield emu


class RequestCounter:
    """Counts the lines of an emulator's request log as it grows, reading only what is new.

    Tests trigger kills and signals by progress (requests the emulator has answered), never by
    wall-clock moments, so a planned kill happens on a fast machine and on a slow one alike.
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self._offset = 0
        self._lines = 0

    def count(self) -> int:
        if self.log.exists():
            with self.log.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            complete = chunk.rfind(b"\n") + 1  # a half-written last line is counted next time
            self._lines += chunk.count(b"\n", 0, complete)
            self._offset += complete
        return self._lines

    def wait_for(self, target: int, proc: subprocess.Popen[str], limit: float = 240.0) -> None:
        """Block until ``target`` requests were logged; fail if ``proc`` ended first."""
        deadline = time.monotonic() + limit  # a guard against a hang, not a trigger
        while self.count() < target:
            if proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr else ""
                raise AssertionError(
                    f"process ended (exit {proc.returncode}) after {self.count()} of the "
                    f"{target} logged requests the test planned for: {err[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no progress to {target} requests in {limit:.0f} s")
            time.sleep(0.002)


def crawl_env(api_base: str, key: str = KEY, secret: str = SECRET, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_")}
    env.update(TIKTOK_CLIENT_KEY=key, TIKTOK_CLIENT_SECRET=secret, TIKTOK_API_BASE=api_base)
    env.update(extra)
    return env


def crawl_command(tmp_path: Path, *args: str) -> list[str]:
    """`tiktok-network crawl` on the test's database and output folder, with fast retries."""
    return [
        *CLI,
        "crawl",
        "--db",
        str(tmp_path / "crawl.db"),
        "--out",
        str(tmp_path / "out"),
        "--log-every",
        "1",
        "--retry-base-delay",
        "0.01",
        *args,
    ]


def run_crawl(
    tmp_path: Path, api_base: str, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        crawl_command(tmp_path, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=crawl_env(api_base, **{"XDG_STATE_HOME": str(tmp_path / "state"), **env}),
        cwd=tmp_path,
    )


def run_cli(
    tmp_path: Path, url: str, *args: str, db_args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Any command as a user runs it, on ``db_args`` (default: the test's SQLite file)."""
    return subprocess.run(
        [*CLI, *args, *(db_args or ("--db", str(tmp_path / "crawl.db")))],
        capture_output=True,
        text=True,
        timeout=300,
        env=crawl_env(url, XDG_STATE_HOME=str(tmp_path / "state")),
        cwd=tmp_path,
    )


def follow_requests(log: list[dict]) -> dict[str, int]:
    """Requests per quota bucket in an emulator's request log."""
    counts = {"following": 0, "followers": 0, "info": 0}
    for r in log:
        if r["endpoint"] in counts:
            counts[r["endpoint"]] += 1
    return counts


def start_crawl(tmp_path: Path, api_base: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        crawl_command(tmp_path, "--no-export", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=crawl_env(api_base, **{"XDG_STATE_HOME": str(tmp_path / "state"), **env}),
        cwd=tmp_path,
    )


def _query(db: Path | str, sql: str) -> list[tuple]:
    """Rows of ``sql`` from a crawl database: a SQLite file or a PostgreSQL URL."""
    if isinstance(db, str) and db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pg:
            return [tuple(r) for r in pg.execute(sql).fetchall()]
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def db_execute(db: Path | str, sql: str) -> None:
    """One statement that changes a crawl database (a test's precondition), committed."""
    if isinstance(db, str) and db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as pg:
            pg.execute(sql)
        return
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(sql)
    finally:
        conn.close()


def db_edges(db: Path | str) -> list[tuple[str, str]]:
    return _query(
        db,
        "SELECT s.username, d.username FROM edges e JOIN users s ON s.id = e.src"
        " JOIN users d ON d.id = e.dst",
    )


def read_until(proc: subprocess.Popen[str], needle: str) -> list[str]:
    """Read ``proc``'s stderr line by line until a line holds ``needle`` (its own progress
    report is the trigger); the lines read, or an error if the process ended first."""
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"ended without saying {needle!r}: {''.join(lines)[-3000:]}")


def db_quota_used(db: Path | str) -> int:
    rows = _query(
        db, "SELECT coalesce(sum(used), 0) FROM quota WHERE bucket IN ('following', 'followers')"
    )
    return int(rows[0][0])


def db_status(db: Path | str) -> dict[str, int | None]:
    return dict(_query(db, "SELECT username, status FROM users"))


def integrity(db: Path | str) -> str:
    if isinstance(db, str):
        return "ok"  # PostgreSQL keeps its own integrity; the tests check the graph
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def truth(graph: FollowGraph, crawled: set[str], direction: str) -> set[tuple[str, str]]:
    """The edges a crawl of ``crawled`` users' lists must hold, from the served graph."""
    out: set[tuple[str, str]] = set()
    names = graph.usernames
    for name in crawled:
        u = graph.user_id(name)
        assert u is not None
        if direction in ("following", "both"):
            out.update((name, names[int(v)]) for v in graph.following.row(u)[0])
        if direction in ("followers", "both"):
            out.update((names[int(v)], name) for v in graph.followers.row(u)[0])
    return out


def bfs_users(graph: FollowGraph, seeds: list[str], max_depth: int, direction: str) -> set[str]:
    """Users whose lists a breadth-first crawl to ``max_depth`` fetches."""
    frontier = {graph.user_id(s) for s in seeds}
    seen = set(frontier)
    for _ in range(max_depth):
        nxt = set()
        for u in frontier:
            if direction in ("following", "both"):
                nxt.update(int(v) for v in graph.following.row(u)[0])
            if direction in ("followers", "both"):
                nxt.update(int(v) for v in graph.followers.row(u)[0])
        frontier = nxt - seen
        seen |= frontier
    return {graph.usernames[u] for u in seen}


def typical_seeds(graph: FollowGraph, n: int, lo: int = 10, hi: int = 30) -> list[str]:
    """The first ``n`` accounts that follow between ``lo`` and ``hi`` others, like most users."""
    return [
        graph.usernames[u] for u in range(graph.n_users) if lo <= graph.following.degree(u) <= hi
    ][:n]


def pages_needed(graph: FollowGraph, users: set[str], direction: str) -> int:
    """Follow-list pages (100 entries each, at least one per list) a crawl of ``users`` needs:
    a test that plans its kills within this many requests knows every kill will happen."""
    directions = ("following", "followers") if direction == "both" else (direction,)
    total = 0
    for name in users:
        u = graph.user_id(name)
        assert u is not None
        for d in directions:
            total += max(1, -(-getattr(graph, d).degree(u) // 100))
    return total


def repeated_requests(requests: list[dict]) -> tuple[int, int]:
    """Follow requests for a page (endpoint, user, cursor) already requested: (within one
    crawl process, across processes). Every process starts with one token request, which is
    where one run's requests end and the next one's begin."""
    run = 0
    first_run: dict[tuple[str, str, int], int] = {}
    same = across = 0
    for r in requests:
        if r["endpoint"] == "token":
            run += 1
            continue
        if r["endpoint"] not in ("following", "followers"):
            continue
        key = (r["endpoint"], r["username"], r["cursor"])
        if key in first_run:
            if first_run[key] == run:
                same += 1
            else:
                across += 1
        first_run[key] = run
    return same, across


def page_fetches(requests: list[dict]) -> Counter[tuple[str, str, int]]:
    """How many times each page (endpoint, user, cursor) was served successfully."""
    return Counter(
        (r["endpoint"], r["username"], r["cursor"])
        for r in requests
        if r["endpoint"] in ("following", "followers") and r["status"] == 200 and not r.get("fault")
    )


class CrawlDb:
    """Where a test's crawl lives: the SQLite file of the test's folder, or a fresh PostgreSQL
    database; ``args`` go on the crawl's command line, ``target`` to the helpers above."""

    def __init__(self, tmp_path: Path, url: str | None = None) -> None:
        self.url = url
        self.target: Path | str = url or tmp_path / "crawl.db"

    @property
    def args(self) -> tuple[str, ...]:
        return ("--db", self.url) if self.url else ()
