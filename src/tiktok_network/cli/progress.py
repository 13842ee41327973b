"""Progress output of the CLI: a live rich display on a terminal, plain lines in batch logs.

A Slurm log is not a terminal: carriage-return animations turn into one endless line there,
so off a terminal the crawl writes one readable line every ``--log-every`` seconds instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from tiktok_network.config import CrawlSettings
from tiktok_network.crawl.engine import Engine
from tiktok_network.quota_day import iso_utc
from tiktok_network.store.status import STATUS_NAMES, CrawlStatus, read_status

LOGGER = "tiktok_network"


class UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def setup_logging(quiet: bool, console: Console | None = None, log_file: str | None = None) -> None:
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO if log_file else logging.ERROR if quiet else logging.INFO)
    if log_file:
        try:
            file_handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:  # said in one line by the command's error decorator
            from tiktok_network.config import ConfigError

            raise ConfigError(
                f"{log_file}: cannot write the log file ({exc.strerror or exc})"
            ) from None
        file_handler.setFormatter(UTCFormatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(file_handler)
    handler: logging.Handler
    if console is not None and console.is_terminal:
        handler = RichHandler(
            console=console, show_path=False, markup=False, log_time_format="%H:%M:%S"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(UTCFormatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.ERROR if quiet else logging.INFO)
    logger.addHandler(handler)


def to_log_files(message: str) -> None:
    """Write a line the CLI prints (the final summary, the outputs) to the --log-file too."""
    logger = logging.getLogger(LOGGER)
    record = logger.makeRecord(LOGGER, logging.INFO, __file__, 0, message, None, None)
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def summary_line(engine: Engine, status: CrawlStatus | None, settings: CrawlSettings) -> str:
    st = engine.stats
    elapsed = max(time.monotonic() - st.started, 1e-9)
    requests = engine.client.counters["requests"] if engine.client else 0
    used = engine.quota.follow_used() if engine.quota else 0
    parts = [
        f"pages {st.pages:,}",
        # Entries received this run; an edge can arrive twice (from both ends' lists), so the
        # edges stored are counted by the database (the status below), not here.
        f"entries {st.items:,}",
        f"req/s {requests / elapsed:.1f}",
        f"quota {used:,}/{settings.follow_quota:,} (left {max(0, settings.follow_quota - used):,})",
    ]
    done = ", ".join(f"{STATUS_NAMES[k]} {v:,}" for k, v in sorted(st.users_done.items()))
    if done:
        parts.append(f"users: {done}")
    if status is not None:
        parts.append(f"edges stored {status.edges:,}")
        parts.append(f"queued {status.queued_in_depth:,}")
        parts.append(
            f"left ~{status.est_requests:,} req = {status.est_requests / settings.follow_quota:.1f} days"
        )
    if engine.client:
        c = engine.client.counters
        parts.append(f"retries {c['retries']:,} 429s {c['rate_limited']:,}")
    if st.quota_wait_until:
        parts.append(f"waiting for quota until {iso_utc(st.quota_wait_until)}")
    return " | ".join(parts)


def _table(engine: Engine, status: CrawlStatus | None, settings: CrawlSettings) -> Group:
    table = Table(title="users by depth", show_header=True, expand=False)
    table.add_column("depth", justify="right")
    table.add_column("known", justify="right")
    table.add_column("done", justify="right")
    table.add_column("queued", justify="right")
    if status is not None:
        for depth in sorted(status.by_depth):
            d = status.by_depth[depth]
            table.add_row(str(depth), f"{d['known']:,}", f"{d['done']:,}", f"{d['queued']:,}")
    return Group(table, Text(summary_line(engine, status, settings).replace(" | ", "\n")))


async def show_progress(engine: Engine, settings: CrawlSettings, console: Console) -> None:
    """Refresh until cancelled: live on a terminal, a plain line every log_every otherwise."""
    log = logging.getLogger(LOGGER + ".progress")
    status: CrawlStatus | None = None

    def refresh_status() -> CrawlStatus | None:
        with contextlib.suppress(Exception):  # a status read must never disturb the crawl
            return read_status(
                settings.db,
                max_depth=settings.max_depth,
                day_seconds=settings.day_seconds,
                ledger=settings.quota_ledger,
            )
        return status

    if settings.quiet or not console.is_terminal:
        while True:  # plain lines; with --quiet they reach only the --log-file, if any
            await asyncio.sleep(settings.log_every)
            status = await asyncio.to_thread(refresh_status)
            log.info("%s", summary_line(engine, status, settings))
    last_status = 0.0
    with Live(_table(engine, status, settings), console=console, refresh_per_second=2) as live:
        while True:
            await asyncio.sleep(1.0)
            if time.monotonic() - last_status > 3:
                status, last_status = await asyncio.to_thread(refresh_status), time.monotonic()
            live.update(_table(engine, status, settings))


async def run_with_progress(
    engine: Engine, seeds: list[str], settings: CrawlSettings, console: Console
) -> Any:
    """Run the crawl with the progress display beside it; the display never outlives it."""
    progress = asyncio.create_task(show_progress(engine, settings, console))
    try:
        return await engine.run(seeds)
    finally:
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
