"""`tiktok-network crawl`: the crawl as a user runs it (signals, staging, exports, requeue)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from tiktok_network.store import database_errors, display_name, is_database_url

if TYPE_CHECKING:
    from tiktok_network.api.auth import Credentials
    from tiktok_network.config import CrawlSettings
    from tiktok_network.crawl.engine import CrawlResult, Engine
    from tiktok_network.store.base import RefreshMarks
    from tiktok_network.store.staging import StagedDatabase
from tiktok_network.cli.batch import requeue_slurm_job, stage_in, stage_out, sync_stage
from tiktok_network.cli.errors import UserError, describe_database_error, one_line_errors, say
from tiktok_network.cli.options import crawl_options, seed_options
from tiktok_network.crawl.results import EXIT_FATAL

EXAMPLES = """\b
Examples:
  tiktok-network crawl alice @bob https://www.tiktok.com/@carol --max-depth 1
  tiktok-network crawl --seeds users.csv --column handle --direction both --db lab.db --out outputs/
  tiktok-network crawl --db lab.db      # continue the crawl as it was run
"""


@click.command(epilog=EXAMPLES)
@seed_options
@click.option("--no-export", is_flag=True, help="Do not write the CSV outputs at the end.")
@click.option(
    "--slurm-requeue",
    is_flag=True,
    help="Inside a Slurm job, requeue it (scontrol) when exiting 75 with work left; after a "
    "quota stop, hold it until the quota resets. Outputs are then left to the final run.",
)
@click.option(
    "--stage-dir",
    type=click.Path(file_okay=False),
    help="Work on a copy of --db in this folder (node-local scratch) and copy it back with "
    "SQLite's online backup every --stage-every seconds and at every exit.",
)
@click.option(
    "--stage-every",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds between copies of the staged database back to --db.",
)
# Long by design: the command reads as the order of a run (settings, seeds, stage, crawl,
# copy back, requeue).
@crawl_options
@one_line_errors
def crawl(
    users: tuple[str, ...],
    seed_file: str | None,
    column: str | None,
    no_export: bool,
    slurm_requeue: bool,
    stage_dir: str | None,
    stage_every: float,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Crawl the follow graph from USERS (names, @names or profile URLs) and/or --seeds FILE.

    Running the same command again continues where it stopped.
    """
    from tiktok_network.config import ConfigError, load_credentials, resolve
    from tiktok_network.crawl.seeds import SeedFileError, collect_seeds

    try:
        settings = resolve(flags, config=config_file)
        credentials, warnings = load_credentials(settings.credentials)
        seeds = collect_seeds(list(users), seed_file, column)
    except (ConfigError, SeedFileError) as exc:
        raise UserError(str(exc)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in seeds.problems:
        click.echo(problem, err=True)
    given = bool(users) or seed_file is not None
    if given and not seeds.usernames:
        where = " or ".join(
            ([seed_file] if seed_file is not None else []) + (["the arguments"] if users else [])
        )
        why = "every row was skipped (see above)" if seeds.problems else "it holds no usernames"
        click.echo(f"error: no valid seed in {where}: {why}", err=True)
        sys.exit(2)
    if stage_dir and is_database_url(settings.db):
        raise UserError(
            "--stage-dir copies a SQLite crawl to node-local disk; a PostgreSQL crawl lives on "
            "its server and needs no staging"
        )
    stage = stage_in(settings, stage_dir) if stage_dir else None
    _adopt_stored_settings(settings)
    _check_sample_budget(settings)
    if not given and not _has_users(settings.db):
        click.echo(
            f"error: no seeds given and {stage.durable if stage else display_name(settings.db)}"
            " holds no "
            "crawl to continue",
            err=True,
        )
        sys.exit(2)
    # A requeued job must leave within Slurm's warning: its outputs are written at the end.
    export = "never" if no_export else ("at-end" if slurm_requeue else "always")
    if export != "never":
        from tiktok_network.export.outputs import ExportRequest, check_destination

        check_destination(settings.db, settings.out, ExportRequest())
    try:
        result = _run_crawl(
            settings, credentials, seeds.usernames, export=export, stage=(stage, stage_every)
        )
    finally:
        if stage is not None:
            stage_out(stage)
    if result.exit_code == 75 and slurm_requeue:
        requeue_slurm_job(settings, hold=result.reason == "quota")
    sys.exit(result.exit_code)


def _adopt_stored_settings(settings: CrawlSettings, *, what_if: bool = False) -> None:
    """A rerun continues the crawl as it was run: depth, directions and quotas not given now
    come from the database, and a change is said before any work (``what_if``: a plan, which
    changes nothing, says what it assumes instead)."""
    from tiktok_network.config import ConfigError, adopt_stored
    from tiktok_network.store import stored_settings
    from tiktok_network.store.sqlite import NotACrawlDatabase

    try:
        changes = adopt_stored(settings, stored_settings(settings.db))
    except (NotACrawlDatabase, ConfigError) as exc:
        raise UserError(str(exc)) from None
    if changes and what_if:
        say("planned with settings other than the crawl's (which stay): " + ", ".join(changes))
    elif changes:
        say("settings changed since the last run of this crawl: " + ", ".join(changes))


def _check_sample_budget(settings: CrawlSettings) -> None:
    """A sample is drawn within a budget of calls; a breadth-first limit on users means
    nothing to it."""
    if settings.sampler == "bfs":
        return
    if settings.max_users is not None:
        raise UserError(
            f"--max-users is for breadth-first crawls: a sample's budget is --max-requests N"
            f" (calls over the whole crawl) with --sampler {settings.sampler}"
        )
    if settings.max_requests is None and settings.sampler != "snowball":
        raise UserError(
            f"--sampler {settings.sampler} needs a budget: --max-requests N (calls over the "
            "whole crawl)"
        )


def _has_users(db: str) -> bool:
    from tiktok_network.store import has_users

    return has_users(db)


def _run_crawl(
    settings: CrawlSettings,
    credentials: Credentials,
    seeds: list[str],
    *,
    export: str = "always",
    console: Console | None = None,
    stage: tuple[StagedDatabase | None, float] = (None, 0.0),
    refresh: RefreshMarks | None = None,
) -> CrawlResult:
    """Run the crawl (or with ``refresh`` a refresh round); ``export`` is always, at-end (not on
    a stop with work left), never, or for a refresh: refresh (rewrite the recorded outputs)
    or refresh+out (and write --out)."""
    from tiktok_network.store.sqlite import CrawlInUse, NotACrawlDatabase

    console = console or Console(stderr=True)
    from tiktok_network.cli.progress import setup_logging

    setup_logging(settings.quiet, console, settings.log_file)
    try:
        return asyncio.run(
            _crawl_async(settings, credentials, seeds, export, console, stage, refresh)
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
) -> CrawlResult:
    from tiktok_network.cli.progress import run_with_progress
    from tiktok_network.crawl.engine import Engine

    engine = Engine(settings, credentials, refresh=refresh)
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
    what = "refresh" if refresh is not None else "crawl"
    say(
        f"{what} {state}: {result.stats.pages:,} pages, {result.stats.infos:,} user infos,"
        f" {result.requests:,} requests this run",
        quiet=settings.quiet,
    )
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
    exit_code = result.exit_code
    if exit_code != 0 and not result.stats.pages and not result.stats.infos:
        if export != "never":
            say("nothing fetched this run: outputs left as they were", quiet=settings.quiet)
        return
    if export == "always" or (export == "at-end" and exit_code != 75):
        from tiktok_network.export.outputs import ExportRequest, write_outputs

        written = await asyncio.to_thread(write_outputs, settings.db, settings.out, ExportRequest())
        say(
            f"outputs: {settings.out}/ ({written['network.csv']:,} edges in network.csv)",
            quiet=settings.quiet,
        )
    elif export == "at-end":
        say(
            "outputs are written when the crawl completes (or at any time: tiktok-network export)",
            quiet=settings.quiet,
        )
