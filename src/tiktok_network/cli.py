"""The command line: crawl, status, export, analyze, emulator, demo.

The CLI is the only layer that prints. Every expected failure (bad input, bad credentials, an
unreadable file) is turned into one line on stderr and an exit status, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from tiktok_network import __version__

if TYPE_CHECKING:
    from tiktok_network.api.auth import Credentials
    from tiktok_network.config import CrawlSettings
    from tiktok_network.crawl.engine import CrawlResult
    from tiktok_network.emulator.graph import FollowGraph
    from tiktok_network.emulator.settings import EmulatorSettings
    from tiktok_network.store.staging import StagedDatabase


class UserError(click.ClickException):
    """An error the user can fix; printed as one line."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def one_line_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every failure a user can cause into one line on stderr and a status, never a
    traceback: the project's own errors, a damaged or unreadable database, unwritable outputs."""
    import functools

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tiktok_network.config import ConfigError
        from tiktok_network.export.csvs import OutputNotWritable
        from tiktok_network.store.sqlite import CrawlInUse, NotACrawlDatabase

        db = kwargs.get("db") or "the database"
        try:
            return command(*args, **kwargs)
        except (ConfigError, NotACrawlDatabase, CrawlInUse, OutputNotWritable) as exc:
            raise UserError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise UserError(describe_database_error(str(db), exc)) from None

    return wrapper


def describe_database_error(db: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return (
            f"{db}: the database is damaged ({text}): restore it from a copy (the durable "
            f"--db of a --stage-dir run, or a backup), or salvage it with: sqlite3 {db} .recover"
        )
    if "readonly" in text or "read-only" in text:
        return f"{db}: the database is read-only ({text}): a crawl must be able to write it"
    return f"{db}: database error ({text})"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tiktok-network")
def app() -> None:
    """Map the TikTok follow graph through the TikTok Research API."""


# ---------------------------------------------------------------------------------- emulator
@app.command()
@click.option(
    "--graph",
    "graph_spec",
    default="synthetic:20000",
    show_default=True,
    help="Edge-list file (SNAP or KONECT) or synthetic:N[,seed=S].",
)
@click.option("--undirected", is_flag=True, help="Each listed pair is a mutual follow.")
@click.option(
    "--port", default=8000, show_default=True, help="TCP port on 127.0.0.1; 0 picks a free one."
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed for faults, quirks and account states."
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    metavar="KEY:SECRET",
    help="Accepted client credentials (repeatable). Default demo-key:demo-secret.",
)
@click.option("--token-ttl", default=7200.0, show_default=True, help="Token lifetime in seconds.")
@click.option("--revoke-every", type=float, help="Invalidate every live token each N seconds.")
@click.option(
    "--oauth-error-status",
    default=200,
    show_default=True,
    help="HTTP status of OAuth error bodies (the service was seen answering 200).",
)
@click.option(
    "--scope-not-authorized",
    is_flag=True,
    help="Answer follow endpoints with 401 scope_not_authorized.",
)
@click.option(
    "--refused-fraction",
    default=0.0,
    show_default=True,
    help="Share of accounts the API refuses to return.",
)
@click.option(
    "--private-fraction",
    default=0.0,
    show_default=True,
    help="Share of private accounts (refused, and hidden by --followers-public-only).",
)
@click.option("--missing", default="", metavar="USER,...", help="Accounts answered as not found.")
@click.option(
    "--not-found-response",
    metavar="STATUS:CODE[:MESSAGE]",
    help="Replace the answer for unknown accounts (default 400:invalid_params).",
)
@click.option(
    "--refused-response",
    metavar="STATUS:CODE[:MESSAGE]",
    help="Replace the answer for refused accounts (default 400:invalid_params).",
)
@click.option(
    "--short-pages",
    default=0.0,
    show_default=True,
    help="Quirk: share of pages shorter than max_count while has_more is true.",
)
@click.option(
    "--omit-empty-list", is_flag=True, help="Quirk: drop the list key from empty OK pages."
)
@click.option(
    "--same-second-repeats",
    default=0.0,
    show_default=True,
    help="Quirk: share of page boundaries whose last entry repeats on the next page.",
)
@click.option("--followers-cap", type=int, help="Quirk: serve at most N followers per account.")
@click.option(
    "--followers-public-only", is_flag=True, help="Quirk: follower lists hide private accounts."
)
@click.option(
    "--follow-quota", default=20000, show_default=True, help="Follow calls per client per day."
)
@click.option(
    "--info-quota", default=1000, show_default=True, help="User-info calls per client per day."
)
@click.option(
    "--separate-follow-quotas",
    is_flag=True,
    help="Followers and following get a quota each instead of sharing one.",
)
@click.option(
    "--qps", type=float, help="Short-term limit: requests per second per client (429 beyond)."
)
@click.option(
    "--failed-requests-count/--failed-requests-free",
    default=True,
    show_default=True,
    help="Whether failed requests use quota.",
)
@click.option(
    "--day-seconds",
    default=86400.0,
    show_default=True,
    help="Length of a quota day in real seconds (tests cross midnight quickly).",
)
@click.option("--latency-ms", metavar="MEAN[,JITTER]", help="Added latency per request.")
@click.option(
    "--faults",
    metavar="KIND=P,...",
    help="Fault probabilities: 500, 500-empty, 504-html, truncated, cursor-400, reset.",
)
@click.option(
    "--request-log", type=click.Path(dir_okay=False), help="Append one JSON line per request."
)
def emulator(
    graph_spec: str, undirected: bool, port: int, request_log: str | None, **options: Any
) -> None:
    """Serve an emulated TikTok Research API on 127.0.0.1 until SIGINT or SIGTERM."""
    from tiktok_network.emulator.graph import GraphLoadError, parse_graph_spec
    from tiktok_network.emulator.settings import SettingsError

    try:
        settings = _emulator_settings(request_log=request_log, **options)
        graph = parse_graph_spec(graph_spec, undirected=undirected, seed=int(options["seed"]))
    except (GraphLoadError, SettingsError) as exc:
        raise UserError(str(exc)) from None
    try:
        asyncio.run(_serve_forever(graph, settings, port))
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def _emulator_settings(**o: Any) -> EmulatorSettings:
    from tiktok_network.emulator.settings import (
        NOT_FOUND_MESSAGE,
        REFUSED_MESSAGE,
        EmulatorSettings,
        ErrorTriple,
        parse_clients,
        parse_faults,
        parse_latency,
    )

    settings = EmulatorSettings(
        seed=int(o["seed"]),
        token_ttl=float(o["token_ttl"]),
        revoke_every=o["revoke_every"],
        oauth_error_status=int(o["oauth_error_status"]),
        scope_not_authorized=bool(o["scope_not_authorized"]),
        refused_fraction=float(o["refused_fraction"]),
        private_fraction=float(o["private_fraction"]),
        missing=frozenset(m.strip() for m in str(o["missing"]).split(",") if m.strip()),
        short_pages=float(o["short_pages"]),
        omit_empty_list=bool(o["omit_empty_list"]),
        same_second_repeats=float(o["same_second_repeats"]),
        followers_cap=o["followers_cap"],
        followers_public_only=bool(o["followers_public_only"]),
        follow_quota=int(o["follow_quota"]),
        info_quota=int(o["info_quota"]),
        separate_follow_quotas=bool(o["separate_follow_quotas"]),
        qps=o["qps"],
        failed_requests_count=bool(o["failed_requests_count"]),
        day_seconds=float(o["day_seconds"]),
        latency=parse_latency(o["latency_ms"]),
        faults=parse_faults(o["faults"]),
        request_log=o["request_log"],
    )
    if o["clients"]:
        settings.clients = parse_clients(o["clients"])
    if o["not_found_response"]:
        settings.not_found = ErrorTriple.parse(str(o["not_found_response"]), NOT_FOUND_MESSAGE)
    if o["refused_response"]:
        settings.refused = ErrorTriple.parse(str(o["refused_response"]), REFUSED_MESSAGE)
    return settings


async def _serve_forever(graph: FollowGraph, settings: EmulatorSettings, port: int) -> None:
    from tiktok_network.emulator.server import start_emulator

    # A client that drops a connection is routine here (kill tests, benchmarks): no tracebacks.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    server = await start_emulator(graph, settings, port=port)
    click.echo(f"listening on {server.url}", nl=True)
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


# ------------------------------------------------------------------------------------- crawl
REFUSED_SECRET_FLAGS = (
    "--client-key",
    "--client-secret",
    "--key",
    "--secret",
    "--token",
    "--access-token",
)
CREDENTIALS_HELP = (
    "credentials are never accepted as arguments (every user of the machine can read them with ps): "
    "set TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET in the environment, or use --credentials FILE"
)


def _refuse_secret(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        raise UserError(CREDENTIALS_HELP)


def _crawl_options(f: Any) -> Any:
    options = [
        click.option("--db", help="Crawl database (SQLite). [default: tiktok-network.db]"),
        click.option("--out", help="Folder for the CSV outputs. [default: outputs]"),
        click.option("--api-base", help="Research API base URL (or TIKTOK_API_BASE)."),
        click.option("--concurrency", type=int, help="Requests in flight. [default: 8]"),
        click.option("--qps", type=float, help="Client-side limit of requests per second."),
        click.option(
            "--max-depth",
            type=int,
            help="Seeds are depth 0; 0 fetches only their lists. [default: 1]",
        ),
        click.option(
            "--max-users", type=int, help="Stop after this many users' lists were started."
        ),
        click.option("--max-requests", type=int, help="Stop this run after this many requests."),
        click.option(
            "--direction",
            type=click.Choice(["following", "followers", "both"]),
            help="Which lists to fetch. [default: following]",
        ),
        click.option(
            "--on-quota",
            type=click.Choice(["wait", "exit"]),
            help="When the daily quota is used up: sleep to 00:00 UTC, or exit 75. [default: wait]",
        ),
        click.option(
            "--info/--no-info", default=None, help="Also fetch user info (1,000/day bucket)."
        ),
        click.option(
            "--drain-timeout",
            type=float,
            help="Seconds in-flight requests get on shutdown. [default: 20]",
        ),
        click.option(
            "--log-every",
            type=float,
            help="Seconds between progress lines off a terminal. [default: 30]",
        ),
        click.option("--quiet", is_flag=True, default=None, help="Print only errors."),
        click.option(
            "--log-file",
            type=click.Path(dir_okay=False),
            help="Also append every log line to this file.",
        ),
        click.option(
            "--follow-quota",
            type=int,
            help="Follow calls per day for this client. [default: 20000]",
        ),
        click.option("--info-quota", type=int, help="User-info calls per day. [default: 1000]"),
        click.option(
            "--separate-follow-quotas",
            is_flag=True,
            default=None,
            help="Followers and following have a quota each.",
        ),
        click.option(
            "--day-seconds",
            type=float,
            help="Length of a quota day (emulator tests). [default: 86400]",
        ),
        click.option("--request-timeout", type=float, help="Seconds per request. [default: 30]"),
        click.option(
            "--max-retries", type=int, help="Retries of a transient failure. [default: 5]"
        ),
        click.option(
            "--retry-base-delay", type=float, help="First backoff delay in seconds. [default: 1]"
        ),
        click.option(
            "--rate-limit-delay",
            type=float,
            help="First pause after a 429 rate limit, seconds. [default: 10]",
        ),
        click.option(
            "--outage-tolerance",
            type=float,
            help="Seconds the whole API may not answer before the crawl stops with work left "
            "(meanwhile it pauses and probes). [default: 21600]",
        ),
        click.option(
            "--outage-probe-max",
            type=float,
            help="Longest pause between probes of an API that does not answer. [default: 60]",
        ),
        click.option(
            "--quota-ledger",
            type=click.Path(dir_okay=False),
            help="The daily quota ledger shared by every crawl with these credentials. "
            "[default: $XDG_STATE_HOME/tiktok-network/quota.db]",
        ),
        click.option(
            "--credentials",
            type=click.Path(),
            help="File with TIKTOK_CLIENT_KEY=/TIKTOK_CLIENT_SECRET= lines.",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(),
            help="Settings file. [default: tiktok-network.toml]",
        ),
    ]
    for name in REFUSED_SECRET_FLAGS:
        options.append(
            click.option(
                name, hidden=True, expose_value=False, callback=_refuse_secret, is_eager=True
            )
        )
    for option in reversed(options):
        f = option(f)
    return f


@app.command()
@click.argument("users", nargs=-1)
@click.option("--seeds", "seed_file", type=click.Path(), help="CSV of usernames (header detected).")
@click.option("--column", help="Column of the seed CSV holding usernames (name or 1-based number).")
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
@_crawl_options
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
    stage = _stage_in(settings, stage_dir) if stage_dir else None
    _adopt_stored_settings(settings)
    if not given and not _has_users(settings.db):
        click.echo(
            f"error: no seeds given and {stage.durable if stage else settings.db} holds no "
            "crawl to continue",
            err=True,
        )
        sys.exit(2)
    # A requeued job must leave within Slurm's warning: its outputs are written at the end.
    export = "never" if no_export else ("at-end" if slurm_requeue else "always")
    if export != "never":
        from tiktok_network.export.csvs import check_output_dir

        check_output_dir(settings.out)
    try:
        result = _run_crawl(
            settings, credentials, seeds.usernames, export=export, stage=(stage, stage_every)
        )
    finally:
        if stage is not None:
            _stage_out(stage)
    if result.exit_code == 75 and slurm_requeue:
        _slurm_requeue(settings, hold=result.reason == "quota")
    sys.exit(result.exit_code)


def _adopt_stored_settings(settings: CrawlSettings) -> None:
    """A rerun continues the crawl as it was run: depth, directions and quotas not given now
    come from the database, and a change is said before any work."""
    from tiktok_network.config import adopt_stored
    from tiktok_network.store.sqlite import NotACrawlDatabase, stored_settings

    try:
        changes = adopt_stored(settings, stored_settings(settings.db))
    except NotACrawlDatabase as exc:
        raise UserError(str(exc)) from None
    if changes:
        _say("settings changed since the last run of this crawl: " + ", ".join(changes))


def _stage_in(settings: CrawlSettings, stage_dir: str) -> StagedDatabase:
    """Copy --db to the stage folder and point the crawl at the copy."""
    from tiktok_network.store.sqlite import NotACrawlDatabase
    from tiktok_network.store.staging import StagedDatabase

    stage = StagedDatabase.under(settings.db, stage_dir)
    try:
        found = stage.stage_in()
    except NotACrawlDatabase as exc:
        raise UserError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise UserError(f"cannot stage {stage.durable} into {stage_dir}: {exc}") from None
    _say(
        f"working on {stage.local}, "
        + (f"copied from {stage.durable}" if found else f"new; copied to {stage.durable} on exit")
    )
    settings.db = str(stage.local)
    return stage


def _stage_out(stage: StagedDatabase) -> None:
    """Copy the crawl back at exit; the local copy is removed once it is safe elsewhere."""
    try:
        stage.stage_out()
    except (OSError, sqlite3.Error) as exc:
        _say(f"error: could not copy {stage.local} back to {stage.durable} (kept): {exc}")
        return
    stage.discard_local()
    _say(f"copied the crawl back to {stage.durable}")


def _slurm_requeue(settings: CrawlSettings, *, hold: bool) -> None:
    """Put this Slurm job back in the queue; after a quota stop, hold it until the reset.

    A requeue makes Slurm send SIGTERM to every process of the job, scontrol included, so
    SIGTERM is ignored from here on (the crawl is committed and copied back; an ignored
    signal stays ignored in the scontrol children). A held requeue is race-free: the job is
    requeued held, its begin time set, then released, so whatever dies half-way leaves it
    held rather than free to start before the quota resets. The begin time is relative
    (``now+N`` seconds), which Slurm cannot misread in the node's local time zone.
    """
    import math
    import subprocess

    from tiktok_network.quota_day import iso_utc, next_reset

    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        _say("warning: --slurm-requeue outside a Slurm job (no SLURM_JOB_ID): not requeued")
        return
    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    if hold:
        margin = min(120.0, 0.05 * settings.day_seconds)
        begin = next_reset(settings.day_seconds) + margin
        delay = max(1, math.ceil(begin - time.time()))
        commands = [
            ["scontrol", "requeuehold", job],
            ["scontrol", "update", f"JobId={job}", f"StartTime=now+{delay}"],
            ["scontrol", "release", job],
        ]
        done = f"requeued Slurm job {job}, held until {iso_utc(time.time() + delay)} (quota reset)"
    else:
        commands = [["scontrol", "requeue", job]]
        done = f"requeued Slurm job {job}"
    for command in commands:
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
        except subprocess.CalledProcessError as exc:
            _say(f"warning: {' '.join(command)} failed: {exc.stderr.strip() or exc}")
            return
        except (OSError, subprocess.SubprocessError) as exc:
            _say(f"warning: {' '.join(command)} failed: {exc}")
            return
    _say(done)


def _has_users(db: str) -> bool:
    from tiktok_network.store.sqlite import NotACrawlDatabase, connect

    if not Path(db).exists():
        return False
    try:
        conn = connect(db, readonly=True)
    except NotACrawlDatabase as exc:
        raise UserError(str(exc)) from None
    try:
        return conn.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None
    finally:
        conn.close()


def _run_crawl(
    settings: CrawlSettings,
    credentials: Credentials,
    seeds: list[str],
    *,
    export: str = "always",
    console: Console | None = None,
    stage: tuple[StagedDatabase | None, float] = (None, 0.0),
) -> CrawlResult:
    """Run the crawl; ``export`` is always, at-end (not on a stop with work left) or never."""
    from tiktok_network.store.sqlite import CrawlInUse, NotACrawlDatabase

    console = console or Console(stderr=True)
    from tiktok_network.cli_progress import setup_logging

    setup_logging(settings.quiet, console, settings.log_file)
    try:
        return asyncio.run(_crawl_async(settings, credentials, seeds, export, console, stage))
    except (NotACrawlDatabase, CrawlInUse) as exc:
        raise UserError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise UserError(describe_database_error(settings.db, exc)) from None


async def _crawl_async(
    settings: CrawlSettings,
    credentials: Credentials,
    seeds: list[str],
    export: str,
    console: Console,
    stage: tuple[StagedDatabase | None, float],
) -> CrawlResult:
    from tiktok_network.cli_progress import run_with_progress
    from tiktok_network.crawl.engine import Engine, StopReason

    engine = Engine(settings, credentials)
    loop = asyncio.get_running_loop()
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
                    f"{sig.name}: stopping; in-flight requests get {settings.drain_timeout:g}s"
                    + (" (Ctrl-C again to quit at once)" if sig == signal.SIGINT else ""),
                    err=True,
                )

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        loop.add_signal_handler(sig, on_signal, sig)
    staged, every = stage
    syncing = asyncio.create_task(_sync_stage(staged, every)) if staged else None
    try:
        result = await run_with_progress(engine, seeds, settings, console)
    finally:
        if syncing is not None:
            syncing.cancel()
            await asyncio.gather(syncing, return_exceptions=True)
    if result.fatal:
        _say(f"error: {result.fatal}")
    if export == "always" or (export == "at-end" and result.exit_code != 75):
        from tiktok_network.export.csvs import export_csvs

        written = await asyncio.to_thread(export_csvs, settings.db, settings.out)
        _say(
            f"outputs: {settings.out}/ ({written['network']:,} edges in network.csv)",
            quiet=settings.quiet,
        )
    elif export == "at-end":
        _say(
            "outputs are written when the crawl completes (or at any time: tiktok-network export)",
            quiet=settings.quiet,
        )
    state = (
        "complete"
        if result.complete
        else f"stopped ({result.reason})"
        + ("" if result.exit_code == 1 else "; run the same command to continue")
    )
    _say(
        f"crawl {state}: {result.stats.pages:,} pages, {result.requests:,} requests this run",
        quiet=settings.quiet,
    )
    return result


async def _sync_stage(stage: StagedDatabase, every: float) -> None:
    """Copy the staged database back now and then, so a lost node loses little."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(stage.stage_out)
        except (OSError, sqlite3.Error) as exc:
            _say(f"warning: could not copy the crawl back to {stage.durable}: {exc}")


def _say(message: str, *, quiet: bool = False) -> None:
    """A line on stderr (unless ``quiet``) and in the --log-file; a closed log pipe never turns
    it into a crash (the data is safe)."""
    from tiktok_network.cli_progress import to_log_files

    to_log_files(message)
    if not quiet:
        with contextlib.suppress(OSError):
            click.echo(message, err=True)


# ------------------------------------------------------------------------------------ status
@app.command()
@click.option("--db", default=None, help="Crawl database. [default: tiktok-network.db]")
@click.option(
    "--max-depth", type=int, help="Depth limit of the queue estimate. [default: the crawl's own]"
)
@click.option(
    "--follow-quota",
    type=int,
    help="Follow calls per day, for the estimate. [default: the crawl's own]",
)
@click.option("--day-seconds", type=float, help="Length of a quota day. [default: 86400]")
@click.option(
    "--quota-ledger",
    type=click.Path(dir_okay=False),
    help="The shared quota ledger. [default: the crawl's own, else $XDG_STATE_HOME/...]",
)
@click.option("--config", "config_file", type=click.Path(), help="Settings file.")
@one_line_errors
def status(config_file: str | None, **flags: Any) -> None:
    """Progress, quota used today and what is left, from the database (also while a crawl runs)."""
    from tiktok_network.config import ConfigError, adopt_stored, resolve
    from tiktok_network.crawl.status import read_status
    from tiktok_network.store.sqlite import NotACrawlDatabase, stored_settings

    try:
        settings = resolve(flags, config=config_file)
        stored = stored_settings(settings.db)
        adopt_stored(settings, stored)  # what the crawl was run with
        ledger = settings.quota_ledger or stored.get("quota_ledger")
        st = read_status(
            settings.db,
            max_depth=settings.max_depth,
            day_seconds=settings.day_seconds,
            ledger=str(ledger) if ledger else None,
            client=str(stored.get("client") or "") or None,
        )
    except (ConfigError, NotACrawlDatabase) as exc:
        raise UserError(str(exc)) from None
    for line in st.lines(settings.max_depth, settings.follow_quota):
        click.echo(line)


# ------------------------------------------------------------------------------------ export
@app.command()
@click.option("--db", default=None, help="Crawl database. [default: tiktok-network.db]")
@click.option("--out", default=None, help="Output folder. [default: outputs]")
@click.option(
    "--format",
    "formats",
    default="csv",
    show_default=True,
    help="Comma-separated: csv (the five classic CSVs, nodes.csv, edges.csv), parquet, graphml, gexf.",
)
@click.option(
    "--force", is_flag=True, help="Write GraphML/GEXF even above the size Gephi can open."
)
@click.option("--config", "config_file", type=click.Path(), help="Settings file.")
@one_line_errors
def export(formats: str, force: bool, config_file: str | None, **flags: Any) -> None:
    """Write the outputs from the database, at any moment (even while a crawl runs)."""
    from tiktok_network.config import ConfigError, resolve
    from tiktok_network.export.csvs import check_output_dir, export_csvs
    from tiktok_network.export.graph_formats import FORMATS, ExportTooLarge, export_graph_formats
    from tiktok_network.store.sqlite import NotACrawlDatabase

    wanted = [f.strip().lower() for f in formats.split(",") if f.strip()]
    unknown = [f for f in wanted if f != "csv" and f not in FORMATS]
    if unknown or not wanted:
        raise UserError(
            f"unknown export format {(unknown or [formats])[0]!r}: expected csv, parquet, graphml, gexf"
        )
    # SIGTERM unwinds like Ctrl-C, so a half-written temporary file is removed and the
    # previous export stays in place.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        settings = resolve(flags, config=config_file)
        check_output_dir(settings.out)
        written: dict[str, int] = {}
        if "csv" in wanted:
            written.update(
                {f"{k}.csv": v for k, v in export_csvs(settings.db, settings.out).items()}
            )
        others = [f for f in wanted if f != "csv"]
        if others:
            written.update(export_graph_formats(settings.db, settings.out, others, force))
    except (ConfigError, NotACrawlDatabase, ExportTooLarge) as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write outputs: {exc}") from None
    for name, rows in written.items():
        click.echo(f"{settings.out}/{name}: {rows:,} {_unit_of(name)}")


def _unit_of(output: str) -> str:
    """What an export file's count counts."""
    if output.startswith(("network.", "edges.", "graph.")):
        return "edges"
    if output.startswith("nodes."):
        return "accounts"
    if output.startswith(("saved_jsons.", "time_stamps.")):
        return "pages"
    return "accounts" if output.startswith(("parsing_list.", "queue.")) else "rows"


# ----------------------------------------------------------------------------------- analyze
@app.command()
@click.option(
    "--db", type=click.Path(), help="A crawl database: its core and everything discovered."
)
@click.option(
    "--edges",
    "edge_file",
    type=click.Path(),
    help="An edge list: CSV with header, SNAP/KONECT text, Parquet.",
)
@click.option("--name", help="Name of the --edges network in the report.")
@click.option(
    "--undirected", is_flag=True, help="--edges lists undirected pairs: each is a mutual follow."
)
@click.option(
    "--compare",
    "compare",
    multiple=True,
    type=click.Path(),
    help="More edge lists to set beside (repeatable).",
)
@click.option(
    "--out",
    default="report",
    show_default=True,
    help="Folder for report.html, report.md, stats.json, figures/.",
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed for sampled distances and communities."
)
@one_line_errors
def analyze(
    db: str | None,
    edge_file: str | None,
    name: str | None,
    undirected: bool,
    compare: tuple[str, ...],
    out: str,
    seed: int,
) -> None:
    """Network statistics, fits and figures, side by side with published networks."""
    from tiktok_network.analysis.edgelist import EdgeListError, read_crawl, read_edges
    from tiktok_network.analysis.report import Network, analyse
    from tiktok_network.export.csvs import check_output_dir

    if not db and not edge_file:
        raise UserError("give --db CRAWL.db or --edges FILE (and optionally --compare FILE ...)")
    check_output_dir(out)  # before the statistics, which can take minutes
    networks: list[Network] = []
    try:
        if db:
            info = _crawl_profile(db)
            label = name or Path(db).stem
            networks.append(
                Network(
                    f"{label}: crawled core", read_crawl(db, f"{label} core", core_only=True), info
                )
            )
            networks.append(
                Network(f"{label}: everything discovered", read_crawl(db, f"{label} all"), info)
            )
        if edge_file:
            el = read_edges(edge_file, name, undirected)
            networks.append(Network(name or el.name, el))
        for path in compare:
            el = read_edges(path)
            networks.append(Network(el.name, el))
    except EdgeListError as exc:
        raise UserError(str(exc)) from None
    doc = analyse(networks, Path(out), seed=seed)
    for n in doc["networks"]:
        what = "empty graph" if n.get("empty") else f"{n['nodes']:,} nodes, {n['edges']:,} edges"
        click.echo(f"{n['label']}: {what}")
    click.echo(
        f"report: {out}/report.html, {out}/report.md, {out}/stats.json ({doc['seconds']:.1f} s)"
    )


def _crawl_profile(db: str) -> dict[str, Any]:
    from tiktok_network.store.sqlite import NotACrawlDatabase, connect

    try:
        conn = connect(db, readonly=True)
    except NotACrawlDatabase as exc:
        raise UserError(str(exc)) from None
    try:
        rows = conn.execute(
            "SELECT depth, count(*), sum(status = 1) FROM users GROUP BY depth"
        ).fetchall()
    finally:
        conn.close()
    profile = {str(d): {"known": k, "crawled": c or 0} for d, k, c in rows}
    return {
        "known": sum(k for _, k, _ in rows),
        "crawled": sum(c or 0 for _, _, c in rows),
        "depth_profile": profile,
    }


# -------------------------------------------------------------------------------------- demo
@app.command()
@click.option("--out", default="demo-outputs", show_default=True, help="Folder for every output.")
@click.option(
    "--users", "n_users", default=20000, show_default=True, help="Users in the synthetic graph."
)
@click.option(
    "--max-depth", default=2, show_default=True, help="Depth of the crawl from the seeds."
)
@click.option(
    "--seeds", "n_seeds", default=3, show_default=True, help="How many seeds to start from."
)
@one_line_errors
def demo(out: str, n_users: int, max_depth: int, n_seeds: int) -> None:
    """Emulator + crawl + exports + summary, offline and without credentials."""
    from tiktok_network.cli_demo import run_demo

    sys.exit(
        run_demo(
            out, n_users=n_users, max_depth=max_depth, n_seeds=n_seeds, console=Console(stderr=True)
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
