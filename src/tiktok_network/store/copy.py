"""Moving a crawl between backends (SQLite <-> PostgreSQL, or to another file or server).

Every table is copied in key order, in committed batches, so a copy that is interrupted
continues from what the destination already holds (run the same command again). At the end
the row counts of source and destination are compared table by table. The source must not be
crawled meanwhile: a SQLite crawl is locked for the copy, a PostgreSQL crawl with live workers
is refused.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiktok_network.store import display_name, is_database_url
from tiktok_network.store.errors import NotACrawlDatabase

BATCH = 5_000

# (table, key columns in copy order, columns). Keys decide where an interrupted copy resumes.
TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "runs",
        ("id",),
        ("id", "started_at", "ended_at", "tool_version", "api_base", "settings", "exit_status"),
    ),
    (
        "users",
        ("id",),
        (
            "id",
            "username",
            "display_name",
            "depth",
            "first_seen",
            "is_seed",
            "state",
            "status",
            "attempts",
            "last_error",
            "claimed_by",
            "claimed_at",
            "finished_at",
            "info",
            "info_at",
            "following_reported",
            "followers_reported",
            "last_seen",
            "first_run",
            "last_run",
            "refresh_due",
            "purged_at",
            "info_log_id",
        ),
    ),
    (
        "lists",
        ("user_id", "direction"),
        (
            "user_id",
            "direction",
            "cursor",
            "done",
            "pages",
            "items",
            "note",
            "state",
            "first_seen",
            "started_at",
            "ended_at",
            "run_id",
            "refresh",
        ),
    ),
    (
        "pages",
        ("id",),
        (
            "id",
            "run_id",
            "user_id",
            "direction",
            "request",
            "request_cursor",
            "next_cursor",
            "has_more",
            "n_items",
            "fetched_at",
            "log_id",
            "response",
        ),
    ),
    (
        "edges",
        ("src", "dst"),
        (
            "src",
            "dst",
            "page_id",
            "first_seen",
            "last_seen",
            "first_run",
            "last_run",
            "removed_at",
            "removed_run",
        ),
    ),
    (
        "edge_history",
        ("src", "dst", "removed_at"),
        (
            "src",
            "dst",
            "first_seen",
            "last_seen",
            "first_run",
            "last_run",
            "removed_at",
            "removed_run",
        ),
    ),
    ("audit", ("id",), ("id", "at", "run_id", "tombstone", "reason", "removed")),
    ("outputs", ("path",), ("path", "kind", "options", "written_at")),
    ("sample_steps", ("chain", "step"), ("chain", "step", "user_id")),
    ("purged_names", ("name_hash",), ("name_hash", "tombstone")),
    ("quota", ("client", "day", "bucket"), ("client", "day", "bucket", "used", "exhausted")),
    (
        "workers",
        ("id",),
        ("id", "host", "pid", "run_id", "started_at", "heartbeat_at", "ended_at", "exit_status"),
    ),
)


@dataclass
class TableCopy:
    table: str
    source_rows: int
    copied_now: int
    destination_rows: int

    @property
    def verified(self) -> bool:
        return self.source_rows == self.destination_rows


class _Side:
    """One end of a copy: a connection and the few dialect differences that matter here."""

    def __init__(self, db: str, *, write: bool) -> None:
        self.db = db
        self.pg = is_database_url(db)
        self.name = display_name(db)
        self.lock: Any = None
        if self.pg:
            from tiktok_network.store.pg_db import connect, ensure_schema

            self.conn: Any = connect(db, autocommit=False)
            if write:
                self.conn.autocommit = True
                ensure_schema(self.conn, db)
                self.conn.autocommit = False
            else:
                from tiktok_network.store.pg_db import check_readable

                check_readable(self.conn, db)
                self.conn.rollback()
        else:
            from tiktok_network.store.sqlite_db import CrawlLock, connect

            path = Path(db)
            if not write and not path.exists():
                raise NotACrawlDatabase(f"{db}: no such database")
            self.lock = CrawlLock(path)  # no crawl may write either end meanwhile
            self.lock.acquire()
            try:
                self.conn = connect(path, readonly=not write)
            except BaseException:
                self.lock.release()
                raise

    def sql(self, text: str) -> str:
        if not self.pg:
            return text
        from tiktok_network.store.pg_db import qmark_to_pg

        return qmark_to_pg(text)

    def columns(self, table: str) -> set[str]:
        if self.pg:
            rows = self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                " AND table_schema = current_schema()",
                (table,),
            ).fetchall()
        else:
            rows = self.conn.execute(f"SELECT name FROM pragma_table_info('{table}')").fetchall()
        return {r[0] for r in rows}

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def last_key(self, table: str, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
        order = ", ".join(f"{k} DESC" for k in keys)
        row = self.conn.execute(
            f"SELECT {', '.join(keys)} FROM {table} ORDER BY {order} LIMIT 1"
        ).fetchone()
        return tuple(row) if row else None

    def rows_after(
        self, table: str, keys: tuple[str, ...], cols: list[str], after: tuple[Any, ...] | None
    ) -> Iterator[tuple[Any, ...]]:
        where, params = "", ()
        if after is not None:
            where = " WHERE (" + ", ".join(keys) + ") > (" + ", ".join("?" * len(keys)) + ")"
            params = after
        text = self.sql(f"SELECT {', '.join(cols)} FROM {table}{where} ORDER BY {', '.join(keys)}")
        if self.pg:
            with self.conn.cursor(name=f"copy_{table}") as cur:
                cur.itersize = BATCH
                cur.execute(text, params)
                yield from cur
        else:
            cur = self.conn.execute(text, params)
            while batch := cur.fetchmany(BATCH):
                yield from batch

    def write(self, table: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
        """One committed batch; rows already present (a resumed copy) are left as they are."""
        if self.pg:
            with self.conn.transaction():
                self.conn.cursor().executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                    f"({', '.join(['%s'] * len(cols))}) ON CONFLICT DO NOTHING",
                    rows,
                )
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(
                f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES "
                f"({', '.join('?' * len(cols))})",
                rows,
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def finish(self) -> None:
        """Sequences continue after the copied ids (PostgreSQL)."""
        if not self.pg:
            return
        with self.conn.transaction():
            for table in ("runs", "users", "pages", "audit"):
                self.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.pg:
                self.conn.rollback()
            self.conn.close()
        if self.lock is not None:
            self.lock.release()


def _refuse_live_workers(side: _Side, lease: float = 60.0) -> None:
    if "id" not in side.columns("workers"):
        return
    row = side.conn.execute(
        side.sql("SELECT count(*) FROM workers WHERE ended_at IS NULL AND heartbeat_at > ?"),
        (time.time() - lease,),
    ).fetchone()
    if side.pg:
        side.conn.rollback()
    if row and row[0]:
        raise NotACrawlDatabase(
            f"{side.name}: {row[0]} workers are crawling it: stop them before copying"
        )


def copy_crawl(
    src: str, dst: str, progress: Callable[[str, int], None] = lambda table, n: None
) -> list[TableCopy]:
    """Copy every table of the crawl ``src`` into ``dst`` (created if new), resuming where an
    earlier copy stopped; returns the counts of each table on both sides."""
    if display_name(src) == display_name(dst) or (
        not is_database_url(src)
        and not is_database_url(dst)
        and Path(src).resolve() == Path(dst).resolve()
    ):
        raise NotACrawlDatabase(f"{display_name(src)}: source and destination are the same")
    source = _Side(src, write=False)
    try:
        _refuse_live_workers(source)
        target = _Side(dst, write=True)
        try:
            return _copy_tables(source, target, progress)
        finally:
            target.close()
    finally:
        source.close()


def _same_crawl(source: _Side, target: _Side) -> None:
    """A destination that holds a crawl must hold the start of this one (a resumed copy)."""
    first = "SELECT started_at FROM runs ORDER BY id LIMIT 1"
    theirs = target.conn.execute(first).fetchone()
    ours = source.conn.execute(first).fetchone()
    for side in (source, target):
        if side.pg:
            side.conn.rollback()
    if theirs is not None and (ours is None or abs(theirs[0] - ours[0]) > 1e-6):
        raise NotACrawlDatabase(
            f"{target.name}: holds another crawl: copy into a new file or an empty database"
        )


def _copy_tables(
    source: _Side, target: _Side, progress: Callable[[str, int], None]
) -> list[TableCopy]:
    _same_crawl(source, target)
    results = []
    for table, keys, wanted in TABLES:
        have = source.columns(table)
        if not have:
            continue  # an older source without this table
        cols = [c for c in wanted if c in have and c in target.columns(table)]
        # Big tables resume after the destination's last key; small ones are copied whole
        # (rows already there are kept), which needs no agreement on how text sorts.
        resumable = table in ("users", "pages", "edges", "lists", "edge_history")
        after = target.last_key(table, keys) if resumable else None
        if target.pg:
            target.conn.rollback()
        copied = 0
        batch: list[tuple[Any, ...]] = []
        for row in source.rows_after(table, keys, cols, after):
            batch.append(tuple(row))
            if len(batch) >= BATCH:
                target.write(table, cols, batch)
                copied += len(batch)
                progress(table, copied)
                batch = []
        if batch:
            target.write(table, cols, batch)
            copied += len(batch)
            progress(table, copied)
        if table == "quota":  # small and additive: bring the destination's counts up to date
            _refresh_quota(source, target, cols)
        results.append(TableCopy(table, source.count(table), copied, target.count(table)))
        if source.pg:
            source.conn.rollback()
        if target.pg:
            target.conn.rollback()
    target.finish()
    return results


def _refresh_quota(source: _Side, target: _Side, cols: list[str]) -> None:
    rows = list(source.rows_after("quota", ("client", "day", "bucket"), cols, None))
    update = target.sql(
        "UPDATE quota SET used = ?, exhausted = ? WHERE client = ? AND day = ? AND bucket = ?"
    )
    if target.pg:
        with target.conn.transaction():
            target.conn.cursor().executemany(update, [(r[3], r[4], r[0], r[1], r[2]) for r in rows])
    else:
        with contextlib.closing(target.conn.cursor()) as cur:
            cur.execute("BEGIN IMMEDIATE")
            cur.executemany(update, [(r[3], r[4], r[0], r[1], r[2]) for r in rows])
            cur.execute("COMMIT")
