"""Moving a crawl between backends (SQLite <-> PostgreSQL, or to another file or server).

Every table is brought to the source's content: the two sides are read in key order side by
side, and the destination gets the rows it lacks, the rows that differ (a purge renamed an
account, a refresh moved a follow's last sighting) and loses the rows the source no longer
holds (a purge deleted raw pages). So a copy that was interrupted continues where it stopped,
and a copy into an older copy of the same crawl brings it up to date; afterwards both sides
are read once more and compared row by row (content, not counts).

A destination holding another crawl, or one that moved on by itself (a run the source does not
have: someone crawled or refreshed the copy), is refused and left as it was. The source must
not be crawled meanwhile: a SQLite crawl is locked for the copy, a PostgreSQL crawl with live
workers is refused; a destination takes one copy at a time (its lock, or an advisory lock).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tiktok_network.store import PILOT_KEY, display_name, is_database_url, schema
from tiktok_network.store.errors import NotACrawlDatabase

BATCH = 5_000

# (table, key columns in copy order, columns): from the schema's description, so a column
# added there is copied (``store/schema.py``). Keys decide where an interrupted copy resumes.
TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (t.name, t.copy_key, t.names) for t in schema.copied()
)


# Tables compared whole in memory: small ones keyed by text, whose order differs between
# SQLite and PostgreSQL collations (the big tables have integer keys, or the direction names,
# which sort alike everywhere), and edge_history, which has no unique key.
WHOLE = ("outputs", "quota", "workers", "purged_names", "edge_history")
COPY_LOCK = 0x74746E63  # advisory lock of a PostgreSQL destination during a copy
# Rows that belong to one database and are never copied: its own copies (each database
# remembers the copies made from it, so a purge reaches a copy of a copy too).
_LOCAL = {"outputs": lambda row: row[1] == "copy"}
_SHARED_ROWS = {"outputs": "kind <> 'copy'"}  # the rows of a table both sides must hold


@dataclass
class TableCopy:
    table: str
    source_rows: int
    copied_now: int  # rows inserted, updated or deleted in the destination
    destination_rows: int
    differing: int = 0  # rows that still differ when both sides are read again

    @property
    def verified(self) -> bool:
        return self.differing == 0 and self.source_rows == self.destination_rows


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
                if write:  # rows a purge removed from the source leave no copy in free pages
                    self.conn.execute("PRAGMA secure_delete=ON")
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
        where = f" WHERE {_SHARED_ROWS[table]}" if table in _SHARED_ROWS else ""
        return int(self.conn.execute(f"SELECT count(*) FROM {table}{where}").fetchone()[0])

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

    def ordered(self, table: str, keys: tuple[str, ...], cols: list[str]) -> Iterator[tuple]:
        """Every row of ``table`` in key order, values made comparable across backends."""
        for row in self.rows_after(table, keys, cols, None):
            yield _plain(row)

    def rows_between(
        self,
        table: str,
        keys: tuple[str, ...],
        cols: list[str],
        after: tuple[Any, ...] | None,
        upto: tuple[Any, ...] | None,
        limit: int | None,
    ) -> list[tuple]:
        """Rows with keys in (after, upto], in key order, at most ``limit``."""
        tuple_ = "(" + ", ".join(keys) + ")"
        marks = "(" + ", ".join("?" * len(keys)) + ")"
        where, params = [], []
        if after is not None:
            where.append(f"{tuple_} > {marks}")
            params += list(after)
        if upto is not None:
            where.append(f"{tuple_} <= {marks}")
            params += list(upto)
        text = f"SELECT {', '.join(cols)} FROM {table}"
        text += (" WHERE " + " AND ".join(where)) if where else ""
        text += f" ORDER BY {', '.join(keys)}" + (f" LIMIT {int(limit)}" if limit else "")
        rows = [_plain(r) for r in self.conn.execute(self.sql(text), tuple(params)).fetchall()]
        if self.pg:
            self.conn.rollback()
        return rows

    def _run(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """Statements with their rows, in one committed transaction."""
        if self.pg:
            with self.conn.transaction():
                cur = self.conn.cursor()
                for text, rows in statements:
                    if rows:
                        cur.executemany(self.sql(text), rows)
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for text, rows in statements:
                if rows:
                    self.conn.executemany(text, rows)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def apply(
        self,
        table: str,
        keys: tuple[str, ...],
        cols: list[str],
        upserts: list[tuple[Any, ...]],
        deletes: list[tuple[Any, ...]],
    ) -> None:
        """One committed batch: rows written as the source has them, rows it lacks removed."""
        others = [c for c in cols if c not in keys]
        conflict = (
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in others)
            if others
            else f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
        )
        match = " AND ".join(f"{k} = ?" for k in keys)
        self._run(
            [
                (f"DELETE FROM {table} WHERE {match}", deletes),
                (
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))}){conflict}",
                    upserts,
                ),
            ]
        )

    def replace_all(self, table: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
        """A table without a unique key (edge_history) written again whole."""
        self._run(
            [
                (f"DELETE FROM {table} WHERE 1 = ?", [(1,)]),
                (
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    rows,
                ),
            ]
        )

    def set_meta(self, key: str, value: str | None) -> None:
        """One key of ``meta`` set to ``value`` (None: removed), in one transaction."""
        self._run(
            [
                ("DELETE FROM meta WHERE key = ?", [(key,)]),
                ("INSERT INTO meta(key, value) VALUES (?, ?)", [(key, value)] if value else []),
            ]
        )

    def lock_destination(self) -> None:
        """One copy at a time into a PostgreSQL database (a SQLite file has its lock)."""
        if self.pg:
            self.conn.execute("SELECT pg_advisory_lock(%s)", (COPY_LOCK,))
            self.conn.commit()

    def finish(self) -> None:
        """Sequences continue after the copied ids (PostgreSQL)."""
        if not self.pg:
            return
        with self.conn.transaction():
            for table in (t.name for t in schema.copied() if t.serial):
                self.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )

    def compact(self) -> None:
        """After rows were changed or removed in an existing SQLite copy: rewrite the file, so
        no old row (a purged name) survives in a page the copy no longer uses."""
        if not self.pg:
            self.conn.execute("VACUUM")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.pg:
                self.conn.rollback()
            self.conn.close()
        if self.lock is not None:
            self.lock.release()


def _lease_of(db: str) -> float:
    """The lease the crawl's workers run with (a worker silent for longer is gone)."""
    from tiktok_network.store import stored_settings

    if not is_database_url(db):
        return 60.0
    lease = stored_settings(db).get("lease")
    return float(lease) if isinstance(lease, int | float) and lease > 0 else 60.0


def _refuse_live_workers(side: _Side, lease: float = 60.0) -> None:
    """A PostgreSQL crawl being crawled is refused (a SQLite one: its lock says so)."""
    if not side.pg or "id" not in side.columns("workers"):
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
        _refuse_live_workers(source, _lease_of(src))
        target = _Side(dst, write=True)
        try:
            results = _copy_tables(source, target, progress)
            if any(r.copied_now and r.destination_rows for r in results):
                target.compact()
        finally:
            target.close()
    finally:
        source.close()
    record_copy(src, dst)
    return results


def record_copy(src: str, dst: str) -> None:
    """The source remembers its copy (without a password), so that a purge brings the copy up
    to date too (``export.outputs.rewrite_recorded``)."""
    from tiktok_network.store import record_output

    record_output(src, copy_name(dst), "copy", {})


def copy_name(db: str) -> str:
    """How a copy is recorded: a file's real path, or the URL without its password."""
    if is_database_url(db):
        from tiktok_network.store.pg_db import without_password

        return without_password(db)
    return str(Path(db).resolve())


def _same_crawl(source: _Side, target: _Side) -> None:
    """A destination that holds a crawl must hold this one, and no run this one lacks: a copy
    that moved on by itself (crawled or refreshed) is refused rather than overwritten."""
    runs = "SELECT id, started_at FROM runs ORDER BY id"
    theirs = [tuple(r) for r in target.conn.execute(runs).fetchall()]
    ours = {r[0]: r[1] for r in source.conn.execute(runs).fetchall()}
    for side in (source, target):
        if side.pg:
            side.conn.rollback()
    if not theirs:
        return
    first = min(ours) if ours else None
    if first is None or theirs[0][0] != first or abs(theirs[0][1] - ours[first]) > 1e-6:
        raise NotACrawlDatabase(
            f"{target.name}: holds another crawl: copy into a new file or an empty database"
        )
    ahead = [rid for rid, at in theirs if rid not in ours or abs(ours[rid] - at) > 1e-6]
    if ahead:
        raise NotACrawlDatabase(
            f"{target.name}: has {len(ahead)} runs the source does not (it was crawled or "
            "refreshed after the copy): left as it is; copy into a new file or an empty database"
        )


def _merge(
    src_rows: Iterator[tuple], dst_rows: Iterator[tuple], width: int
) -> Iterator[tuple[str, tuple]]:
    """Walk two key-ordered row streams side by side: ("add", row) for a source row the
    destination lacks or holds otherwise, ("drop", key) for a destination row the source
    lacks. ``width``: how many leading columns are the key."""
    end = object()
    a, b = next(src_rows, end), next(dst_rows, end)
    while a is not end or b is not end:
        if b is end or (a is not end and a[:width] < b[:width]):  # type: ignore[index]
            yield "add", a  # type: ignore[misc]
            a = next(src_rows, end)
        elif a is end or b[:width] < a[:width]:  # type: ignore[index]
            yield "drop", b[:width]  # type: ignore[index]
            b = next(dst_rows, end)
        else:
            if a != b:
                yield "add", a  # type: ignore[misc]
            a, b = next(src_rows, end), next(dst_rows, end)


def _plain(row: Any) -> tuple:
    """A row as comparable values: raw responses as bytes on both backends."""
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


def _key_first(keys: tuple[str, ...], cols: list[str]) -> list[str]:
    return [*keys, *(c for c in cols if c not in keys)]


def _differences(
    source: _Side, target: _Side, table: str, keys: tuple[str, ...], cols: list[str]
) -> Iterator[list[tuple[str, tuple]]]:
    """What the destination must change to hold the source's rows of ``table``, a batch of
    keys at a time (memory stays bounded; each batch is read before it is written)."""
    if table in WHOLE:
        local = _LOCAL.get(table, lambda row: False)
        theirs = sorted((r for r in target.ordered(table, keys, cols) if not local(r)), key=repr)
        ours = sorted((r for r in source.ordered(table, keys, cols) if not local(r)), key=repr)
        for side in (source, target):
            if side.pg:
                side.conn.rollback()
        if table == "edge_history":
            yield [("replace", tuple(ours))] if theirs != ours else []
            return
        mine = {r[: len(keys)]: r for r in ours}
        have = {r[: len(keys)]: r for r in theirs}
        yield [("add", row) for key, row in mine.items() if have.get(key) != row] + [
            ("drop", key) for key in have.keys() - mine.keys()
        ]
        return
    width, last = len(keys), None
    while True:
        ours = source.rows_between(table, keys, cols, last, None, BATCH)
        if not ours:  # whatever the destination holds beyond the source's last key goes
            while extra := target.rows_between(table, keys, cols, last, None, BATCH):
                yield [("drop", row[:width]) for row in extra]
                last = extra[-1][:width]
            return
        high = ours[-1][:width]
        theirs = target.rows_between(table, keys, cols, last, high, None)
        yield list(_merge(iter(ours), iter(theirs), width))
        last = high


def _copy_tables(
    source: _Side, target: _Side, progress: Callable[[str, int], None]
) -> list[TableCopy]:
    target.lock_destination()
    _refuse_live_workers(target)
    _same_crawl(source, target)
    results = []
    for table, keys, wanted in TABLES:
        have = source.columns(table)
        if not have:
            continue  # an older source without this table
        cols = _key_first(keys, [c for c in wanted if c in have and c in target.columns(table)])
        changed = _sync_table(source, target, table, keys, cols, progress)
        differing = sum(len(batch) for batch in _differences(source, target, table, keys, cols))
        results.append(
            TableCopy(table, source.count(table), changed, target.count(table), differing)
        )
        for side in (source, target):
            if side.pg:
                side.conn.rollback()
    _copy_meta(source, target)
    target.finish()
    return results


# Keys of ``meta`` that describe the crawl's data, not the database (``created_at``, the
# schema version and the app stay each database's own).
COPIED_META = (PILOT_KEY,)


def _copy_meta(source: _Side, target: _Side) -> None:
    """The destination's values of ``COPIED_META`` become the source's (or go)."""
    for key in COPIED_META:
        row = source.conn.execute(source.sql("SELECT value FROM meta WHERE key = ?"), (key,))
        value = row.fetchone()
        target.set_meta(key, value[0] if value else None)
    if source.pg:
        source.conn.rollback()


def _sync_table(
    source: _Side,
    target: _Side,
    table: str,
    keys: tuple[str, ...],
    cols: list[str],
    progress: Callable[[str, int], None],
) -> int:
    """Bring one table of the destination to the source's rows, a committed batch at a time;
    returns the rows written or removed."""
    changed = 0
    for batch in _differences(source, target, table, keys, cols):
        upserts = [row for kind, row in batch if kind == "add"]
        deletes = [row for kind, row in batch if kind == "drop"]
        for kind, rows in batch:
            if kind == "replace":
                target.replace_all(table, cols, list(rows))
                changed += len(rows) or 1
        if upserts or deletes:
            target.apply(table, keys, cols, upserts, deletes)
            changed += len(upserts) + len(deletes)
            progress(table, changed)
    return changed
