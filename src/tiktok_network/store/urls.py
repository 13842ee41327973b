"""What a ``--db`` value names: a SQLite file or a PostgreSQL URL (a leaf module, so every part
of the store can ask without importing the rest)."""

from __future__ import annotations

from pathlib import Path


def is_database_url(db: str | Path) -> bool:
    """A PostgreSQL URL rather than a SQLite file."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))
