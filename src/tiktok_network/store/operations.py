"""The crawl's store operations written once for both backends, over a small dialect.

Each function takes ``execute`` (one statement with ``?`` placeholders; the PostgreSQL store
translates them) and, where the backends' SQL differs, a ``Dialect``. A backend keeps only its
transaction and recovery policy around them: SQLite's ``BEGIN IMMEDIATE`` under the crawl
lock; PostgreSQL's replayed transactions, leases (``_reclaim_expired`` before each claim) and
fenced commits. The page commits stay each backend's own: they are the hot path
(``benchmarks.throughput`` and ``benchmarks.pg_workers``; PostgreSQL writes a batch as
``unnest`` arrays, one statement per table, SQLite row by row through ``executemany``).

States are written into the SQL as literals, not parameters: PostgreSQL's partial indexes
(``users_todo``, ``users_claimed``) serve only queries whose predicate names the state.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tiktok_network.store.base import CLAIMED, FAILED, REFRESH, TODO, Claim, ListState
from tiktok_network.store.lifecycle import PUT_BACK, Execute, refresh_claims


@dataclass(frozen=True)
class Dialect:
    """What the two backends' SQL differs in, for the operations written once."""

    name: str
    skip_locked: str  # appended to a claim's row lock: workers share a PostgreSQL crawl
    arrays: bool  # a list is one parameter (PostgreSQL's arrays)

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """``column`` is one of ``values``: ``= ANY(?)`` with one array parameter however many
        values, or ``IN (?, ...)``."""
        if self.arrays:
            return f"{column} = ANY(?)", (list(values),)
        return f"{column} IN ({','.join('?' * len(values))})", tuple(values)


SQLITE = Dialect("sqlite", "", arrays=False)
POSTGRESQL = Dialect("postgresql", " FOR UPDATE SKIP LOCKED", arrays=True)
# SQLite's limit of parameters in one statement is 32,766 (999 before 3.32): lists of ids are
# sent in chunks of this many.
CHUNK = 500

LIST_STATE = "SELECT user_id, direction, cursor, done, pages, items, state"


# --------------------------------------------------------------------------- runs, workers
def begin_run(execute: Execute, tool_version: str, api_base: str, settings_json: str) -> int:
    row = execute(
        "INSERT INTO runs(started_at, tool_version, api_base, settings) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (time.time(), tool_version, api_base, settings_json),
    ).fetchone()
    return int(row[0])


def end_run(execute: Execute, run_id: int, exit_status: int) -> None:
    """The run and its worker say they ended (a worker that never does was killed)."""
    now = time.time()
    execute("UPDATE runs SET ended_at=?, exit_status=? WHERE id=?", (now, exit_status, run_id))
    execute(
        "UPDATE workers SET ended_at=?, exit_status=?, heartbeat_at=? WHERE run_id=?"
        " AND ended_at IS NULL",
        (now, exit_status, now, run_id),
    )


def register_worker(execute: Execute, worker: str, run_id: int) -> None:
    now = time.time()
    execute(
        "INSERT INTO workers(id, host, pid, run_id, started_at, heartbeat_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET heartbeat_at=excluded.heartbeat_at",
        (worker, socket.gethostname(), os.getpid(), run_id, now, now),
    )


def heartbeat(execute: Execute, worker: str) -> None:
    execute("UPDATE workers SET heartbeat_at=? WHERE id=?", (time.time(), worker))


# A claim given back: to the refresh round or the frontier (``lifecycle.PUT_BACK``).
RELEASE = f"UPDATE users SET state={PUT_BACK}, claimed_by=NULL, claimed_at=NULL"
RELEASE_ONE = f"{RELEASE} WHERE id=? AND state={CLAIMED:d}"


def release_worker(execute: Execute, worker: str) -> int:
    """Every claim this worker still holds goes back (shutdown)."""
    return int(execute(f"{RELEASE} WHERE claimed_by=? AND state={CLAIMED:d}", (worker,)).rowcount)


# ------------------------------------------------------------------------- failed users
def retry_failed(execute: Execute, max_attempts: int) -> int:
    """Failed users not yet given up go back to the frontier (a user failing in a refresh
    round keeps its status from before)."""
    return int(
        execute(
            f"UPDATE users SET state={PUT_BACK}, status=CASE WHEN refresh_due IS NOT NULL"
            f" THEN status END WHERE state={FAILED:d} AND attempts < ?",
            (max_attempts,),
        ).rowcount
    )


def failed_users(execute: Execute, max_attempts: int) -> int:
    """Failed users a later run will retry."""
    row = execute(
        f"SELECT count(*) FROM users WHERE state={FAILED:d} AND attempts < ?", (max_attempts,)
    ).fetchone()
    return int(row[0])


def answered_before(execute: Execute, api_base: str) -> bool:
    """Whether this API base ever served a page to this crawl (an outage, not a typo)."""
    row = execute(
        "SELECT 1 FROM runs r WHERE r.api_base=? AND EXISTS"
        " (SELECT 1 FROM pages p WHERE p.run_id=r.id) LIMIT 1",
        (api_base,),
    ).fetchone()
    return row is not None


# ------------------------------------------------------------------------------- claims
def claim(
    execute: Execute,
    dialect: Dialect,
    worker: str,
    n: int,
    max_depth: int,
    directions: tuple[str, ...],
    info: bool,
) -> list[Claim]:
    """The next ``n`` users of the breadth-first frontier (by depth, then id), with where their
    lists stopped."""
    rows = execute(
        f"UPDATE users SET state={CLAIMED:d}, claimed_by=?, claimed_at=? WHERE id IN ("
        f" SELECT id FROM users WHERE state={TODO:d} AND depth<=? ORDER BY depth, id LIMIT ?"
        f"{dialect.skip_locked}) RETURNING id, username, depth, info IS NULL,"
        " following_reported, followers_reported",
        (worker, time.time(), max_depth, n),
    ).fetchall()
    claims = [Claim.of_row(tuple(r), directions, info) for r in sorted(rows, key=_by_depth)]
    return attach_lists(execute, dialect, claims)


def claim_info(
    execute: Execute,
    dialect: Dialect,
    worker: str,
    n: int,
    depths: tuple[int, int],
    directions: tuple[str, ...],
    after: int = 0,
) -> list[Claim]:
    """Users within ``depths`` for their user info only, by id after ``after``."""
    rows = execute(
        f"UPDATE users SET state={CLAIMED:d}, claimed_by=?, claimed_at=? WHERE id IN ("
        f" SELECT id FROM users WHERE state={TODO:d} AND info IS NULL AND status IS NULL"
        f" AND depth BETWEEN ? AND ? AND id > ? ORDER BY id LIMIT ?{dialect.skip_locked})"
        " RETURNING id, username, depth",
        (worker, time.time(), depths[0], depths[1], after, n),
    ).fetchall()
    return [Claim.of_row(tuple(r), directions, True) for r in sorted(rows)]


def claim_refresh(
    execute: Execute, dialect: Dialect, worker: str, n: int, directions: tuple[str, ...]
) -> list[Claim]:
    """The next ``n`` users a refresh round marked, the oldest data first."""
    rows = execute(
        f"UPDATE users SET state={CLAIMED:d}, claimed_by=?, claimed_at=? WHERE id IN ("
        f" SELECT id FROM users WHERE state={REFRESH:d} ORDER BY refresh_due, id LIMIT ?"
        f"{dialect.skip_locked}) RETURNING id, username, depth, status, following_reported,"
        " followers_reported",
        (worker, time.time(), n),
    ).fetchall()
    if not rows:
        return []
    where, params = dialect.any_of("user_id", [r[0] for r in rows])
    list_rows = execute(f"{LIST_STATE}, refresh FROM lists WHERE {where}", params).fetchall()
    return refresh_claims(rows, list_rows, directions)


def attach_lists(execute: Execute, dialect: Dialect, claims: Iterable[Claim]) -> list[Claim]:
    """Where each claimed user's lists stopped (cursor, pages, items, verdict)."""
    by_id = {c.user_id: c for c in claims}
    ids = list(by_id)
    for start in range(0, len(ids), CHUNK):
        where, params = dialect.any_of("user_id", ids[start : start + CHUNK])
        for user_id, direction, cursor, done, pages, items, verdict in execute(
            f"{LIST_STATE} FROM lists WHERE {where}", params
        ):
            if direction in by_id[user_id].lists:
                by_id[user_id].lists[direction] = ListState(
                    cursor, bool(done), pages, items, verdict
                )
    return list(by_id.values())


def _by_depth(row: Any) -> tuple[int, int]:
    return (row[2], row[0])


# -------------------------------------------------------------------------------- reads
def started_users(execute: Execute) -> int:
    return int(execute(f"SELECT count(*) FROM users WHERE state != {TODO:d}", ()).fetchone()[0])


def frontier_empty(execute: Execute, max_depth: int) -> bool:
    row = execute(f"SELECT 1 FROM users WHERE state={TODO:d} AND depth<=? LIMIT 1", (max_depth,))
    return row.fetchone() is None


QUOTA_DAY = "SELECT bucket, used, exhausted FROM quota WHERE client=? AND day=?"


def quota_used(execute: Execute, client: str, day: int) -> dict[str, tuple[int, bool]]:
    """This crawl's record of the day's calls per bucket (used, exhausted)."""
    return {
        bucket: (int(used), bool(exhausted))
        for bucket, used, exhausted in execute(QUOTA_DAY, (client, day))
    }
