"""`tiktok-network videos`: the videos every expanded account posted in a period."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from tiktok_network.cli.errors import UserError, one_line_errors
from tiktok_network.cli.options import crawl_options
from tiktok_network.cli.running import adopt_crawl_settings, run_crawl
from tiktok_network.store import display_name

EXAMPLES = """\b
Examples:
  tiktok-network videos --db lab.db                                   # the last 30 days
  tiktok-network videos --db lab.db --since 2025-01-01 --until 2025-03-31
  tiktok-network videos --db lab.db --since 2025-01-01 --on-quota exit   # a day's quota, exit 75
  tiktok-network videos --db lab.db --layers liked,reposted,pinned      # and each account's lists
"""


@click.command(epilog=EXAMPLES)
@click.option(
    "--plan",
    "what_if",
    is_flag=True,
    help="Say what the collection would cost (units, calls, days of the general quota) and"
    " change nothing.",
)
@crawl_options("videos")
@one_line_errors
def videos(what_if: bool, config_file: str | None, **flags: Any) -> None:
    """Collect the videos of every account the crawl expanded, posted between --since and
    --until: accounts batched in one query (--usernames-per-query), the period in windows of
    at most 30 days, each page committed as it comes (a stopped run goes on from there; run the
    same command again). Calls come out of the general bucket (1,000 a day, shared with user
    info)."""
    from tiktok_network.config import ConfigError, load_credentials, resolve
    from tiktok_network.crawl.video_collection import VideoCollection
    from tiktok_network.store import has_users

    try:
        settings = resolve(flags, config=config_file)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    since, until = period(settings.since, settings.until)
    if not has_users(settings.db):
        raise UserError(f"{display_name(settings.db)} holds no crawl: crawl accounts first")
    if what_if:
        say_forecast(settings, since, until)
        return
    try:
        credentials, warnings = load_credentials(settings.credentials)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    adopt_crawl_settings(settings)
    mode = VideoCollection(
        since,
        until,
        settings.usernames_per_query,
        settings.video_page_size,
        settings.layer_lists,
    )
    result = run_crawl(settings, credentials, [], export="never", mode=mode)
    sys.exit(result.exit_code)


def say_forecast(settings: Any, since: dt.date, until: dt.date) -> None:
    """``--plan``: the cost of the collection, read from the crawl (nothing is written)."""
    from tiktok_network.crawl.video_collection import forecast, list_forecasts
    from tiktok_network.store import open_reader

    with open_reader(settings.db) as reader:
        f = forecast(reader, since, until, settings.usernames_per_query, settings.video_page_size)
        lists = list_forecasts(reader, settings.layer_lists)
    quota = settings.info_quota
    for lf in lists:
        cost = (
            f"at least {lf.calls_low:,} calls (one a list; more once the first lists end)"
            if lf.calls is None
            else f"about {lf.calls:,.0f} calls (at least {lf.calls_low:,})"
        )
        days = (lf.calls or lf.calls_low) / quota
        click.echo(
            f"{lf.layer} videos: {lf.lists:,} lists to page: {cost} = {days:.2f} days of the general quota"
        )
    if f.units == 0:
        click.echo(f"videos {since} to {until}: every unit is collected: nothing to do")
        return
    click.echo(
        f"videos {since} to {until}: {f.units:,} units to page ({f.units_open:,} begun or"
        f" planned, {f.units_new:,} new: {settings.usernames_per_query} accounts x 30-day"
        " windows)"
    )
    if f.calls is None:
        click.echo(
            f"calls: at least {f.calls_low:,} (one a unit) = {f.calls_low / quota:.2f} days of"
            f" the general quota ({quota:,} a day, shared with user info); how many more"
            " depends on the videos posted: known once the first units are finished"
        )
        return
    assert f.calls_high is not None
    click.echo(
        f"calls: about {f.calls:,.0f} (at least {f.calls_low:,}, at most about"
        f" {f.calls_high:,.0f}, learnt from {f.finished:,} finished units)"
        f" = {f.calls / quota:.2f} days of the general quota ({quota:,} a day, shared with"
        " user info)"
    )


def period(since: str | None, until: str | None) -> tuple[dt.date, dt.date]:
    """The period asked for: --until defaults to today (UTC), --since to 29 days before it
    (30 days, the query's widest window)."""
    today = dt.datetime.now(dt.UTC).date()
    last = dt.date.fromisoformat(until) if until else today
    first = dt.date.fromisoformat(since) if since else last - dt.timedelta(days=29)
    if first > last:
        raise UserError(f"--since {first} is after --until {last}")
    if last > today:
        raise UserError(f"--until {last} is in the future: the videos end today ({today})")
    return first, last
