"""Crawl state in one SQLite file, in WAL mode, written by one thread.

Why these choices (measurements in ``docs/performance.md``): WAL with
``synchronous=NORMAL`` keeps every committed transaction across a ``kill -9`` and lets readers
(``status``, ``export``) run beside the writer; usernames are interned as integer ids and
edges live in a ``WITHOUT ROWID`` table keyed by (src, dst), which de-duplicates edges without
a second index; raw responses are zlib-compressed, since they are the bulk of the file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tiktok_network.store.lifecycle as lifecycle
import tiktok_network.store.operations as ops
from tiktok_network.api.spec import owner_is_source
from tiktok_network.store.base import (
    CLAIMED,
    DONE,
    FAILED,
    Claim,
    CrawlStore,
    PageRecord,
    ProfileRecord,
    QuotaDelta,
    RefreshMarks,
    RefreshRound,
    UserOutcome,
)
from tiktok_network.store.lifecycle import PUT_BACK
from tiktok_network.store.sqlite_db import (  # noqa: F401 - re-exported for the store's users
    APP_ID,
    ID_CACHE_SIZE,
    SCHEMA_VERSION,
    CrawlInUse,
    CrawlLock,
    DatabaseError,
    NotACrawlDatabase,
    StoreError,
    _check_writable,
    compress,
    connect,
    decompress,
    stored_settings,
)

log = logging.getLogger("tiktok_network.store")
T = TypeVar("T")

# An edge seen again keeps its first sighting and moves its last; one closed earlier (unfollowed,
# or its list refreshed without it) is reopened as a new interval, the old one going to
# edge_history through the schema's trigger. Every right-hand side reads the row before the update.
EDGE_UPSERT = (
    "INSERT INTO edges(src, dst, page_id, first_seen, last_seen, first_run, last_run)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(src, dst) DO UPDATE SET"
    " last_seen=excluded.last_seen, last_run=excluded.last_run,"
    " first_seen=CASE WHEN removed_at IS NULL THEN first_seen ELSE excluded.first_seen END,"
    " first_run=CASE WHEN removed_at IS NULL THEN first_run ELSE excluded.first_run END,"
    " page_id=CASE WHEN removed_at IS NULL THEN page_id ELSE excluded.page_id END,"
    " removed_at=NULL, removed_run=NULL"
)
# A user's verdict. A user that fails during a refresh round keeps its mark (it is retried)
# and its status from before the round (it still holds that data).
OUTCOME_UPDATE = (
    "UPDATE users SET state=?1, status=CASE WHEN refresh_due IS NOT NULL AND ?7 THEN status"
    " ELSE ?2 END, last_error=?3, finished_at=?4, claimed_by=NULL, attempts=attempts+1,"
    " last_seen=?5, last_run=?6, refresh_due=CASE WHEN ?7 THEN refresh_due END WHERE id=?8"
)
LAST_SEEN_RESOLUTION = 3600.0  # a user's last_seen is exact to within this many seconds


class SqliteStore(CrawlStore):
    """The default store. Not thread-safe: one writer thread owns it (see ``writer.py``)."""

    dialect = ops.SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise NotACrawlDatabase(f"{path}: is a directory, not a crawl database file")
        _check_writable(self.path)  # before the lock file, which is written beside it
        self.lock = CrawlLock(self.path)
        self.lock.acquire()
        try:
            self.conn = connect(self.path)
        except BaseException:
            self.lock.release()
            raise
        self._ids: dict[str, int] = {}
        self._ids_since = time.time()
        self._refreshing = False  # a refresh round ran in this process: scrub at the end

    # -------------------------------------------------------------------- runs
    def begin_run(self, tool_version: str, api_base: str, settings_json: str) -> int:
        with self._tx():
            return ops.begin_run(self.conn.execute, tool_version, api_base, settings_json)

    def end_run(self, run_id: int, exit_status: int) -> None:
        if self._refreshing:
            self._scrub_after_purges()
        with self._tx():
            ops.end_run(self.conn.execute, run_id, exit_status)

    def _scrub_after_purges(self) -> None:
        """Leave no byte of a purged account in the file. Deleted rows are zeroed as they go
        (secure_delete), but a crawl leaves stale copies of rows in free space whenever SQLite
        moves rows between pages, so after a round that purged anyone the file is rebuilt from
        its live rows (VACUUM) and the write-ahead log emptied. A kill before the end leaves
        it to the next run (``meta.vacuumed_at`` is older than the last purge)."""
        last = self.conn.execute("SELECT max(at) FROM audit").fetchone()[0]
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'vacuumed_at'").fetchone()
        if last is None or (row is not None and float(row[0]) >= last):
            return
        try:
            self.conn.execute("VACUUM")
        except sqlite3.OperationalError as exc:  # a reader held the file, the disk is full...
            log.warning(
                "could not rebuild %s after purges (%s): the next refresh run does it",
                self.path,
                exc,
            )
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('vacuumed_at', ?)", (str(time.time()),)
        )
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def register_worker(self, worker: str, run_id: int) -> None:
        ops.register_worker(self.conn.execute, worker, run_id)

    def heartbeat(self, worker: str) -> None:
        ops.heartbeat(self.conn.execute, worker)

    # ------------------------------------------------------------------- seeds
    def add_seeds(self, usernames: list[str]) -> tuple[int, int]:
        known: set[str] = set()
        for start in range(0, len(usernames), 500):
            chunk = usernames[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT username FROM users WHERE username IN ({marks})", chunk
                )
            )
        now = time.time()
        with self._tx():
            # A seed given again, or an account first discovered deeper, becomes a depth-0 seed.
            self.conn.executemany(
                "INSERT INTO users(username, depth, first_seen, is_seed) VALUES (?, 0, ?, 1) "
                "ON CONFLICT(username) DO UPDATE SET is_seed=1, depth=0",
                [(u, now) for u in usernames],
            )
        return len(usernames) - len(known), len(known)

    def recover(self, worker: str, max_attempts: int) -> int:
        """Put back users claimed by earlier runs, and failed users not yet given up: safe
        because this run holds the crawl lock, so no other process is working on them."""
        with self._tx():
            # Workers of runs that died (kill -9) never said they ended: they did.
            self.conn.execute(
                "UPDATE workers SET ended_at=heartbeat_at WHERE ended_at IS NULL AND id <> ?",
                (worker,),
            )
            cur = self.conn.execute(
                f"UPDATE users SET state={PUT_BACK}, status=CASE WHEN state=? OR refresh_due IS NOT NULL"
                " THEN status END,"
                " claimed_by=NULL, claimed_at=NULL WHERE state = ? OR (state = ? AND attempts < ?)",
                (CLAIMED, CLAIMED, FAILED, max_attempts),
            )
        return cur.rowcount

    def retry_failed(self, max_attempts: int) -> int:
        with self._tx():
            return ops.retry_failed(self.conn.execute, max_attempts)

    def failed_users(self, max_attempts: int) -> int:
        return ops.failed_users(self.conn.execute, max_attempts)

    def answered_before(self, api_base: str) -> bool:
        return ops.answered_before(self.conn.execute, api_base)

    # ------------------------------------------------------------------ claims
    def claim(
        self, worker: str, n: int, max_depth: int, directions: tuple[str, ...], info: bool
    ) -> list[Claim]:
        with self._tx():
            return ops.claim(self.conn.execute, ops.SQLITE, worker, n, max_depth, directions, info)

    def claim_info(
        self,
        worker: str,
        n: int,
        depths: tuple[int, int],
        directions: tuple[str, ...],
        after: int = 0,
    ) -> list[Claim]:
        with self._tx():
            return ops.claim_info(
                self.conn.execute, ops.SQLITE, worker, n, depths, directions, after
            )

    def release_worker(self, worker: str) -> int:
        with self._tx():
            return ops.release_worker(self.conn.execute, worker)

    # ----------------------------------------------------------------- refresh
    def begin_refresh(self, marks: RefreshMarks) -> RefreshRound:
        # A purge must leave no trace in the file: freed space is overwritten with zeros.
        self.conn.execute("PRAGMA secure_delete=ON")
        self._refreshing = True
        with self._tx():
            return lifecycle.begin_refresh(self.conn.execute, marks)

    def refresh_pending(self) -> int:
        return lifecycle.refresh_pending(self.conn.execute)

    def claim_refresh(self, worker: str, n: int, directions: tuple[str, ...]) -> list[Claim]:
        with self._tx():
            return ops.claim_refresh(self.conn.execute, ops.SQLITE, worker, n, directions)

    # ------------------------------------------------------------------ commits
    # The page commits are each backend's own, not ``operations``: they are the hot path
    # (``python -m benchmarks.throughput``, ``python -m benchmarks.pg_workers``), written here
    # row by row with ``executemany`` and there as ``unnest`` arrays, one statement per table.
    def apply(
        self,
        run_id: int,
        pages: list[PageRecord],
        outcomes: list[UserOutcome],
        profiles: list[ProfileRecord],
        releases: list[int],
        quota: list[QuotaDelta],
    ) -> set[int]:
        with self._tx():
            self._commit_pages(run_id, pages)
            now = time.time()
            if outcomes:
                doomed = lifecycle.purgeable(
                    self.conn.execute,
                    [o.user_id for o in outcomes if o.status in lifecycle.UNAVAILABLE],
                )
                self.conn.executemany(
                    OUTCOME_UPDATE,
                    [
                        (o.state, o.status, o.error, now, now, run_id, o.state == FAILED, o.user_id)
                        for o in outcomes
                    ],
                )
                self.conn.executemany(
                    "INSERT INTO lists(user_id, direction, done, state, note, ended_at, run_id)"
                    " VALUES (?,?,1,?,?,?,?) ON CONFLICT(user_id, direction) DO UPDATE SET done=1,"
                    " state=excluded.state, note=excluded.note, ended_at=excluded.ended_at,"
                    " run_id=excluded.run_id, refresh=0",
                    [
                        (o.user_id, d, st, why, now, run_id)
                        for o in outcomes
                        for d, (st, why) in o.lists.items()
                    ],
                )
                lifecycle.purge(
                    self.conn.execute,
                    [
                        (o.user_id, lifecycle.purge_reason(o.status))
                        for o in outcomes
                        if o.user_id in doomed
                    ],
                    now,
                    run_id,
                )
            if profiles:
                self.conn.executemany(
                    "UPDATE users SET info=?, info_at=?, following_reported=?,"
                    " followers_reported=?, info_log_id=?, last_seen=?, last_run=? WHERE id=?",
                    [
                        (
                            p.info_json,
                            now,
                            p.reported.get("following"),
                            p.reported.get("followers"),
                            p.log_id,
                            now,
                            run_id,
                            p.user_id,
                        )
                        for p in profiles
                    ],
                )
                self.conn.executemany(
                    "UPDATE lists SET state=?, note=? WHERE user_id=? AND direction=?",
                    [
                        (st, why, p.user_id, d)
                        for p in profiles
                        for d, (st, why) in p.list_states.items()
                    ],
                )
            if releases:
                self.conn.executemany(ops.RELEASE_ONE, [(uid,) for uid in releases])
            if quota:
                self.conn.executemany(
                    "INSERT INTO quota(client, day, bucket, used, exhausted) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(client, day, bucket) DO UPDATE SET used=used+excluded.used,"
                    " exhausted=max(exhausted, excluded.exhausted)",
                    [(q.client, q.day, q.bucket, q.used, int(q.exhausted)) for q in quota],
                )
        return set()  # one process per SQLite crawl (the lock): it never loses a claim

    # Long by design: the hot path, flattened into one statement per table after profiling
    # (docs/performance.md); splitting it would add a Python call per page.
    def _commit_pages(self, run_id: int, pages: list[PageRecord]) -> None:
        """Every page of a batch in a handful of statements (each page still whole or absent).

        Per-page statements cost more Python time than SQLite time at thousands of pages per
        second, so the batch is flattened: users interned together, then one executemany each
        for pages, edges, list cursors and completed users.
        """
        if not pages:
            return
        pages = lifecycle.keep_out_purged(self.conn.execute, pages)
        by_depth: dict[int, dict[str, str | None]] = {}
        for page in pages:
            names = by_depth.setdefault(page.depth + 1, {})
            for username, display_name in page.items:
                names.setdefault(username, display_name)
        ids: dict[str, int] = {}
        first_fetch = min(p.fetched_at for p in pages)  # a user is never younger than its edges
        for depth in sorted(by_depth):
            ids.update(self._intern(by_depth[depth], depth, first_fetch, run_id))
        first = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM pages").fetchone()[0]
        page_rows, edge_rows, list_rows, done_rows = [], [], [], []
        ended: list[tuple[int, str]] = []
        for page_id, page in enumerate(pages, start=first):
            page_rows.append(
                (
                    page_id,
                    run_id,
                    page.user_id,
                    page.direction,
                    page.request.decode(),
                    page.request_cursor,
                    page.next_cursor,
                    int(page.has_more),
                    len(page.items),
                    page.fetched_at,
                    page.log_id,
                    compress(page.raw),
                )
            )
            user, at = page.user_id, page.fetched_at
            if owner_is_source(page.direction):
                edge_rows += [
                    (user, ids[u], page_id, at, at, run_id, run_id) for u, _ in page.items
                ]
            else:
                edge_rows += [
                    (ids[u], user, page_id, at, at, run_id, run_id) for u, _ in page.items
                ]
            list_rows.append(
                (
                    user,
                    page.direction,
                    page.next_cursor,
                    int(page.list_done),
                    page.fresh,
                    page.note,
                    page.list_state,
                    at,
                    at,
                    at if page.list_done else None,
                    run_id,
                )
            )
            if page.list_done:
                ended.append((user, page.direction))
            if page.user_complete:
                done_rows.append((DONE, at, at, run_id, user))
        conn = self.conn
        conn.executemany(
            "INSERT INTO pages(id, run_id, user_id, direction, request, request_cursor, next_cursor, has_more,"
            " n_items, fetched_at, log_id, response) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            page_rows,
        )
        conn.executemany(EDGE_UPSERT, edge_rows)
        conn.executemany(
            "INSERT INTO lists(user_id, direction, cursor, done, pages, items, note, state,"
            " first_seen, started_at, ended_at, run_id) VALUES (?,?,?,?,1,?,?,?,?,?,?,?)"
            " ON CONFLICT(user_id, direction) DO UPDATE SET"
            " cursor=excluded.cursor, done=excluded.done, pages=pages+1,"
            " items=items+excluded.items, note=coalesce(excluded.note, note),"
            " state=coalesce(excluded.state, state),"
            " first_seen=coalesce(first_seen, excluded.first_seen),"
            " started_at=coalesce(started_at, excluded.started_at),"
            " ended_at=coalesce(excluded.ended_at, ended_at), run_id=excluded.run_id",
            list_rows,
        )
        if ended:
            lifecycle.close_unseen_edges(conn.execute, ended, pages[-1].fetched_at, run_id)
        if done_rows:
            conn.executemany(
                "UPDATE users SET state=?, status=1, last_error=NULL, finished_at=?, claimed_by=NULL,"
                " attempts=attempts+1, refresh_due=NULL, last_seen=?, last_run=? WHERE id=?",
                done_rows,
            )

    def _intern(
        self, display: dict[str, str | None], depth: int, now: float, run_id: int
    ) -> dict[str, int]:
        """Ids of the listed users, inserting new ones and lowering depths where shorter.

        A bounded cache maps usernames to ``id << 6 | depth``: a user already known at this
        depth or shallower needs no statement at all. The others go in one multi-row upsert
        whose RETURNING clause hands back their ids, instead of an upsert plus a SELECT.
        """
        ids: dict[str, int] = {}
        todo: list[str] = []
        if now - self._ids_since > LAST_SEEN_RESOLUTION:
            self._ids.clear()  # so each user's last_seen is written again, once an hour at most
            self._ids_since = now
        cache = self._ids
        for name in display:
            packed = cache.get(name)
            if packed is not None and packed & 63 <= depth:
                ids[name] = packed >> 6
            else:
                todo.append(name)
        for start in range(0, len(todo), 1000):
            chunk = todo[start : start + 1000]
            params: list[object] = []
            for name in chunk:
                params += (name, display[name], depth, now, now, run_id, run_id)
            rows = self.conn.execute(
                "INSERT INTO users(username, display_name, depth, first_seen, last_seen, first_run,"
                " last_run) VALUES "
                + ",".join(["(?,?,?,?,?,?,?)"] * len(chunk))
                + " ON CONFLICT(username) DO UPDATE SET depth=min(users.depth, excluded.depth),"
                " display_name=coalesce(users.display_name, excluded.display_name),"
                " last_seen=excluded.last_seen, last_run=excluded.last_run"
                " RETURNING id, username, depth",
                params,
            ).fetchall()
            for user_id, name, known_depth in rows:
                ids[name] = user_id
                cache[name] = user_id << 6 | min(known_depth, 63)
        if len(cache) > ID_CACHE_SIZE:
            cache.clear()
        return ids

    def started_users(self) -> int:
        return ops.started_users(self.conn.execute)

    def frontier_empty(self, max_depth: int) -> bool:
        return ops.frontier_empty(self.conn.execute, max_depth)

    def quota_used(self, client: str, day: int) -> dict[str, tuple[int, bool]]:
        return ops.quota_used(self.conn.execute, client, day)

    # -------------------------------------------------------------------- misc
    def _tx(self) -> _Transaction:
        return _Transaction(self.conn, self._ids)

    def transact(self, fn: Callable[[Callable[[str, tuple[Any, ...]], Any]], T]) -> T:
        with self._tx():
            return fn(self.conn.execute)

    def close(self) -> None:
        self.conn.close()
        self.lock.release()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error: a batch is all or nothing."""

    def __init__(self, conn: sqlite3.Connection, id_cache: dict[str, int]) -> None:
        self.conn = conn
        self.id_cache = id_cache

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
            self.id_cache.clear()  # ids handed out inside the rolled-back batch are void
