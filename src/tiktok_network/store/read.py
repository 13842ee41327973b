"""The read model: every query that status, the exports, the analysis and the Python API make.

A ``CrawlReader`` is one read-only transaction on the crawl database, so every file of one
export, and every figure of one analysis, describes the same instant even while a crawl keeps
writing (WAL lets readers and the writer go on together). Rows come in batches, never as one
list in memory, so a crawl of tens of millions of edges exports in constant memory. A second
backend implements the same methods.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from tiktok_network.store.pg_db import PgReadConnection

from tiktok_network.store.base import UserStatus
from tiktok_network.store.sqlite import connect, decompress
from tiktok_network.store.urls import is_database_url

BATCH = 10_000


class CrawlReader:
    """A read-only view of a crawl database at one instant, SQLite file or PostgreSQL URL.

    The SQL is written once for both: PostgreSQL runs it through ``PgReadConnection``
    (placeholders translated, scans on server-side cursors, one repeatable-read snapshot).
    """

    def __init__(self, db: str | Path) -> None:
        self.pg: PgReadConnection | None = None
        if is_database_url(db):
            from tiktok_network.store.pg_db import PgReadConnection, redact

            self.pg = PgReadConnection(db)
            self.conn: Any = self.pg
            self.name = redact(db)
        else:
            self.conn = connect(db, readonly=True)
            self.conn.execute("BEGIN")  # one read transaction: every query sees the same state
            self.name = str(Path(db).resolve())
        self._names: list[str | None] | None = None
        self._concat = "string_agg" if self.pg else "group_concat"

    def __enter__(self) -> CrawlReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()
            return
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("COMMIT")
        self.conn.close()

    def has_table(self, name: str) -> bool:
        if self.pg is not None:
            return self.pg.has_table(name)
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
        ).fetchone()
        return row is not None

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        if self.pg is not None:
            yield from self.pg.stream(sql, params, BATCH)
            return
        cur = self.conn.execute(sql, params)
        while batch := cur.fetchmany(BATCH):
            yield from batch

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()[0]

    # ----------------------------------------------------------------- users
    def names(self) -> list[str | None]:
        """Usernames indexed by user id (ids are dense), loaded once."""
        if self._names is None:
            names: list[str | None] = [None] * (
                self._one("SELECT coalesce(max(id), 0) FROM users") + 1
            )
            for i, name in self._rows("SELECT id, username FROM users"):
                names[i] = name
            self._names = names
        return self._names

    def has_users(self) -> bool:
        return self.conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def parsing_list(self) -> Iterator[tuple[str, int]]:
        """(username, status) of every user with a verdict, in the order they got it."""
        return self._rows(
            "SELECT username, status FROM users WHERE status IS NOT NULL ORDER BY finished_at, id"
        )

    def queue(self) -> Iterator[tuple[str]]:
        return self._rows("SELECT username FROM users WHERE status IS NULL ORDER BY depth, id")

    def nodes(self) -> Iterator[tuple[Any, ...]]:
        """(id, username, display_name, depth, status, first_seen, info JSON, list notes)."""
        return self._rows(
            "SELECT u.id, u.username, u.display_name, u.depth, u.status, u.first_seen, u.info,"
            f" (SELECT {self._concat}(l.direction || ': ' || l.note, '; ') FROM lists l"
            "  WHERE l.user_id = u.id AND l.note IS NOT NULL) FROM users u ORDER BY u.id"
        )

    def depth_profile(self) -> dict[str, Any]:
        """Users known and crawled per depth: the coverage figures of the analysis report."""
        rows = self.conn.execute(
            "SELECT depth, count(*), sum(CASE WHEN status = ? THEN 1 ELSE 0 END) FROM users"
            " GROUP BY depth",
            (UserStatus.PARSED,),
        ).fetchall()
        return {
            "known": sum(k for _, k, _ in rows),
            "crawled": sum(c or 0 for _, _, c in rows),
            "depth_profile": {str(d): {"known": k, "crawled": c or 0} for d, k, c in rows},
        }

    # ----------------------------------------------------------------- pages
    def page_responses(self) -> Iterator[tuple[int, str]]:
        """(user id, raw response JSON) of every page, in the order they were fetched."""
        for user_id, blob in self._rows("SELECT user_id, response FROM pages ORDER BY id"):
            yield user_id, decompress(blob).decode("utf-8")

    def page_times(self) -> Iterator[tuple[int, float]]:
        return self._rows("SELECT user_id, fetched_at FROM pages ORDER BY id")

    # ----------------------------------------------------------------- edges
    def edge_count(self) -> int:
        return int(self._one("SELECT count(*) FROM edges"))

    def edge_ids(self) -> Iterator[tuple[int, int]]:
        return self._rows("SELECT src, dst FROM edges")

    def edges_with_provenance(self) -> Iterator[tuple[int, int, float, str]]:
        """(src, dst, first seen, found via following or followers list)."""
        return self._rows(
            "SELECT e.src, e.dst, p.fetched_at, p.direction FROM edges e JOIN pages p ON p.id = e.page_id"
        )

    def summary(self) -> tuple[int, int, float]:
        """Users known, edges, edge reciprocity: the demo's closing figures."""
        users = int(self._one("SELECT count(*) FROM users"))
        edges = self.edge_count()
        mutual = int(
            self._one(
                "SELECT count(*) FROM edges e WHERE EXISTS"
                " (SELECT 1 FROM edges r WHERE r.src = e.dst AND r.dst = e.src)"
            )
        )
        return users, edges, (mutual / edges if edges else 0.0)

    def _edge_array(self, np: Any) -> np.ndarray:
        """The (m, 2) edge array, filled a batch at a time: never a list of m tuples."""
        edges = np.empty((self.edge_count(), 2), dtype=np.int64)
        filled = 0
        batch: list[tuple[int, int]] = []
        for row in self.edge_ids():
            batch.append(row)
            if len(batch) == BATCH:
                edges[filled : filled + BATCH] = batch
                filled += BATCH
                batch = []
        if batch:
            edges[filled : filled + len(batch)] = batch
            filled += len(batch)
        return edges[:filled]

    def graph_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, str]:
        """Names by id, a mask of parsed users, the (m, 2) edge array and a content digest."""
        import numpy as np  # only the analysis needs it: not every command's start-up

        top = self._one("SELECT coalesce(max(id), 0) FROM users")
        names = [""] * (top + 1)
        parsed = np.zeros(top + 1, dtype=bool)
        for user_id, username, status in self._rows("SELECT id, username, status FROM users"):
            names[user_id] = username
            parsed[user_id] = status == UserStatus.PARSED
        edges = self._edge_array(np)
        last_page = self._one("SELECT max(id) FROM pages")
        digest = hashlib.sha256(f"{self.name}:{len(edges)}:{last_page}".encode()).hexdigest()
        return names, parsed, edges, digest
