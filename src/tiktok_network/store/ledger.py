"""The daily quota ledger of a client: one small SQLite file shared by every crawl on the machine.

The Research API counts requests per client key and UTC day, not per crawl database. A count
kept in each crawl's database let two crawls with the same key each believe they had the whole
quota, and a crawl in a new database knew nothing of the day's use. The ledger lives in the
user's state directory (``$XDG_STATE_HOME/tiktok-network/quota.db``, else
``~/.local/state/...``; the ``quota_ledger`` setting moves it) and is keyed by a hash of the
client key and the API base (an emulator on another port is another service with its own
quota). Crawls add what they used after each commit and read back the day's total, so each
sees the others' use within one batch. Only requests that reached the service are counted
(the client refunds a connection that never opened). When the service itself says the quota is
used up, its message and the time are kept for ``status``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tiktok_network.store.base import QuotaDelta

SCHEMA = """
CREATE TABLE IF NOT EXISTS quota(
    client TEXT NOT NULL, day INTEGER NOT NULL, bucket TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, exhausted INTEGER NOT NULL DEFAULT 0,
    server_message TEXT, server_at REAL,
    PRIMARY KEY(client, day, bucket)) WITHOUT ROWID;
"""


class LedgerError(Exception):
    """The ledger file cannot be opened or written; the message names it."""


def default_ledger_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tiktok-network" / "quota.db"


@dataclass(frozen=True)
class BucketUse:
    used: int
    exhausted: bool
    server_message: str | None = None
    server_at: float | None = None


class QuotaLedger:
    """Not thread-safe: used from the store writer's thread, or briefly by ``status``."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                # A rollback journal, not WAL: the state directory is often on NFS (a home
                # directory), where WAL's shared memory is unsafe; writes are once a second.
                self.conn.execute("PRAGMA journal_mode=DELETE")
                self.conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"{self.path}: cannot open the quota ledger ({exc})") from None

    def add(self, deltas: Iterable[QuotaDelta]) -> dict[tuple[str, int, str], BucketUse]:
        """Record use; the day's totals of the touched buckets, every crawl's use included."""
        rows = [d for d in deltas if d.used or d.exhausted]
        if not rows:
            return {}
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "INSERT INTO quota(client, day, bucket, used, exhausted, server_message, server_at)"
                " VALUES (?, ?, ?, max(?, 0), ?, ?, ?) ON CONFLICT(client, day, bucket) DO UPDATE"
                " SET used=max(quota.used + ?, 0),"  # a refund is a negative delta
                " exhausted=max(quota.exhausted, excluded.exhausted),"
                " server_message=coalesce(excluded.server_message, quota.server_message),"
                " server_at=coalesce(excluded.server_at, quota.server_at)",
                [
                    (
                        d.client,
                        d.day,
                        d.bucket,
                        d.used,
                        int(d.exhausted),
                        d.server_message,
                        time.time() if d.server_message else None,
                        d.used,
                    )
                    for d in rows
                ],
            )
            totals = self._read({(d.client, d.day) for d in rows})
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise LedgerError(f"{self.path}: cannot write the quota ledger ({exc})") from None
        return totals

    def day_use(self, client: str, day: int) -> dict[str, BucketUse]:
        return {b: use for (_, _, b), use in self._read({(client, day)}).items()}

    def _read(self, keys: set[tuple[str, int]]) -> dict[tuple[str, int, str], BucketUse]:
        out: dict[tuple[str, int, str], BucketUse] = {}
        for client, day in keys:
            for bucket, used, exhausted, message, at in self.conn.execute(
                "SELECT bucket, used, exhausted, server_message, server_at FROM quota"
                " WHERE client=? AND day=?",
                (client, day),
            ):
                out[(client, day, bucket)] = BucketUse(used, bool(exhausted), message, at)
        return out

    def close(self) -> None:
        self.conn.close()
