"""Opening a PostgreSQL crawl: URLs, connections that say what went wrong, the schema and its
functions, and a thin adapter that lets the read model run the same SQL on both backends.

Any libpq URI works (``postgresql://user@host:5432/db``, a Unix socket as
``postgresql://postgres:@/postgres?host=/tmp/pgdir``); the password comes from the URI,
``PGPASSWORD`` or ``~/.pgpass`` (libpq's own rules) and is never printed: every message names
the database through :func:`redact`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tiktok_network.store.errors import NotACrawlDatabase
from tiktok_network.store.migrations import APP_ID, check_version, newer_message

SCHEMA_LOCK = 0x7454_4E00  # advisory lock id: one process creates or migrates the schema

# Version 1 is the layout of the SQLite store carried over; version 2 adds the workers table
# and the functions that make quota debits and rate-limit slots atomic across workers.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    id BIGSERIAL PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION, tool_version TEXT NOT NULL,
    api_base TEXT NOT NULL, settings TEXT NOT NULL, exit_status INTEGER);
CREATE TABLE IF NOT EXISTS users(
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT,
    depth INTEGER NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL,
    is_seed INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_by TEXT,
    claimed_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    info TEXT,
    info_at DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS users_todo ON users(depth, id) WHERE state = 0;
CREATE INDEX IF NOT EXISTS users_claimed ON users(claimed_by) WHERE state = 1;
CREATE TABLE IF NOT EXISTS lists(
    user_id BIGINT NOT NULL, direction TEXT NOT NULL, cursor BIGINT,
    done INTEGER NOT NULL DEFAULT 0, pages INTEGER NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0, note TEXT,
    PRIMARY KEY(user_id, direction));
CREATE TABLE IF NOT EXISTS pages(
    id BIGSERIAL PRIMARY KEY, run_id BIGINT NOT NULL, user_id BIGINT NOT NULL,
    direction TEXT NOT NULL, request TEXT NOT NULL, request_cursor BIGINT,
    next_cursor BIGINT, has_more INTEGER NOT NULL, n_items INTEGER NOT NULL,
    fetched_at DOUBLE PRECISION NOT NULL, log_id TEXT, response BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS edges(
    src BIGINT NOT NULL, dst BIGINT NOT NULL, page_id BIGINT NOT NULL,
    PRIMARY KEY(src, dst));
CREATE TABLE IF NOT EXISTS quota(
    client TEXT NOT NULL, day BIGINT NOT NULL, bucket TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, exhausted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(client, day, bucket));
"""

SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS workers(
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, run_id BIGINT,
    started_at DOUBLE PRECISION NOT NULL, heartbeat_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION, exit_status INTEGER);
ALTER TABLE quota ADD COLUMN IF NOT EXISTS server_message TEXT;
ALTER TABLE quota ADD COLUMN IF NOT EXISTS server_at DOUBLE PRECISION;
CREATE TABLE IF NOT EXISTS rate_slots(
    client TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL);

-- Debit up to p_n requests of one bucket, within the budget its group shares (following and
-- followers share one daily quota): the advisory lock makes check-and-add atomic across
-- workers. Returns the number granted, or -1 when the service said the day is used up.
CREATE OR REPLACE FUNCTION tn_quota_debit(p_client TEXT, p_day BIGINT, p_bucket TEXT,
                                          p_group TEXT[], p_budget BIGINT, p_n INTEGER)
RETURNS INTEGER AS $$
DECLARE total BIGINT; flagged INTEGER; granted INTEGER;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(
      p_client || ':' || p_day || ':' || array_to_string(p_group, ','), 0));
  SELECT coalesce(sum(used), 0), coalesce(max(exhausted), 0) INTO total, flagged
    FROM quota WHERE client = p_client AND day = p_day AND bucket = ANY(p_group);
  IF flagged > 0 THEN RETURN -1; END IF;
  granted := LEAST(p_n, GREATEST(p_budget - total, 0));
  IF granted > 0 THEN
    INSERT INTO quota(client, day, bucket, used) VALUES (p_client, p_day, p_bucket, granted)
      ON CONFLICT (client, day, bucket) DO UPDATE SET used = quota.used + granted;
  END IF;
  RETURN granted;
END $$ LANGUAGE plpgsql;

-- The next free slot of a rate limit shared by every worker of a client: returns how many
-- seconds the caller waits before sending.
CREATE OR REPLACE FUNCTION tn_rate_slot(p_client TEXT, p_interval DOUBLE PRECISION)
RETURNS DOUBLE PRECISION AS $$
DECLARE now_s DOUBLE PRECISION := extract(epoch FROM clock_timestamp()); slot DOUBLE PRECISION;
BEGIN
  INSERT INTO rate_slots(client, next_at) VALUES (p_client, now_s + p_interval)
    ON CONFLICT (client) DO UPDATE
      SET next_at = GREATEST(rate_slots.next_at, now_s) + p_interval
    RETURNING next_at - p_interval INTO slot;
  RETURN GREATEST(slot - now_s, 0);
END $$ LANGUAGE plpgsql;
"""

# Version 3: completeness records (as in the SQLite store).
SCHEMA_V3 = """
ALTER TABLE lists ADD COLUMN IF NOT EXISTS state INTEGER;
ALTER TABLE users ADD COLUMN IF NOT EXISTS following_reported BIGINT;
ALTER TABLE users ADD COLUMN IF NOT EXISTS followers_reported BIGINT;
UPDATE users SET following_reported = (info::jsonb ->> 'following_count')::bigint,
    followers_reported = (info::jsonb ->> 'follower_count')::bigint WHERE info IS NOT NULL;
UPDATE lists l SET state = CASE WHEN l.items < coalesce(CASE l.direction
    WHEN 'following' THEN u.following_reported ELSE u.followers_reported END, 0)
    THEN 2 ELSE 1 END FROM users u WHERE u.id = l.user_id AND l.done = 1;
"""

# Version 4: provenance, refresh and deletion (as in the SQLite store, sqlite_db.py).
SCHEMA_V4 = """
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_seen DOUBLE PRECISION;
ALTER TABLE users ADD COLUMN IF NOT EXISTS first_run BIGINT;
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_run BIGINT;
ALTER TABLE users ADD COLUMN IF NOT EXISTS refresh_due DOUBLE PRECISION;
ALTER TABLE users ADD COLUMN IF NOT EXISTS purged_at DOUBLE PRECISION;
ALTER TABLE users ADD COLUMN IF NOT EXISTS info_log_id TEXT;
ALTER TABLE lists ADD COLUMN IF NOT EXISTS first_seen DOUBLE PRECISION;
ALTER TABLE lists ADD COLUMN IF NOT EXISTS started_at DOUBLE PRECISION;
ALTER TABLE lists ADD COLUMN IF NOT EXISTS ended_at DOUBLE PRECISION;
ALTER TABLE lists ADD COLUMN IF NOT EXISTS run_id BIGINT;
ALTER TABLE lists ADD COLUMN IF NOT EXISTS refresh INTEGER NOT NULL DEFAULT 0;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS first_seen DOUBLE PRECISION;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS last_seen DOUBLE PRECISION;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS first_run BIGINT;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS last_run BIGINT;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS removed_at DOUBLE PRECISION;
ALTER TABLE edges ADD COLUMN IF NOT EXISTS removed_run BIGINT;
CREATE TABLE IF NOT EXISTS edge_history(
    src BIGINT NOT NULL, dst BIGINT NOT NULL, first_seen DOUBLE PRECISION,
    last_seen DOUBLE PRECISION, first_run BIGINT, last_run BIGINT,
    removed_at DOUBLE PRECISION NOT NULL, removed_run BIGINT);
CREATE INDEX IF NOT EXISTS edge_history_pair ON edge_history(src, dst);
CREATE TABLE IF NOT EXISTS audit(
    id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, run_id BIGINT,
    tombstone TEXT NOT NULL, reason TEXT NOT NULL, removed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outputs(
    path TEXT PRIMARY KEY, kind TEXT NOT NULL, options TEXT NOT NULL,
    written_at DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS users_refresh ON users(refresh_due, id) WHERE state = 4;
CREATE OR REPLACE FUNCTION tn_edges_reopen() RETURNS trigger AS $$
BEGIN
  IF OLD.removed_at IS NOT NULL AND NEW.removed_at IS NULL THEN
    INSERT INTO edge_history VALUES (OLD.src, OLD.dst, OLD.first_seen, OLD.last_seen,
        OLD.first_run, OLD.last_run, OLD.removed_at, OLD.removed_run);
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS edges_reopen ON edges;
CREATE TRIGGER edges_reopen BEFORE UPDATE OF removed_at ON edges
    FOR EACH ROW EXECUTE FUNCTION tn_edges_reopen();
UPDATE edges e SET first_seen = p.fetched_at, last_seen = p.fetched_at, first_run = p.run_id,
    last_run = p.run_id FROM pages p WHERE p.id = e.page_id;
UPDATE lists l SET first_seen = t.first, started_at = t.first,
    ended_at = CASE WHEN l.done = 1 THEN t.last END, run_id = t.run
    FROM (SELECT user_id, direction, min(fetched_at) AS first, max(fetched_at) AS last,
          max(run_id) AS run FROM pages GROUP BY user_id, direction) t
    WHERE t.user_id = l.user_id AND t.direction = l.direction;
UPDATE users SET last_seen = GREATEST(first_seen, info_at, finished_at),
    first_run = (SELECT max(r.id) FROM runs r WHERE r.started_at <= users.first_seen),
    last_run = (SELECT max(r.id) FROM runs r);
"""

# Version 5: the steps of a sampled crawl (crawl/samplers.py).
SCHEMA_V5 = """
CREATE TABLE IF NOT EXISTS sample_steps(
    chain INTEGER NOT NULL, step INTEGER NOT NULL, user_id BIGINT NOT NULL,
    PRIMARY KEY(chain, step));
"""
# Version 6: accounts a purge removed, by a hash of their username (never the name).
SCHEMA_V6 = """
CREATE TABLE IF NOT EXISTS purged_names(name_hash TEXT PRIMARY KEY, tombstone TEXT NOT NULL);
"""
SCHEMA_V7 = """
CREATE TABLE IF NOT EXISTS videos(
    id BIGINT PRIMARY KEY, author_id BIGINT, create_time BIGINT, region_code TEXT,
    hashtags TEXT, description TEXT, view_count BIGINT, like_count BIGINT,
    comment_count BIGINT, share_count BIGINT, first_seen DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL, first_run BIGINT, last_run BIGINT, log_id TEXT);
CREATE INDEX IF NOT EXISTS videos_author ON videos(author_id);
CREATE TABLE IF NOT EXISTS video_edges(
    user_id BIGINT NOT NULL, video_id BIGINT NOT NULL, relation TEXT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL,
    first_run BIGINT, last_run BIGINT, PRIMARY KEY(user_id, video_id, relation));
CREATE INDEX IF NOT EXISTS video_edges_video ON video_edges(video_id);
CREATE TABLE IF NOT EXISTS video_units(
    id BIGSERIAL PRIMARY KEY, start_date TEXT NOT NULL, end_date TEXT NOT NULL,
    cursor BIGINT NOT NULL DEFAULT 0, search_id TEXT, done INTEGER NOT NULL DEFAULT 0,
    pages BIGINT NOT NULL DEFAULT 0, videos BIGINT NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    claimed_by TEXT, claimed_at DOUBLE PRECISION, run_id BIGINT);
CREATE INDEX IF NOT EXISTS video_units_todo ON video_units(id) WHERE done = 0;
CREATE TABLE IF NOT EXISTS video_unit_members(
    unit_id BIGINT NOT NULL, user_id BIGINT NOT NULL, PRIMARY KEY(unit_id, user_id));
CREATE INDEX IF NOT EXISTS video_unit_members_user ON video_unit_members(user_id);
"""
# Version 8: as SQLite's (sqlite_db.py).
SCHEMA_V8 = """
ALTER TABLE videos ADD COLUMN IF NOT EXISTS author TEXT;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS mentions TEXT;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS checked_at DOUBLE PRECISION;
ALTER TABLE video_units ADD COLUMN IF NOT EXISTS relation TEXT NOT NULL DEFAULT 'posted';
ALTER TABLE video_units ADD COLUMN IF NOT EXISTS state TEXT;
CREATE INDEX IF NOT EXISTS videos_author_name ON videos(author);
CREATE TABLE IF NOT EXISTS video_checks(
    id BIGSERIAL PRIMARY KEY, task_id TEXT, video_ids TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION, valid BIGINT,
    removed BIGINT, run_id BIGINT);
"""
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "the crawl tables", SCHEMA_V1),
    (2, "workers, shared quota and rate limit", SCHEMA_V2),
    (3, "completeness records: list verdicts and reported counts", SCHEMA_V3),
    (4, "provenance, refresh, edge history, purge audit and outputs", SCHEMA_V4),
    (5, "the steps of a sampled crawl", SCHEMA_V5),
    (6, "purged accounts kept out by the hash of their name", SCHEMA_V6),
    (7, "the videos accounts post, and the windows that collect them", SCHEMA_V7),
    (8, "liked, reposted and pinned videos; authors, mentions; compliance checks", SCHEMA_V8),
]
VERSION = MIGRATIONS[-1][0]


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return _with_password(url, ":***")
    except ValueError:
        return "postgresql://(unparsable URL)"


def without_password(url: str) -> str:
    """The URL with no password at all (a record a program connects with again: the password
    then comes from PGPASSWORD or ~/.pgpass, never from the crawl)."""
    return _with_password(url, "")


def _with_password(url: str, shown: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}{shown}@{host}{port}", parts.path, parts.query, ""))


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection:
    """A connection to the crawl database; a failure is one line naming the database, never
    its password, said at once unless the server said it is restarting."""
    deadline = time.monotonic()
    restarting = False
    delay = 0.5
    while True:
        try:
            return psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
        except psycopg.OperationalError as exc:
            if _restarting(exc) and not restarting:
                restarting = True  # the server said it comes back: wait for it, once
                deadline = max(deadline, time.monotonic() + RESTART_WAIT)
            if time.monotonic() + delay > deadline:
                raise NotACrawlDatabase(
                    f"{redact(url)}: cannot connect to PostgreSQL ({_first_line(exc)})"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        except psycopg.ProgrammingError as exc:  # a malformed URI
            raise NotACrawlDatabase(f"{redact(url)}: not a usable PostgreSQL URI ({exc})") from None


RECONNECT_FOR = 3600.0  # how long a worker waits for its database to come back


class Reconnect:
    """The waits between attempts to reach a database that went away: doubling from 0.5 s to
    5 s, for at most ``limit`` seconds in all. ``next_delay()`` is None when time is up."""

    def __init__(self, limit: float = RECONNECT_FOR) -> None:
        self.limit = limit
        self.first = True
        self._since: float | None = None
        self._delay = 0.5

    def next_delay(self) -> float | None:
        now = time.monotonic()
        self._since = self._since if self._since is not None else now
        if now - self._since > self.limit:
            return None
        delay, self._delay = self._delay, min(self._delay * 2, 5.0)
        self.first = delay == 0.5
        return delay


RESTART_WAIT = 60.0  # how long a server that says it is shutting down or starting is waited for


def _restarting(exc: BaseException) -> bool:
    """The server answered that it is going down or coming up: worth waiting for, unlike a
    wrong host or name, which is said at once."""
    text = str(exc).lower()
    return any(hint in text for hint in ("shutting down", "starting up", "in recovery mode"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def ensure_schema(conn: psycopg.Connection, url: str) -> None:
    """Create the schema in an empty database, migrate an older one forward, refuse a foreign
    or newer one. Several workers starting together take turns through an advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        tables = _tables(conn)
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
            if row is None or row[0] != APP_ID:
                raise NotACrawlDatabase(f"{redact(url)}: not a tiktok-network database")
        elif tables:
            raise NotACrawlDatabase(
                f"{redact(url)}: not a tiktok-network database (it holds other tables: "
                "give the crawl a database of its own)"
            )
        current = stored_version(conn) if "meta" in tables else 0
        check_version(current, VERSION, redact(url))
        for version, note, ddl in MIGRATIONS:
            if version <= current:
                continue
            conn.execute(ddl)
            if version == 1:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY,"
                    " applied_at DOUBLE PRECISION NOT NULL, note TEXT NOT NULL)"
                )
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('app', %s), ('created_at', %s)"
                    " ON CONFLICT (key) DO NOTHING",
                    (APP_ID, str(time.time())),
                )
            conn.execute(
                "INSERT INTO schema_version(version, applied_at, note) VALUES (%s, %s, %s)",
                (version, time.time(), note),
            )


def stored_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0) if row else 0


def check_readable(conn: psycopg.Connection, url: str) -> None:
    """Readers never create or migrate: a database that is empty, foreign or newer is refused."""
    exists = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        raise NotACrawlDatabase(f"{redact(url)}: no tiktok-network crawl in this database")
    row = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
    if row is None or row[0] != APP_ID:
        raise NotACrawlDatabase(f"{redact(url)}: not a tiktok-network database")
    version = stored_version(conn)
    if version > VERSION:
        raise NotACrawlDatabase(newer_message(redact(url), version, VERSION))


def qmark_to_pg(sql: str) -> str:
    """SQL written for SQLite's ``?`` placeholders, for psycopg (``%s``; a literal ``%``
    doubled): how the read model and ``db copy`` write their SQL once for both backends."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgReadConnection:
    """The read model's SQL on PostgreSQL: ``?`` placeholders become ``%s``, and scans run on
    server-side cursors inside one repeatable-read snapshot, so nothing is materialised whole."""

    concat = "string_agg"  # the aggregate that joins strings

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = connect(url, autocommit=False)
        try:
            check_readable(self.conn, url)
            self.conn.rollback()
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True
        except BaseException:
            self.conn.close()
            raise
        self._cursors = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(qmark_to_pg(sql), tuple(params))  # type: ignore[arg-type]

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 10_000) -> Iterator[Any]:
        self._cursors += 1
        with self.conn.cursor(name=f"tn_scan_{self._cursors}") as cur:
            cur.itersize = batch
            cur.execute(qmark_to_pg(sql), tuple(params))  # type: ignore[arg-type]
            yield from cur

    def has_table(self, name: str) -> bool:
        row = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])

    def has_column(self, table: str, column: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s AND column_name = %s",
            (table, column),
        ).fetchone()
        return row is not None

    def close(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


def stored_settings_pg(url: str) -> dict[str, object]:
    """The settings of the crawl's most recent run ({} for an empty database)."""
    from tiktok_network.store.base import crawl_settings

    conn = connect(url)
    try:
        exists = conn.execute("SELECT to_regclass('runs') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return {}
        return crawl_settings(conn.execute("SELECT settings FROM runs ORDER BY id DESC"))
    finally:
        conn.close()


def _tables(conn: psycopg.Connection[Any]) -> set[str]:
    """The tables of the connection's schema."""
    return {
        r[0]
        for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    }


def is_new_crawl_pg(url: str) -> bool:
    """True for a database with no table yet (a crawl starts there); a database holding
    other tables but no crawl is refused as the store refuses it."""
    conn = connect(url)
    try:
        tables = _tables(conn)
    finally:
        conn.close()
    if tables and "meta" not in tables:
        raise NotACrawlDatabase(
            f"{redact(url)}: not a tiktok-network database (it holds other tables: "
            "give the crawl a database of its own)"
        )
    return not tables


def has_users_pg(url: str) -> bool:
    conn = connect(url)
    try:
        exists = conn.execute("SELECT to_regclass('users') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return False
        return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None
    finally:
        conn.close()
