"""Running the engine as a command does: progress, signals, a staged copy kept in sync, the
outputs after the run (the policy is ``crawl/run.py``'s). Shared by ``crawl``, ``refresh`` and
``batch``; the settings are prepared by ``crawl/run.py`` before."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
from typing import TYPE_CHECKING

import click
from rich.console import Console

from tiktok_network.cli.batch import sync_stage
from tiktok_network.cli.errors import UserError, describe_database_error, say
from tiktok_network.crawl.results import EXIT_FATAL
from tiktok_network.store import database_errors, display_name

if TYPE_CHECKING:
    from tiktok_network.api.auth import Credentials
    from tiktok_network.config import CrawlSettings
    from tiktok_network.crawl.engine import CrawlResult, Engine
    from tiktok_network.crawl.modes import Mode
    from tiktok_network.store.base import RefreshMarks
    from tiktok_network.store.staging import StagedDatabase


def adopt_crawl_settings(settings: CrawlSettings, *, what_if: bool = False) -> None:
    """A rerun continues the crawl as it was run: depth, directions and quotas not given now
    come from the database, and a change is said before any work (``what_if``: a plan, which
    changes nothing, says what it assumes instead)."""
    from tiktok_network.crawl.run import adopt_crawl_settings as adopt

    changes = adopt(settings)
    if changes and what_if:
        say("planned with settings other than the crawl's (which stay): " + ", ".join(changes))
    elif changes:
        say("settings changed since the last run of this crawl: " + ", ".join(changes))


def run_crawl(
    settings: CrawlSettings,
    credentials: Credentials,
    seeds: list[str],
    *,
    export: str = "always",
    console: Console | None = None,
    stage: tuple[StagedDatabase | None, float] = (None, 0.0),
    refresh: RefreshMarks | None = None,
    mode: Mode | None = None,
) -> CrawlResult:
    """Run the crawl (or with ``refresh`` a refresh round, or another ``mode``: a collection of
    videos); ``export`` is always, at-end (not on a stop with work left), never, or for a
    refresh: refresh (rewrite the recorded outputs) or refresh+out (and write --out)."""
    from tiktok_network.store.errors import CrawlInUse, NotACrawlDatabase

    console = console or Console(stderr=True)
    from tiktok_network.cli.progress import setup_logging

    setup_logging(settings.quiet, console, settings.log_file)
    try:
        return asyncio.run(
            _crawl_async(settings, credentials, seeds, export, console, stage, refresh, mode)
        )
    except (NotACrawlDatabase, CrawlInUse) as exc:
        raise UserError(str(exc)) from None
    except database_errors() as exc:
        raise UserError(describe_database_error(display_name(settings.db), exc)) from None


async def _crawl_async(
    settings: CrawlSettings,
    credentials: Credentials,
    seeds: list[str],
    export: str,
    console: Console,
    stage: tuple[StagedDatabase | None, float],
    refresh: RefreshMarks | None = None,
    mode: Mode | None = None,
) -> CrawlResult:
    from tiktok_network.cli.progress import run_with_progress
    from tiktok_network.crawl.engine import Engine
    from tiktok_network.crawl.modes import Refresh
    from tiktok_network.crawl.video_checks import check_videos

    if refresh is not None:
        mode = Refresh(refresh, check_videos if refresh.videos else None)
    engine = Engine(settings, credentials, mode=mode)
    _stop_on_signals(engine, settings.drain_timeout)
    staged, every = stage
    syncing = asyncio.create_task(sync_stage(staged, every)) if staged else None
    try:
        result = await run_with_progress(engine, seeds, settings, console)
    finally:
        if syncing is not None:
            syncing.cancel()
            await asyncio.gather(syncing, return_exceptions=True)
    if result.fatal:
        say(f"error: {result.fatal}")
    try:
        if refresh is not None:
            await _refresh_outputs(settings, export, engine)
        else:
            await _write_outputs(settings, export, result)
    except OSError as exc:  # a full disk under --out: the crawl itself is safe
        say(
            f"error: cannot write the outputs to {settings.out} ({exc.strerror or exc}): the"
            f" crawl is safe in {display_name(settings.db)}; write them with tiktok-network"
            " export once there is room"
        )
        result = dataclasses.replace(result, exit_code=EXIT_FATAL)
    state = (
        "complete"
        if result.complete
        else f"stopped ({result.reason})"
        + ("" if result.exit_code == 1 else "; run the same command to continue")
    )
    what = engine.mode.command if engine.mode.command != "plan" else "crawl"
    fetched = (
        f"{result.stats.pages:,} pages, {result.stats.items:,} videos"
        if what == "videos"
        else f"{result.stats.pages:,} pages, {result.stats.infos:,} user infos"
    )
    say(f"{what} {state}: {fetched}, {result.requests:,} requests this run", quiet=settings.quiet)
    return result


async def _refresh_outputs(settings: CrawlSettings, export: str, engine: Engine) -> None:
    """After a refresh run: what the round is, and every recorded output written again (a
    purged account must leave the outputs too), plus --out if given."""
    from tiktok_network.export.outputs import ExportRequest, rewrite_recorded, write_outputs

    found = engine.refresh_round
    if found is not None:
        say(
            (
                f"refresh round started: {found.users:,} users and {found.lists:,} lists due"
                if found.new
                else f"refresh round continued: {found.users:,} users left"
            ),
            quiet=settings.quiet,
        )
    if export == "never":
        return
    if export == "refresh+out":
        await asyncio.to_thread(write_outputs, settings.db, settings.out, ExportRequest())
    for path, what in await asyncio.to_thread(rewrite_recorded, settings.db):
        say(f"outputs: {path}: {what}", quiet=settings.quiet)


def _stop_on_signals(engine: Engine, drain_timeout: float) -> None:
    """SIGINT, SIGTERM and SIGUSR1 stop the crawl gently; a second Ctrl-C quits at once."""
    from tiktok_network.crawl.engine import StopReason

    interrupts = 0

    def on_signal(sig: signal.Signals) -> None:
        nonlocal interrupts
        if sig == signal.SIGINT:
            interrupts += 1
            if interrupts > 1:
                os._exit(130)  # committed state is consistent: every commit is a whole transaction
        first = not engine.stop_event.is_set()
        engine.request_stop(StopReason.SIGNAL)  # before any output: stderr may be a closed pipe
        if first:
            with contextlib.suppress(OSError):
                click.echo(
                    f"{sig.name}: stopping; in-flight requests get {drain_timeout:g}s"
                    + (" (Ctrl-C again to quit at once)" if sig == signal.SIGINT else ""),
                    err=True,
                )

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        loop.add_signal_handler(sig, on_signal, sig)


async def _write_outputs(settings: CrawlSettings, export: str, result: CrawlResult) -> None:
    """The CSVs at the end of a run: always, only when the crawl is done (a batch job that must
    leave in time), or never; and never after a run that failed before fetching anything (a
    wrong secret): the outputs already there stay as they were."""
    from tiktok_network.crawl.run import outputs_after

    fetched = bool(result.stats.pages or result.stats.infos)
    what = outputs_after(export, result.exit_code, fetched)
    if what == "keep":
        say("nothing fetched this run: outputs left as they were", quiet=settings.quiet)
    elif what == "write":
        from tiktok_network.export.outputs import ExportRequest, write_outputs

        written = await asyncio.to_thread(write_outputs, settings.db, settings.out, ExportRequest())
        say(
            f"outputs: {settings.out}/ ({written['network.csv']:,} edges in network.csv)",
            quiet=settings.quiet,
        )
    elif what == "later":
        say(
            "outputs are written when the crawl completes (or at any time: tiktok-network export)",
            quiet=settings.quiet,
        )
