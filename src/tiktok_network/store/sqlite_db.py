"""Opening a crawl database file: the schema, the checks that tell a crawl from a foreign,
read-only or damaged file, the one-crawl-per-database lock, and compressed raw responses.

``sqlite.py`` holds the store itself; this module is what every reader and the store share.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import sqlite3
import time
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tiktok_network.store.base import crawl_settings
from tiktok_network.store.errors import CrawlInUse, NotACrawlDatabase
from tiktok_network.store.migrations import APP_ID, check_version

ID_CACHE_SIZE = 300_000  # usernames -> ids kept in memory by the writer (about 40 MB)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    id INTEGER PRIMARY KEY, started_at REAL NOT NULL, ended_at REAL, tool_version TEXT NOT NULL,
    api_base TEXT NOT NULL, settings TEXT NOT NULL, exit_status INTEGER);
CREATE TABLE IF NOT EXISTS users(
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT,
    depth INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    is_seed INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,      -- 0 todo, 1 claimed, 2 done, 3 failed
    status INTEGER,                        -- 1 parsed, 2 refused, 3 not found, 4 failed
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_by TEXT,
    claimed_at REAL,
    finished_at REAL,
    info TEXT,
    info_at REAL);
CREATE INDEX IF NOT EXISTS users_todo ON users(depth, id) WHERE state = 0;
CREATE INDEX IF NOT EXISTS users_claimed ON users(claimed_by) WHERE state = 1;
CREATE TABLE IF NOT EXISTS lists(
    user_id INTEGER NOT NULL, direction TEXT NOT NULL, cursor INTEGER,
    done INTEGER NOT NULL DEFAULT 0, pages INTEGER NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0, note TEXT,
    PRIMARY KEY(user_id, direction)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pages(
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    direction TEXT NOT NULL, request TEXT NOT NULL, request_cursor INTEGER,
    next_cursor INTEGER, has_more INTEGER NOT NULL, n_items INTEGER NOT NULL,
    fetched_at REAL NOT NULL, log_id TEXT, response BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS edges(
    src INTEGER NOT NULL, dst INTEGER NOT NULL, page_id INTEGER NOT NULL,
    PRIMARY KEY(src, dst)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quota(
    client TEXT NOT NULL, day INTEGER NOT NULL, bucket TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, exhausted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(client, day, bucket)) WITHOUT ROWID;
"""

# Version 2: the schema version table itself, and the workers that ran the crawl (status lists
# them; a PostgreSQL crawl has several at once).
SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS schema_version(
    version INTEGER PRIMARY KEY, applied_at REAL NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workers(
    id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, run_id INTEGER,
    started_at REAL NOT NULL, heartbeat_at REAL NOT NULL, ended_at REAL, exit_status INTEGER);
"""
# Version 3: completeness records. A list's verdict (ListCompleteness) and the two counts user
# info reported; lists that ended before version 3 get their verdict from what is stored.
SCHEMA_V3 = """
ALTER TABLE lists ADD COLUMN state INTEGER;
ALTER TABLE users ADD COLUMN following_reported INTEGER;
ALTER TABLE users ADD COLUMN followers_reported INTEGER;
UPDATE users SET following_reported = json_extract(info, '$.following_count'),
    followers_reported = json_extract(info, '$.follower_count') WHERE info IS NOT NULL;
UPDATE lists SET state = CASE WHEN items < coalesce((SELECT CASE lists.direction
    WHEN 'following' THEN u.following_reported ELSE u.followers_reported END
    FROM users u WHERE u.id = lists.user_id), 0) THEN 2 ELSE 1 END WHERE done = 1;
"""
# Version 4: provenance, refresh and deletion (docs/compliance.md). Users, lists and edges say
# when (and in which run) they were first and last seen; an edge not seen again when its list is
# refreshed is closed (``removed_at``), and an interval reopened later moves to ``edge_history``
# (the trigger), so ``export --as-of`` and ``diff`` can replay the graph. ``refresh_due`` marks
# the users a refresh round still has to fetch, ``audit`` records every purge (never the data).
SCHEMA_V4 = """
ALTER TABLE users ADD COLUMN last_seen REAL;
ALTER TABLE users ADD COLUMN first_run INTEGER;
ALTER TABLE users ADD COLUMN last_run INTEGER;
ALTER TABLE users ADD COLUMN refresh_due REAL;
ALTER TABLE users ADD COLUMN purged_at REAL;
ALTER TABLE users ADD COLUMN info_log_id TEXT;
ALTER TABLE lists ADD COLUMN first_seen REAL;
ALTER TABLE lists ADD COLUMN started_at REAL;
ALTER TABLE lists ADD COLUMN ended_at REAL;
ALTER TABLE lists ADD COLUMN run_id INTEGER;
ALTER TABLE lists ADD COLUMN refresh INTEGER NOT NULL DEFAULT 0;
ALTER TABLE edges ADD COLUMN first_seen REAL;
ALTER TABLE edges ADD COLUMN last_seen REAL;
ALTER TABLE edges ADD COLUMN first_run INTEGER;
ALTER TABLE edges ADD COLUMN last_run INTEGER;
ALTER TABLE edges ADD COLUMN removed_at REAL;
ALTER TABLE edges ADD COLUMN removed_run INTEGER;
CREATE TABLE IF NOT EXISTS edge_history(
    src INTEGER NOT NULL, dst INTEGER NOT NULL, first_seen REAL, last_seen REAL,
    first_run INTEGER, last_run INTEGER, removed_at REAL NOT NULL, removed_run INTEGER);
CREATE INDEX IF NOT EXISTS edge_history_pair ON edge_history(src, dst);
CREATE TABLE IF NOT EXISTS audit(
    id INTEGER PRIMARY KEY, at REAL NOT NULL, run_id INTEGER, tombstone TEXT NOT NULL,
    reason TEXT NOT NULL, removed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outputs(
    path TEXT PRIMARY KEY, kind TEXT NOT NULL, options TEXT NOT NULL, written_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS users_refresh ON users(refresh_due, id) WHERE state = 4;
CREATE TRIGGER IF NOT EXISTS edges_reopen BEFORE UPDATE OF removed_at ON edges
WHEN OLD.removed_at IS NOT NULL AND NEW.removed_at IS NULL
BEGIN
    INSERT INTO edge_history VALUES (OLD.src, OLD.dst, OLD.first_seen, OLD.last_seen,
        OLD.first_run, OLD.last_run, OLD.removed_at, OLD.removed_run);
END;
UPDATE edges SET first_seen = p.fetched_at, last_seen = p.fetched_at, first_run = p.run_id,
    last_run = p.run_id FROM pages p WHERE p.id = edges.page_id;
UPDATE lists SET (first_seen, started_at, ended_at, run_id) = (SELECT min(p.fetched_at),
    min(p.fetched_at), CASE WHEN lists.done = 1 THEN max(p.fetched_at) END, max(p.run_id)
    FROM pages p WHERE p.user_id = lists.user_id AND p.direction = lists.direction);
UPDATE users SET last_seen = max(first_seen, coalesce(info_at, 0), coalesce(finished_at, 0)),
    first_run = (SELECT max(r.id) FROM runs r WHERE r.started_at <= users.first_seen),
    last_run = (SELECT max(r.id) FROM runs r);
"""
# Version 5: the steps of a sampled crawl (crawl/samplers.py): which user each walker (or wave)
# visited at each step, so that a killed walk continues where it stopped and analyze can
# re-weight what the walk saw.
SCHEMA_V5 = """
CREATE TABLE IF NOT EXISTS sample_steps(
    chain INTEGER NOT NULL, step INTEGER NOT NULL, user_id INTEGER NOT NULL,
    PRIMARY KEY(chain, step)) WITHOUT ROWID;
"""
# Version 6: accounts a purge removed, by a hash of their username (never the name), so that
# later pages naming them keep them out (docs/compliance.md: "a purged account stays out").
SCHEMA_V6 = """
CREATE TABLE IF NOT EXISTS purged_names(
    name_hash TEXT PRIMARY KEY, tombstone TEXT NOT NULL) WITHOUT ROWID;
"""
SCHEMA_V7 = """
CREATE TABLE IF NOT EXISTS videos(
    id INTEGER PRIMARY KEY, author_id INTEGER, create_time INTEGER, region_code TEXT,
    hashtags TEXT, description TEXT, view_count INTEGER, like_count INTEGER,
    comment_count INTEGER, share_count INTEGER, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    first_run INTEGER, last_run INTEGER, log_id TEXT);
CREATE INDEX IF NOT EXISTS videos_author ON videos(author_id);
CREATE TABLE IF NOT EXISTS video_edges(
    user_id INTEGER NOT NULL, video_id INTEGER NOT NULL, relation TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL, first_run INTEGER, last_run INTEGER,
    PRIMARY KEY(user_id, video_id, relation)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS video_edges_video ON video_edges(video_id);
CREATE TABLE IF NOT EXISTS video_units(
    id INTEGER PRIMARY KEY, start_date TEXT NOT NULL, end_date TEXT NOT NULL,
    cursor INTEGER NOT NULL DEFAULT 0, search_id TEXT, done INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0, videos INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    claimed_by TEXT, claimed_at REAL, run_id INTEGER);
CREATE INDEX IF NOT EXISTS video_units_todo ON video_units(id) WHERE done = 0;
CREATE TABLE IF NOT EXISTS video_unit_members(
    unit_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    PRIMARY KEY(unit_id, user_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS video_unit_members_user ON video_unit_members(user_id);
"""
# Version 8: the video lists of a user (liked, reposted, pinned) as units of one account and
# relation, with their verdict; each video's author by name (a liked video's author is often no
# account of the crawl) and the accounts it mentions; batch compliance checks (refresh --videos).
SCHEMA_V8 = """
ALTER TABLE videos ADD COLUMN author TEXT;
ALTER TABLE videos ADD COLUMN mentions TEXT;
ALTER TABLE videos ADD COLUMN checked_at REAL;
ALTER TABLE video_units ADD COLUMN relation TEXT NOT NULL DEFAULT 'posted';
ALTER TABLE video_units ADD COLUMN state TEXT;
CREATE INDEX IF NOT EXISTS videos_author_name ON videos(author);
CREATE TABLE IF NOT EXISTS video_checks(
    id INTEGER PRIMARY KEY, task_id TEXT, video_ids TEXT NOT NULL, created_at REAL NOT NULL,
    finished_at REAL, valid INTEGER, removed INTEGER, run_id INTEGER);
"""
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "the crawl tables", SCHEMA),
    (2, "schema versions and workers", SCHEMA_V2),
    (3, "completeness records: list verdicts and reported counts", SCHEMA_V3),
    (4, "provenance, refresh, edge history, purge audit and outputs", SCHEMA_V4),
    (5, "the steps of a sampled crawl", SCHEMA_V5),
    (6, "purged accounts kept out by the hash of their name", SCHEMA_V6),
    (7, "the videos accounts post, and the windows that collect them", SCHEMA_V7),
    (8, "liked, reposted and pinned videos; authors, mentions; compliance checks", SCHEMA_V8),
]
VERSION = MIGRATIONS[-1][0]
SCHEMA_VERSION = str(VERSION)


# What callers outside the store catch: any database failure, without naming the backend.
DatabaseError = sqlite3.DatabaseError
StoreError = sqlite3.Error


def compress(raw: bytes) -> bytes:
    return zlib.compress(raw, 1)


def decompress(blob: bytes) -> bytes:
    return zlib.decompress(blob)


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a crawl database, checking that it is one; readers never create or change it."""
    path = Path(path)
    if path.is_dir():
        raise NotACrawlDatabase(f"{path}: is a directory, not a crawl database file")
    if not readonly:
        _check_writable(path)
    if readonly:
        if not path.exists():
            raise NotACrawlDatabase(f"{path}: no such database")
        # On read-only media SQLite cannot make the WAL index a reader needs: nobody can be
        # writing there, so the file is read as immutable.
        folder = path.parent if str(path.parent) else Path(".")
        immutable = "" if os.access(folder, os.W_OK) else "&immutable=1"
        conn = sqlite3.connect(f"file:{path}?mode=ro{immutable}", uri=True, timeout=30)
    else:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA cache_size=-65536")
            # Checkpoints fsync the database file: every 40 MB of WAL rather than every 4 MB.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
        _check_app(conn, path, readonly)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "malformed" in str(exc) or "corrupt" in str(exc):
            raise  # damaged, not foreign: the CLI says how to restore it
        raise NotACrawlDatabase(f"{path}: not a tiktok-network database ({exc})") from None
    except UnicodeDecodeError:  # the schema's text is not text: pages were overwritten
        conn.close()
        raise sqlite3.DatabaseError(
            "database disk image is malformed (text that is not UTF-8)"
        ) from None
    return conn


class SqliteReadConnection:
    """The read model's SQL on a SQLite file: one read transaction (every query sees the same
    state while a crawl keeps writing; WAL lets both go on), scans fetched in batches. The
    same methods as ``PgReadConnection``, so the read model is written without a branch."""

    concat = "group_concat"  # the aggregate that joins strings

    def __init__(self, path: str | Path) -> None:
        self.conn = connect(path, readonly=True)
        self.conn.execute("BEGIN")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(params))

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 10_000) -> Iterator[Any]:
        cur = self.conn.execute(sql, tuple(params))
        while rows := cur.fetchmany(batch):
            yield from rows

    def has_table(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone()
        return row is not None

    def has_column(self, table: str, column: str) -> bool:
        rows = self.conn.execute("SELECT name FROM pragma_table_info(?)", (table,)).fetchall()
        return any(r[0] == column for r in rows)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("COMMIT")
        self.conn.close()


def _check_writable(path: Path) -> None:
    """A crawl writes its database and, in WAL mode, files beside it: say so before SQLite
    answers with a puzzling error."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.exists() and not os.access(path, os.W_OK):
        raise NotACrawlDatabase(
            f"{path}: the database is read-only: a crawl must write it "
            "(status, export and analyze can read it as it is)"
        )
    if not folder.exists():
        raise NotACrawlDatabase(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise NotACrawlDatabase(
            f"{path}: cannot write in {folder} (a crawl keeps its journal beside the database)"
        )


_ADD_COLUMN = re.compile(r"\s*ALTER TABLE (\w+) ADD COLUMN (\w+)", re.IGNORECASE)


def _column_there(conn: sqlite3.Connection, statement: str) -> bool:
    """Whether ``statement`` adds a column the table has already: SQLite has no ``ADD COLUMN
    IF NOT EXISTS`` (PostgreSQL's migrations say it), so a migration is run again safely on a
    file whose recorded version is older than its tables."""
    found = _ADD_COLUMN.match(statement)
    if found is None:
        return False
    table, column = found.groups()
    return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))


def _check_app(conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
        if row is None or row[0] != APP_ID:
            raise NotACrawlDatabase(f"{path}: not a tiktok-network database")
    elif tables or readonly:
        raise NotACrawlDatabase(f"{path}: not a tiktok-network database")
    current = stored_version(conn) if "meta" in tables else 0
    check_version(current, VERSION, str(path))
    if readonly or current == VERSION:
        return  # a reader reads an older layout as it is (what it lacks reads as empty)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for version, note, ddl in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements(ddl):
                if not _column_there(conn, statement):
                    conn.execute(statement)
            if version == 1:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [("app", APP_ID), ("created_at", str(time.time()))],
                )
            if version >= 2:
                if current < 2:  # the versions before this table existed
                    conn.executemany(
                        "INSERT OR IGNORE INTO schema_version VALUES (?, ?, ?)",
                        [(v, time.time(), n) for v, n, _ in MIGRATIONS if v < 2],
                    )
                conn.execute(
                    "INSERT OR IGNORE INTO schema_version VALUES (?, ?, ?)",
                    (version, time.time(), note),
                )
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
            (SCHEMA_VERSION,),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def statements(script: str) -> list[str]:
    """The statements of a DDL script, whole (a trigger's body holds semicolons of its own)."""
    found, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            found.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        found.append(buffer.strip())
    return found


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema version of a crawl file: the table, or the meta key of version-1 files."""
    try:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        if row and row[0]:
            return int(row[0])
    except sqlite3.OperationalError:
        pass
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row and str(row[0]).isdigit() else 1


def stored_settings(path: str | Path) -> dict[str, object]:
    """The settings the crawl's most recent run was started with ({} for a new crawl)."""
    if not Path(path).exists():
        return {}
    conn = connect(path, readonly=True)
    try:
        return crawl_settings(conn.execute("SELECT settings FROM runs ORDER BY id DESC"))
    finally:
        conn.close()


class CrawlLock:
    """One crawl per SQLite database: an exclusive ``flock`` on ``DB.lock`` for the run's life.

    The kernel drops the lock when its process dies, however it dies, so holding it is the
    proof that every claim left in the database belongs to a run that is gone, and only then
    are such claims put back. The file names the holder (host, pid, since) for the message a
    second crawl gets. Readers (``status``, ``export``, ``analyze``) never take it.
    """

    def __init__(self, db: Path) -> None:
        self.db = db
        # The lock belongs to the file, not to the name it was opened by: a symlink or another
        # relative path to the same database takes the same lock.
        real = Path(os.path.realpath(db))
        self.path = real.with_name(real.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 500).decode("utf-8", "replace").strip() or "unknown holder"
            os.close(fd)
            raise CrawlInUse(
                f"{self.db} is in use by another crawl ({holder}): wait for it to end, or stop "
                "it first; status and export work beside it"
            ) from None
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"host {socket.gethostname()}, pid {os.getpid()}, since {since}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
