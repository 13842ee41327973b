"""The daily quota and the rate limit of one organisation, shared by every worker of a
PostgreSQL crawl.

The Research API counts requests per client and day whatever process sends them, so workers on
several machines must draw from one count. Each request is debited in the database **before**
it is sent, through ``tn_quota_debit`` (an advisory lock makes check-and-add atomic), so
together the workers never send more than the budget; a connection that never opened is
refunded. A request debited and then lost to a ``kill -9`` before it left stays counted: the
ledger errs on the side of the service's limit. The rate limit is a row of next free send
times (``tn_rate_slot``): each request takes the next slot, spaced ``1/qps`` apart across all
workers.

Async (psycopg's ``AsyncConnection``), because the check happens on the event loop before each
request; a lost connection is waited out like the store's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg

from tiktok_network.store.operations import QUOTA_DAY
from tiktok_network.store.pg_db import Reconnect, qmark_to_pg, redact

log = logging.getLogger("tiktok_network.store")
T = TypeVar("T")


class PgSharedLedger:
    """Quota debits and rate-limit slots over one async connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = redact(url)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=10
            )
        return self._conn

    async def _call(self, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        waits = Reconnect()
        while True:
            try:
                async with self._lock:
                    conn = await self._connection()
                    return await fn(conn)
            except psycopg.OperationalError as exc:
                delay = waits.next_delay()
                if delay is None:
                    raise
                if waits.first:
                    log.warning("quota ledger: lost %s (%s): waiting", self.name, exc)
                await asyncio.sleep(delay)

    async def debit(
        self, client: str, day: int, bucket: str, group: tuple[str, ...], budget: int, n: int = 1
    ) -> int:
        """Take ``n`` requests of ``bucket``; returns how many were granted (-1: the service
        said the day is over)."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "SELECT tn_quota_debit(%s, %s, %s, %s, %s, %s)",
                (client, day, bucket, list(group), budget, n),
            )
            row = await cur.fetchone()
            return int(row[0]) if row else 0

        return await self._call(run)

    async def refund(self, client: str, day: int, bucket: str, n: int = 1) -> None:
        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                "UPDATE quota SET used = GREATEST(used - %s, 0)"
                " WHERE client=%s AND day=%s AND bucket=%s",
                (n, client, day, bucket),
            )

        await self._call(run)

    async def mark_exhausted(self, client: str, day: int, bucket: str, message: str | None) -> None:
        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO quota(client, day, bucket, used, exhausted, server_message, server_at)"
                " VALUES (%s, %s, %s, 0, 1, %s, %s) ON CONFLICT (client, day, bucket) DO UPDATE"
                " SET exhausted=1, server_message=coalesce(EXCLUDED.server_message,"
                " quota.server_message), server_at=coalesce(EXCLUDED.server_at, quota.server_at)",
                (client, day, bucket, message, time.time() if message else None),
            )

        await self._call(run)

    async def day_use(self, client: str, day: int) -> dict[str, tuple[int, bool]]:
        async def run(conn: psycopg.AsyncConnection[Any]) -> dict[str, tuple[int, bool]]:
            cur = await conn.execute(qmark_to_pg(QUOTA_DAY), (client, day))
            return {b: (int(u), bool(e)) for b, u, e in await cur.fetchall()}

        return await self._call(run)

    async def rate_slot(self, client: str, interval: float) -> float:
        """Seconds to wait before this request's turn in the shared rate limit."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> float:
            cur = await conn.execute("SELECT tn_rate_slot(%s, %s)", (client, interval))
            row = await cur.fetchone()
            return float(row[0]) if row else 0.0

        return await self._call(run)

    def rate_limiter(self, client: str, qps: float) -> SharedRateLimiter:
        """At most ``qps`` requests a second from every worker of the crawl together."""
        return SharedRateLimiter(self, client, qps)

    async def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()


class SharedRateLimiter:
    """The client's limiter interface (``await acquire()``) over the shared slots: at most
    ``qps`` requests a second from all workers together. ``margin`` spaces slots a little wider
    than ``1/qps``, since the server stamps a request when it arrives."""

    def __init__(self, ledger: PgSharedLedger, client: str, qps: float, margin: float = 0.05):
        self._ledger = ledger
        self._client = client
        self._interval = (1.0 + margin) / qps

    async def acquire(self) -> None:
        wait = await self._ledger.rate_slot(self._client, self._interval)
        if wait > 0:
            await asyncio.sleep(wait)
