"""The backend a ``--db`` names, for what the read model needs before any store is open: its
name in messages and its read connection. ``store/__init__.py`` chooses the rest (the store,
the quota, the stored settings) and re-exports these; they live apart so that the read model
can import them without importing the package that imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tiktok_network.store.urls import is_database_url

if TYPE_CHECKING:
    from tiktok_network.store.base import ReadConnection

__all__ = ["display_name", "open_read_connection"]


def display_name(db: str | Path) -> str:
    """How messages name a crawl: a file's path, or a URL without its password."""
    if is_database_url(db):
        from tiktok_network.store.pg_db import redact

        return redact(str(db))
    return str(db)


def open_read_connection(db: str | Path) -> ReadConnection:
    """A read-only snapshot of a crawl database on its backend: the read model's one door."""
    if is_database_url(db):
        from tiktok_network.store.pg_db import PgReadConnection

        return PgReadConnection(str(db))
    from tiktok_network.store.sqlite_db import SqliteReadConnection

    return SqliteReadConnection(db)
