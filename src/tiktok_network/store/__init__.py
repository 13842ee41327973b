"""Crawl state: the only package that speaks SQL (interface, SQLite backend, writer, read model)."""

from __future__ import annotations

from tiktok_network.store.base import CrawlStore


def open_store(db: str) -> CrawlStore:
    """The store for a ``--db`` value: a SQLite file (a PostgreSQL URL is the next backend)."""
    from tiktok_network.store.sqlite import SqliteStore

    return SqliteStore(db)
