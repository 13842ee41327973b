"""Crawl state in PostgreSQL, shared by any number of worker processes.

Why it differs from the SQLite store: several workers write at once, so

- users are claimed with ``FOR UPDATE SKIP LOCKED`` under a **lease**: each worker's row in
  ``workers`` carries a heartbeat, and the claims of a worker whose heartbeat is older than
  the lease go back to the frontier, where any worker takes them;
- every write is **fenced**: a page commits only while its user is still claimed by this
  worker and its list still stands at the cursor the page was requested with. A worker that
  lost its lease (paused, cut off) therefore cannot write over its successor, and a commit
  retried after a lost connection cannot apply twice;
- a lost connection (the server restarting) is waited out and the transaction replayed;
  deadlocks between workers are retried;
- batches are written with ``unnest`` arrays: one statement per table, whatever the batch size.

The quota and rate limit shared by the workers live in ``pg_quota.py``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

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
    UserStatus,
)
from tiktok_network.store.lifecycle import PUT_BACK
from tiktok_network.store.pg_db import Reconnect, connect, ensure_schema, qmark_to_pg, redact
from tiktok_network.store.sqlite import LAST_SEEN_RESOLUTION
from tiktok_network.store.sqlite_db import ID_CACHE_SIZE, compress

log = logging.getLogger("tiktok_network.store")
T = TypeVar("T")

DEFAULT_LEASE = 60.0  # seconds without a heartbeat before a worker's claims are taken over
REFRESH_LOCK = 0x7454_4E01  # advisory lock id: one worker marks a refresh round


# Arrays go as binary parameters (%b): psycopg dumps a list in binary about twice as fast as in
# text, and the writer spends most of its own time there.
# States are written into the SQL as literals, not parameters: the partial indexes (users_todo,
# users_claimed) serve only queries whose predicate names the state, and a generic plan of a
# prepared statement with a parameter there scans the whole table.


class PgStore(CrawlStore):
    """One worker's connection to a shared crawl. Not thread-safe: the writer thread owns it."""

    shared = True  # several processes may work on this crawl at once
    dialect = ops.POSTGRESQL

    def __init__(self, url: str, *, lease: float = DEFAULT_LEASE) -> None:
        self.url = url
        self.name = redact(url)
        self.lease = lease
        self.conn = connect(url)
        try:
            ensure_schema(self.conn, url)
        except BaseException:
            self.conn.close()
            raise
        self.worker: str | None = None
        self._ids: dict[str, int] = {}
        self._ids_since = time.time()

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """The backend-neutral SQL of ``lifecycle`` (``?`` placeholders) on this connection."""
        return self.conn.execute(qmark_to_pg(sql), params)  # type: ignore[arg-type]

    # ------------------------------------------------------------ connection
    def _tx(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in one transaction, replayed after a lost connection or a deadlock (the
        fences make a replay harmless)."""
        waits = Reconnect()
        while True:
            try:
                with self.conn.transaction():
                    return fn()
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                self._ids.clear()
                # Apart at random: two workers replaying at once would meet again.
                time.sleep(random.uniform(0.0, 0.05))
                continue
            except psycopg.OperationalError as exc:
                self._ids.clear()
                if not (self.conn.closed or self.conn.broken):
                    raise
                delay = waits.next_delay()
                if delay is None:
                    raise
                if waits.first:
                    log.warning("lost the connection to %s (%s): reconnecting", self.name, exc)
                time.sleep(delay)
                try:
                    self.conn = connect(self.url)
                    log.warning("reconnected to %s", self.name)
                except Exception:  # still down: try again after the next delay
                    continue

    # -------------------------------------------------------------------- runs
    def begin_run(self, tool_version: str, api_base: str, settings_json: str) -> int:
        return self._tx(lambda: ops.begin_run(self._execute, tool_version, api_base, settings_json))

    def end_run(self, run_id: int, exit_status: int) -> None:
        self._tx(lambda: ops.end_run(self._execute, run_id, exit_status))

    def register_worker(self, worker: str, run_id: int) -> None:
        self.worker = worker
        self._tx(lambda: ops.register_worker(self._execute, worker, run_id))

    def heartbeat(self, worker: str) -> None:
        self._tx(lambda: ops.heartbeat(self._execute, worker))

    # ------------------------------------------------------------------- seeds
    def add_seeds(self, usernames: list[str]) -> tuple[int, int]:
        def run() -> tuple[int, int]:
            known = {
                r[0]
                for r in self.conn.execute(
                    "SELECT username FROM users WHERE username = ANY(%b)", (usernames,)
                )
            }
            now = time.time()
            self.conn.execute(
                "INSERT INTO users(username, depth, first_seen, is_seed)"
                " SELECT u, 0, %s, 1 FROM unnest(%b::text[]) AS u ORDER BY u"
                " ON CONFLICT (username) DO UPDATE SET is_seed=1, depth=0",
                (now, sorted(set(usernames))),
            )
            return len(usernames) - len(known), len(known)

        return self._tx(run)

    def recover(self, worker: str, max_attempts: int) -> int:
        """Claims of workers whose lease expired go back; failed users are retried. Claims of
        live workers are theirs: several processes share this crawl."""
        self.worker = worker
        return self._tx(lambda: self._reclaim_expired() + self._retry_failed(max_attempts))

    def reclaim_expired(self) -> int:
        return self._tx(self._reclaim_expired)

    def _reclaim_expired(self) -> int:
        cutoff = time.time() - self.lease
        cur = self.conn.execute(
            f"UPDATE users SET state={PUT_BACK}, claimed_by=NULL, claimed_at=NULL"
            f" WHERE state={CLAIMED:d} AND (claimed_by IS NULL OR claimed_by NOT IN"
            "  (SELECT id FROM workers WHERE ended_at IS NULL AND heartbeat_at >= %s))",
            (cutoff,),
        )
        if cur.rowcount:
            log.info("took back %d users claimed by workers that stopped answering", cur.rowcount)
        return cur.rowcount

    def _retry_failed(self, max_attempts: int) -> int:
        return ops.retry_failed(self._execute, max_attempts)

    def retry_failed(self, max_attempts: int) -> int:
        return self._tx(lambda: self._retry_failed(max_attempts))

    def failed_users(self, max_attempts: int) -> int:
        return self._tx(lambda: ops.failed_users(self._execute, max_attempts))

    def answered_before(self, api_base: str) -> bool:
        return self._tx(lambda: ops.answered_before(self._execute, api_base))

    # ------------------------------------------------------------------ claims
    def claim(
        self, worker: str, n: int, max_depth: int, directions: tuple[str, ...], info: bool
    ) -> list[Claim]:
        self.worker = worker

        def run() -> list[Claim]:
            self._reclaim_expired()
            return ops.claim(self._execute, ops.POSTGRESQL, worker, n, max_depth, directions, info)

        return self._tx(run)

    def claim_info(
        self,
        worker: str,
        n: int,
        depths: tuple[int, int],
        directions: tuple[str, ...],
        after: int = 0,
    ) -> list[Claim]:
        self.worker = worker

        def run() -> list[Claim]:
            self._reclaim_expired()
            return ops.claim_info(
                self._execute, ops.POSTGRESQL, worker, n, depths, directions, after
            )

        return self._tx(run)

    def claimed_elsewhere(self, worker: str) -> int:
        """Users other live workers hold: they may still add to the frontier."""
        return self._count(
            f"SELECT count(*) FROM users WHERE state={CLAIMED:d} AND claimed_by <> %s", (worker,)
        )

    def release_worker(self, worker: str) -> int:
        return self._tx(lambda: ops.release_worker(self._execute, worker))

    # ----------------------------------------------------------------- refresh
    def begin_refresh(self, marks: RefreshMarks) -> RefreshRound:
        def run() -> RefreshRound:
            # Workers starting together: one marks the round, the others find it marked.
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (REFRESH_LOCK,))
            return lifecycle.begin_refresh(self._execute, marks)

        return self._tx(run)

    def refresh_pending(self) -> int:
        return self._tx(lambda: lifecycle.refresh_pending(self._execute))

    def claim_refresh(self, worker: str, n: int, directions: tuple[str, ...]) -> list[Claim]:
        self.worker = worker

        def run() -> list[Claim]:
            self._reclaim_expired()
            return ops.claim_refresh(self._execute, ops.POSTGRESQL, worker, n, directions)

        return self._tx(run)

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
        """Commit a batch; returns the users whose pages were refused because this worker no
        longer holds them (its lease was taken over), so their workers stop."""
        return self._tx(lambda: self._apply(run_id, pages, outcomes, profiles, releases, quota))

    def _apply(
        self,
        run_id: int,
        pages: list[PageRecord],
        outcomes: list[UserOutcome],
        profiles: list[ProfileRecord],
        releases: list[int],
        quota: list[QuotaDelta],
    ) -> set[int]:
        conn, me = self.conn, self.worker
        touched = sorted({p.user_id for p in pages} | {o.user_id for o in outcomes})
        held: set[int] = set()
        where: dict[tuple[int, str], tuple[int | None, bool]] = {}
        if touched:
            # The users this worker still holds (locked until commit), with their lists.
            for uid, direction, cursor, done in conn.execute(
                "SELECT u.id, l.direction, l.cursor, l.done FROM users u"
                " LEFT JOIN lists l ON l.user_id = u.id"
                f" WHERE u.id = ANY(%b) AND u.state={CLAIMED:d} AND u.claimed_by=%s"
                " ORDER BY u.id FOR UPDATE OF u",
                (touched, me),
            ):
                held.add(uid)
                if direction is not None:
                    where[(uid, direction)] = (cursor, bool(done))
        accepted = self._fence_pages(pages, held, where)
        lost = {p.user_id for p in pages if p not in accepted}
        # Pipeline mode: statements whose results are not read go out without waiting for
        # each other's answer (one round trip for the writes of the batch, not one each).
        with conn.pipeline():
            doomed = self._write(run_id, accepted, outcomes, profiles, releases, quota, held, lost)
        # Out of the pipeline: a purge reads what it removes (its audit counts rows).
        lifecycle.purge(self._execute, doomed, time.time(), run_id)
        return lost

    def _write(
        self,
        run_id: int,
        accepted: list[PageRecord],
        outcomes: list[UserOutcome],
        profiles: list[ProfileRecord],
        releases: list[int],
        quota: list[QuotaDelta],
        held: set[int],
        lost: set[int],
    ) -> list[tuple[int, str]]:
        """The batch's writes; returns the accounts to purge (user id, reason)."""
        conn, me = self.conn, self.worker
        self._commit_pages(run_id, accepted)
        now = time.time()
        kept = [o for o in outcomes if o.user_id in held and o.user_id not in lost]
        purges: list[tuple[int, str]] = []
        if kept:
            doomed = lifecycle.purgeable(
                self._execute, [o.user_id for o in kept if o.status in lifecycle.UNAVAILABLE]
            )
            conn.execute(
                "UPDATE users u SET state=v.state, status=CASE WHEN u.refresh_due IS NOT NULL"
                f" AND v.state={FAILED:d} THEN u.status ELSE v.status END, last_error=v.error,"
                " finished_at=%s, claimed_by=NULL, attempts=u.attempts+1, last_seen=%s,"
                f" last_run=%s, refresh_due=CASE WHEN v.state={FAILED:d} THEN u.refresh_due END"
                " FROM unnest(%b::bigint[], %b::int[], %b::int[], %b::text[])"
                "  AS v(id, state, status, error) WHERE u.id = v.id",
                (
                    now,
                    now,
                    run_id,
                    [o.user_id for o in kept],
                    [int(o.state) for o in kept],
                    [None if o.status is None else int(o.status) for o in kept],
                    [o.error for o in kept],
                ),
            )
            verdicts = [
                (o.user_id, d, st, why, now, run_id)
                for o in kept
                for d, (st, why) in o.lists.items()
            ]
            if verdicts:
                conn.cursor().executemany(
                    "INSERT INTO lists(user_id, direction, done, state, note, ended_at, run_id)"
                    " VALUES (%s, %s, 1, %s, %s, %s, %s) ON CONFLICT (user_id, direction) DO UPDATE"
                    " SET done=1, state=EXCLUDED.state, note=EXCLUDED.note,"
                    " ended_at=EXCLUDED.ended_at, run_id=EXCLUDED.run_id, refresh=0",
                    verdicts,
                )
            purges = [
                (o.user_id, lifecycle.purge_reason(o.status)) for o in kept if o.user_id in doomed
            ]
        if profiles:
            conn.execute(
                "UPDATE users u SET info=v.info, info_at=%s, following_reported=v.fr,"
                " followers_reported=v.fs, info_log_id=v.log, last_seen=%s, last_run=%s"
                " FROM unnest(%b::bigint[], %b::text[], %b::bigint[], %b::bigint[], %b::text[])"
                " AS v(id, info, fr, fs, log) WHERE u.id = v.id",
                (
                    now,
                    now,
                    run_id,
                    [p.user_id for p in profiles],
                    [p.info_json for p in profiles],
                    [p.reported.get("following") for p in profiles],
                    [p.reported.get("followers") for p in profiles],
                    [p.log_id for p in profiles],
                ),
            )
            states = [
                (st, why, p.user_id, d) for p in profiles for d, (st, why) in p.list_states.items()
            ]
            if states:
                conn.cursor().executemany(
                    "UPDATE lists SET state=%s, note=%s WHERE user_id=%s AND direction=%s", states
                )
        if releases:
            conn.execute(
                f"{ops.RELEASE} WHERE id = ANY(%b) AND state=%s AND claimed_by=%s",
                (sorted(releases), CLAIMED, me),
            )
        if quota:  # use the shared ledger did not debit already (a SQLite-style tracker)
            for q in quota:
                if q.used or q.exhausted:
                    conn.execute(
                        "INSERT INTO quota(client, day, bucket, used, exhausted)"
                        " VALUES (%s, %s, %s, GREATEST(%s, 0), %s) ON CONFLICT (client, day, bucket)"
                        " DO UPDATE SET used=GREATEST(quota.used + %s, 0),"
                        " exhausted=GREATEST(quota.exhausted, EXCLUDED.exhausted)",
                        (q.client, q.day, q.bucket, q.used, int(q.exhausted), q.used),
                    )
        return purges

    @staticmethod
    def _fence_pages(
        pages: list[PageRecord],
        held: set[int],
        where: dict[tuple[int, str], tuple[int | None, bool]],
    ) -> list[PageRecord]:
        """The pages this worker may still commit: user held, list where the page began."""
        accepted = []
        for page in pages:
            if page.user_id not in held:
                continue
            state = where.get((page.user_id, page.direction))
            if state is None or (state[0] == page.request_cursor and not state[1]):
                accepted.append(page)
        return accepted

    # Long by design: the hot path, one statement per table for the whole batch.
    def _commit_pages(self, run_id: int, pages: list[PageRecord]) -> None:
        if not pages:
            return
        pages = lifecycle.keep_out_purged(self._execute, pages)
        by_depth: dict[int, dict[str, str | None]] = {}
        for page in pages:
            names = by_depth.setdefault(page.depth + 1, {})
            for username, display_name in page.items:
                names.setdefault(username, display_name)
        ids: dict[str, int] = {}
        first_fetch = min(p.fetched_at for p in pages)  # a user is never younger than its edges
        for depth in sorted(by_depth):
            ids.update(self._intern(by_depth[depth], depth, first_fetch, run_id))
        page_ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT nextval(pg_get_serial_sequence('pages', 'id')) FROM generate_series(1, %s)",
                (len(pages),),
            )
        ]
        cols: dict[str, list[Any]] = {k: [] for k in ("src", "dst", "page", "at")}
        for page_id, page in zip(page_ids, pages, strict=True):
            user = page.user_id
            for username, _ in page.items:
                other = ids[username]
                src, dst = (user, other) if owner_is_source(page.direction) else (other, user)
                cols["src"].append(src)
                cols["dst"].append(dst)
                cols["page"].append(page_id)
                cols["at"].append(page.fetched_at)
        self.conn.execute(
            "INSERT INTO pages(id, run_id, user_id, direction, request, request_cursor,"
            " next_cursor, has_more, n_items, fetched_at, log_id, response)"
            " SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bigint[], %b::text[],"
            " %b::text[], %b::bigint[], %b::bigint[], %b::int[], %b::int[],"
            " %b::float8[], %b::text[], %b::bytea[])",
            (
                page_ids,
                [run_id] * len(pages),
                [p.user_id for p in pages],
                [p.direction for p in pages],
                [p.request.decode() for p in pages],
                [p.request_cursor for p in pages],
                [p.next_cursor for p in pages],
                [int(p.has_more) for p in pages],
                [len(p.items) for p in pages],
                [p.fetched_at for p in pages],
                [p.log_id for p in pages],
                [compress(p.raw) for p in pages],
            ),
        )
        if cols["src"]:
            # One row per edge (a batch may see an edge twice: ON CONFLICT cannot touch a row
            # twice in one statement), the latest sighting kept.
            latest: dict[tuple[int, int], int] = {}
            for i, pair in enumerate(zip(cols["src"], cols["dst"], strict=True)):
                latest[pair] = i
            order = [latest[pair] for pair in sorted(latest)]
            self.conn.execute(
                "INSERT INTO edges(src, dst, page_id, first_seen, last_seen, first_run, last_run)"
                " SELECT s, d, p, t, t, %s, %s FROM unnest(%b::bigint[], %b::bigint[],"
                " %b::bigint[], %b::float8[]) AS v(s, d, p, t)"
                " ON CONFLICT (src, dst) DO UPDATE SET last_seen=EXCLUDED.last_seen,"
                " last_run=EXCLUDED.last_run, first_seen=CASE WHEN edges.removed_at IS NULL"
                " THEN edges.first_seen ELSE EXCLUDED.first_seen END, first_run=CASE WHEN"
                " edges.removed_at IS NULL THEN edges.first_run ELSE EXCLUDED.first_run END,"
                " page_id=CASE WHEN edges.removed_at IS NULL THEN edges.page_id"
                " ELSE EXCLUDED.page_id END, removed_at=NULL, removed_run=NULL",
                (
                    run_id,
                    run_id,
                    *([cols[k][i] for i in order] for k in ("src", "dst", "page", "at")),
                ),
            )
        self.conn.execute(
            "INSERT INTO lists(user_id, direction, cursor, done, pages, items, note, state,"
            " first_seen, started_at, ended_at, run_id)"
            " SELECT u, d, c, f, 1, n, t, s, a, a, CASE WHEN f = 1 THEN a END, %s"
            " FROM unnest(%b::bigint[], %b::text[], %b::bigint[],"
            " %b::int[], %b::int[], %b::text[], %b::int[], %b::float8[])"
            " AS v(u, d, c, f, n, t, s, a)"
            " ON CONFLICT (user_id, direction) DO UPDATE SET cursor=EXCLUDED.cursor,"
            " done=EXCLUDED.done, pages=lists.pages+1, items=lists.items+EXCLUDED.items,"
            " note=coalesce(EXCLUDED.note, lists.note), state=coalesce(EXCLUDED.state, lists.state),"
            " first_seen=coalesce(lists.first_seen, EXCLUDED.first_seen),"
            " started_at=coalesce(lists.started_at, EXCLUDED.started_at),"
            " ended_at=coalesce(EXCLUDED.ended_at, lists.ended_at), run_id=EXCLUDED.run_id",
            (
                run_id,
                [p.user_id for p in pages],
                [p.direction for p in pages],
                [p.next_cursor for p in pages],
                [int(p.list_done) for p in pages],
                [p.fresh for p in pages],
                [p.note for p in pages],
                [p.list_state for p in pages],
                [p.fetched_at for p in pages],
            ),
        )
        ended = [(p.user_id, p.direction) for p in pages if p.list_done]
        if ended:
            lifecycle.close_unseen_edges(self._execute, ended, pages[-1].fetched_at, run_id)
        done = sorted({p.user_id for p in pages if p.user_complete})
        if done:
            self.conn.execute(
                "UPDATE users SET state=%s, status=%s, last_error=NULL, finished_at=%s,"
                " claimed_by=NULL, attempts=attempts+1, refresh_due=NULL, last_seen=%s,"
                " last_run=%s WHERE id = ANY(%b)",
                (DONE, UserStatus.PARSED, pages[-1].fetched_at, pages[-1].fetched_at, run_id, done),
            )

    def _intern(
        self, display: dict[str, str | None], depth: int, now: float, run_id: int
    ) -> dict[str, int]:
        """Ids of the listed users: known ones looked up (and their depth lowered where this
        path is shorter), new ones inserted. Looking up first keeps the id sequence dense: an
        ``ON CONFLICT`` insert spends a sequence value on every row it skips."""
        ids: dict[str, int] = {}
        if now - self._ids_since > LAST_SEEN_RESOLUTION:
            self._ids.clear()  # so each user's last_seen is written again, once an hour at most
            self._ids_since = now
        cache = self._ids
        todo = []
        for name in display:
            packed = cache.get(name)
            if packed is not None and packed & 63 <= depth:
                ids[name] = packed >> 6
            else:
                todo.append(name)
        if not todo:
            return ids
        todo.sort()
        found = {
            r[1]: (r[0], r[2])
            for r in self.conn.execute(
                "SELECT id, username, depth FROM users WHERE username = ANY(%b)", (todo,)
            )
        }
        missing = [n for n in todo if n not in found]
        if missing:
            rows = self.conn.execute(
                "INSERT INTO users(username, display_name, depth, first_seen, last_seen,"
                " first_run, last_run) SELECT n, dn, d, t, t, %s, %s FROM unnest(%b::text[],"
                " %b::text[], %b::int[], %b::float8[]) AS v(n, dn, d, t)"
                " ON CONFLICT (username) DO NOTHING RETURNING id, username",
                (
                    run_id,
                    run_id,
                    missing,
                    [display[n] for n in missing],
                    [depth] * len(missing),
                    [now] * len(missing),
                ),
            ).fetchall()
            for uid, name in rows:
                found[name] = (uid, depth)
            raced = [n for n in missing if n not in found]  # inserted by another worker just now
            if raced:
                for uid, name, d in self.conn.execute(
                    "SELECT id, username, depth FROM users WHERE username = ANY(%b)", (raced,)
                ):
                    found[name] = (uid, d)
        seen_again = sorted(uid for name, (uid, _) in found.items() if name not in missing)
        if seen_again:
            # Only rows whose last_seen is older than its resolution: a row another worker just
            # wrote (or is writing) is left alone, so two workers meeting the same accounts do
            # not lock them in turn (they deadlocked batch after batch: benchmarks.pg_workers).
            self.conn.execute(
                "UPDATE users SET last_seen=%s, last_run=%s WHERE id = ANY(%b)"
                " AND (last_seen IS NULL OR last_seen < %s)",
                (now, run_id, seen_again, now - LAST_SEEN_RESOLUTION),
            )
        # Known deeper (by this or another worker): this path is shorter.
        deeper = sorted(uid for uid, d in found.values() if d > depth)
        if deeper:
            self.conn.execute(
                "UPDATE users SET depth=%s WHERE id = ANY(%b) AND depth > %s",
                (depth, deeper, depth),
            )
        for name in todo:
            uid, known = found[name]
            ids[name] = uid
            cache[name] = uid << 6 | min(known, depth, 63)
        if len(cache) > ID_CACHE_SIZE:
            cache.clear()
        return ids

    # -------------------------------------------------------------------- reads
    def _count(self, sql: str, params: tuple[Any, ...]) -> int:
        def run() -> int:
            row = self.conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

        return self._tx(run)

    def started_users(self) -> int:
        return self._tx(lambda: ops.started_users(self._execute))

    def frontier_empty(self, max_depth: int) -> bool:
        return self._tx(lambda: ops.frontier_empty(self._execute, max_depth))

    def quota_used(self, client: str, day: int) -> dict[str, tuple[int, bool]]:
        return self._tx(lambda: ops.quota_used(self._execute, client, day))

    def transact(self, fn: Callable[[Callable[[str, tuple[Any, ...]], Any]], T]) -> T:
        return self._tx(lambda: fn(self._execute))

    def close(self) -> None:
        self.conn.close()
