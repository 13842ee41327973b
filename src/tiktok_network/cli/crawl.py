"""`tiktok-network crawl`: the crawl as a user runs it (signals, staging, exports, requeue)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from tiktok_network.store import display_name, is_file_crawl

if TYPE_CHECKING:
    pass
from tiktok_network.cli.batch import requeue_slurm_job, stage_in, stage_out
from tiktok_network.cli.errors import UserError, one_line_errors
from tiktok_network.cli.options import crawl_options, seed_options
from tiktok_network.cli.running import adopt_crawl_settings, run_crawl

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
@crawl_options("crawl")
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
    from tiktok_network.crawl.run import check_sample_budget
    from tiktok_network.crawl.seeds import SeedFileError, collect_seeds
    from tiktok_network.store import has_users

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
    if stage_dir and not is_file_crawl(settings.db):
        raise UserError(
            "--stage-dir copies a SQLite crawl to node-local disk; a PostgreSQL crawl lives on "
            "its server and needs no staging"
        )
    stage = stage_in(settings, stage_dir) if stage_dir else None
    adopt_crawl_settings(settings)
    check_sample_budget(settings)
    if not given and not has_users(settings.db):
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
        result = run_crawl(
            settings, credentials, seeds.usernames, export=export, stage=(stage, stage_every)
        )
    finally:
        if stage is not None:
            stage_out(stage)
    if result.exit_code == 75 and slurm_requeue:
        requeue_slurm_job(settings, hold=result.reason == "quota")
    sys.exit(result.exit_code)
