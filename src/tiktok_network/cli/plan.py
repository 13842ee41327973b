"""`tiktok-network plan`: the calls and days of quota a crawl needs, before (or during) it."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Any

import click

from tiktok_network.cli.errors import UserError, describe_database_error, one_line_errors, say
from tiktok_network.cli.options import crawl_options, seed_options
from tiktok_network.crawl.pilot import CALLS as PILOT_CALLS
from tiktok_network.store import database_errors, display_name

if TYPE_CHECKING:
    from tiktok_network.config import CrawlSettings
    from tiktok_network.crawl.pilot import PilotResult

EXAMPLES = """\b
Examples:
  tiktok-network plan --seeds users.csv --max-depth 2 --direction both
  tiktok-network plan alice bob --max-depth 0 --direction both --json
  tiktok-network plan --db lab.db --max-depth 3     # one more depth of a running crawl
  tiktok-network plan --seeds users.csv --offline   # no API call: counts only estimated
"""


@click.command(epilog=EXAMPLES)
@seed_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@click.option(
    "--pilot-calls",
    type=click.IntRange(min=0, max=10**9),
    default=None,
    metavar="N",
    help="Follow calls a plan of a new crawl may spend on a pilot that measures how the"
    " neighbourhoods overlap (its pages are kept: the crawl does not fetch them again);"
    f" 0: the seeds' counts only. [default: {PILOT_CALLS}]",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Do not fetch the seeds' user info: estimate what is not known (no credentials needed).",
)
@crawl_options("plan")
@one_line_errors
def plan(
    users: tuple[str, ...],
    seed_file: str | None,
    column: str | None,
    as_json: bool,
    pilot_calls: int | None,
    offline: bool,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Forecast the calls per quota bucket (following, followers, user info) and the days of
    quota that crawling USERS and/or --seeds to --max-depth needs, from what --db knows.

    On a new --db, the seeds' user info is fetched first, then (to --max-depth 1 or more) a
    pilot: the seeds' lists, the profiles of the users they list, and the lists of a sample
    of those and of their new neighbours, from which the levels below are estimated. Every
    call is stored in --db (the crawl does not make it again) and counted in the forecast.
    """
    from tiktok_network.cli.running import adopt_crawl_settings
    from tiktok_network.config import ConfigError, load_credentials, resolve
    from tiktok_network.crawl.seeds import SeedFileError, collect_seeds

    try:
        settings = resolve(flags, config=config_file)
        seeds = collect_seeds(list(users), seed_file, column)
    except (ConfigError, SeedFileError) as exc:
        raise UserError(str(exc)) from None
    for problem in seeds.problems:
        click.echo(problem, err=True)
    if (users or seed_file) and not seeds.usernames:
        click.echo("error: no valid seed to plan for (see above)", err=True)
        sys.exit(2)
    adopt_crawl_settings(settings, what_if=True)
    names = seeds.usernames
    existing = _has_crawl(settings.db)
    missing = _seeds_without_counts(settings.db, names)
    pilot = None
    if existing and missing and not as_json:
        # A what-if: the crawl's seeds, settings and data stay as they are.
        say(
            f"{missing:,} seeds without known counts are estimated: a plan adds no seed and no"
            " data to an existing crawl"
        )
    budget = PILOT_CALLS if pilot_calls is None else pilot_calls
    if pilot_calls is not None and (offline or existing) and not as_json:
        say("--pilot-calls is for a plan of a new crawl (not --offline): no pilot runs")
    if missing and not offline and not existing:
        try:
            credentials, warnings = load_credentials(settings.credentials)
        except ConfigError as exc:
            raise UserError(f"{exc} (or plan --offline, without the seeds' counts)") from None
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        if not as_json:
            say(
                f"fetching user info of {missing:,} seeds"
                + (" and a pilot of their neighbourhoods" if settings.max_depth and budget else "")
            )
        pilot = _run_pilot(settings, credentials, names, budget)
    result = _forecast(settings, names if offline or existing else [], pilot)
    if as_json:
        click.echo(json.dumps(result.as_json()))
        return
    click.echo(
        f"plan: {'/'.join(settings.directions)} to depth {settings.max_depth}"
        + (f", at most {settings.max_users:,} users" if settings.max_users else "")
        + f", {result.users.value:,.0f} users to expand"
        + (
            ""
            if result.users.exact
            else f" (range {result.users.low:,.0f} to {result.users.high:,.0f})"
            if math.isfinite(result.users.high)
            else f" (at least {result.users.low:,.0f}; no upper bound known)"
        )
    )
    for line in result.lines():
        click.echo(line)


def _has_crawl(db: str) -> bool:
    """Whether ``db`` already holds a crawl (then a plan only reads it)."""
    from tiktok_network.store import has_users

    try:
        return has_users(db)
    except database_errors() as exc:
        raise UserError(describe_database_error(display_name(db), exc)) from None


def _seeds_without_counts(db: str, names: list[str]) -> int:
    """Seeds, and depth-0 users of the crawl, with neither user info nor a verdict."""
    from tiktok_network.store import has_users
    from tiktok_network.store.read import CrawlReader

    try:
        if not has_users(db):
            return len(names)
        with CrawlReader(db) as reader:
            return reader.users_without_info(names, depth=0)
    except database_errors() as exc:
        raise UserError(describe_database_error(display_name(db), exc)) from None


def _run_pilot(
    settings: CrawlSettings, credentials: Any, seeds: list[str], budget: int
) -> PilotResult:
    """The seeds' user info and the pilot (``crawl/pilot.py``), stored in the new crawl."""
    from tiktok_network.cli.progress import setup_logging
    from tiktok_network.crawl.pilot import PilotError, run_pilot
    from tiktok_network.store.errors import CrawlInUse, NotACrawlDatabase

    setup_logging(True)
    try:
        return run_pilot(settings, credentials, seeds, budget=budget)
    except PilotError as exc:
        raise UserError(str(exc)) from None
    except (NotACrawlDatabase, CrawlInUse) as exc:
        raise UserError(str(exc)) from None
    except database_errors() as exc:
        raise UserError(describe_database_error(display_name(settings.db), exc)) from None


def _forecast(settings: CrawlSettings, extra_seeds: list[str], pilot: PilotResult | None) -> Any:
    """The forecast from the database, plus seeds it does not hold yet (--offline), and what
    the pilot measured."""
    from tiktok_network.crawl.plan import forecast, forecast_crawl
    from tiktok_network.store import has_users
    from tiktok_network.store.read import CrawlReader

    spent = pilot.calls["info"] if pilot else 0
    try:
        if not has_users(settings.db):
            blanks = {0: len(set(extra_seeds))} if extra_seeds else {}
            return forecast(list, settings, blanks=blanks, info_spent=spent)  # nothing fetched
        with CrawlReader(settings.db) as reader:
            known = reader.known_usernames(extra_seeds)
            result = forecast_crawl(
                reader,
                settings,
                extra_seeds=sum(1 for n in set(extra_seeds) if n not in known),
                info_spent=spent,
                pilot_calls=pilot.calls if pilot else None,
            )
    except database_errors() as exc:
        raise UserError(describe_database_error(display_name(settings.db), exc)) from None
    result.notes[:0] = pilot.notes if pilot else []
    return result
