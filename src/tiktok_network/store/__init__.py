"""Crawl state: the only package that speaks SQL (interface, SQLite and PostgreSQL backends,
writer, read model)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiktok_network.store.backends import display_name as display_name
from tiktok_network.store.backends import open_read_connection as open_read_connection
from tiktok_network.store.base import CrawlStore
from tiktok_network.store.urls import is_database_url

if TYPE_CHECKING:
    from tiktok_network.store.base import SharedQuota
    from tiktok_network.store.read import CrawlReader


def crawl_label(db: str | Path) -> str:
    """A crawl's short name (reports): the file's stem, or the PostgreSQL database's name."""
    if is_database_url(db):
        return str(db).rsplit("/", 1)[-1].split("?")[0] or "postgresql"
    return Path(db).stem


def open_store(db: str | Path, *, lease: float | None = None) -> CrawlStore:
    """The store for a ``--db`` value: a SQLite file, or a PostgreSQL URL shared by workers."""
    if is_database_url(db):
        from tiktok_network.store.postgres import DEFAULT_LEASE, PgStore

        return PgStore(str(db), lease=lease or DEFAULT_LEASE)
    from tiktok_network.store.sqlite import SqliteStore

    return SqliteStore(db)


def open_reader(db: str | Path) -> CrawlReader:
    """A read-only snapshot of a crawl, on either backend."""
    from tiktok_network.store.read import CrawlReader

    return CrawlReader(db)


def quota_ledger_for(db: str | Path, configured: str | None) -> str | None:
    """The machine's quota ledger a crawl of ``db`` counts in (``configured``, or the default
    one); None for a database shared by workers, which keeps its quota in itself."""
    if is_database_url(db):
        return None
    from tiktok_network.store.ledger import default_ledger_path

    return configured or str(default_ledger_path())


def is_file_crawl(db: str | Path) -> bool:
    """Whether ``db`` is a SQLite file (it can be staged, locked, copied as a file)."""
    return not is_database_url(db)


def location(db: str | Path) -> str | Path:
    """``db`` as the store takes it: a URL stays a string, a file becomes a path."""
    return str(db) if is_database_url(db) else Path(db)


def open_shared_quota(db: str | Path) -> SharedQuota | None:
    """The quota a crawl shared by workers debits in its own database (PostgreSQL); None for
    a file's crawl, which counts in the machine's ledger (psycopg is imported only here)."""
    if not is_database_url(db):
        return None
    from tiktok_network.store.pg_quota import PgSharedLedger

    return PgSharedLedger(str(db))


def stored_settings(db: str | Path) -> dict[str, object]:
    """The settings the crawl's most recent run was started with ({} for a new crawl)."""
    if is_database_url(db):
        from tiktok_network.store.pg_db import stored_settings_pg

        return stored_settings_pg(str(db))
    from tiktok_network.store.sqlite_db import stored_settings as from_file

    return from_file(db)


def database_errors() -> tuple[type[BaseException], ...]:
    """What a failing database raises, for ``except`` clauses outside the store: SQLite's
    errors, and psycopg's once a PostgreSQL crawl has loaded it (evaluated when an exception
    is being matched, so a SQLite-only run never imports psycopg)."""
    import sqlite3
    import sys

    errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors += (psycopg.Error,)
    return errors


def has_users(db: str | Path) -> bool:
    """Whether the crawl holds any user (False for a database not made yet)."""
    if is_database_url(db):
        from tiktok_network.store.pg_db import has_users_pg

        return has_users_pg(str(db))
    if not Path(db).exists():
        return False
    from tiktok_network.store.read import CrawlReader

    with CrawlReader(db) as reader:
        return reader.has_users()


def crawl_identity(db: str | Path) -> str | None:
    """The identity of the crawl in ``db`` (None for a database not made yet); a database
    that is not a crawl (or of a newer version) raises ``NotACrawlDatabase``."""
    if is_database_url(db):
        from tiktok_network.store.pg_db import is_new_crawl_pg

        if is_new_crawl_pg(str(db)):
            return None
    elif not Path(db).exists():
        return None
    with open_reader(db) as reader:
        return reader.crawl_identity()


def record_output(db: str | Path, path: str, kind: str, options: dict[str, object]) -> bool:
    """Remember in the crawl an output folder and how it was written (``refresh`` rewrites it
    after a purge). Best effort: False where the crawl cannot take the note (a read-only file,
    a crawl made before outputs were recorded), which the export does not fail for."""
    import time

    import tiktok_network.store.lifecycle as lifecycle

    return _write_note(
        db,
        "outputs",
        lambda execute: lifecycle.record_output(execute, path, kind, options, time.time()),
    )


PILOT_KEY = "plan_pilot"  # the meta key of what a plan's pilot measured (copy.COPIED_META)


def record_pilot(db: str | Path, measured: str) -> bool:
    """Keep what a plan's pilot measured (JSON), so later plans and ``status`` forecast from
    it while the crawl has not discovered that depth itself. Best effort, like outputs."""
    import tiktok_network.store.lifecycle as lifecycle

    return _write_note(db, "meta", lambda execute: lifecycle.set_meta(execute, PILOT_KEY, measured))


def _write_note(db: str | Path, table: str, write: Callable[[Any], None]) -> bool:
    """``write(execute)`` in one transaction of the crawl; False where the crawl cannot take
    it (no such table, a read-only file)."""
    import sqlite3

    from tiktok_network.store.errors import NotACrawlDatabase

    try:
        with open_reader(db) as reader:
            if not reader.has_table(table):
                return False
        if is_database_url(db):
            from tiktok_network.store.pg_db import connect, qmark_to_pg

            conn = connect(str(db))
            try:
                with conn.transaction():
                    write(lambda sql, params: conn.execute(qmark_to_pg(sql), params))
            finally:
                conn.close()
            return True
        from tiktok_network.store.sqlite_db import connect as connect_file

        file = connect_file(db)
        try:
            file.execute("BEGIN IMMEDIATE")
            write(file.execute)
            file.execute("COMMIT")
        finally:
            file.close()
        return True
    except (NotACrawlDatabase, OSError, sqlite3.Error):
        return False
    except database_errors():
        return False
