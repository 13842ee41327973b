"""`tiktok-network status`: progress and quota from the database, also while a crawl runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from tiktok_network.config import CrawlSettings
    from tiktok_network.crawl.plan import Forecast
from tiktok_network.cli.errors import UserError, one_line_errors

EXAMPLES = """\b
Examples:
  tiktok-network status --db lab.db
  tiktok-network status --db lab.db --max-depth 3     # the forecast for one more depth
"""


@click.command(epilog=EXAMPLES)
@click.option("--db", default=None, help="Crawl database. [default: tiktok-network.db]")
@click.option(
    "--max-depth", type=int, help="Depth limit of the queue estimate. [default: the crawl's own]"
)
@click.option(
    "--follow-quota",
    type=int,
    help="Follow calls per day, for the estimate. [default: the crawl's own]",
)
@click.option(
    "--info-quota",
    type=int,
    help="User-info calls per day, for the refresh estimate. [default: the crawl's own]",
)
@click.option("--day-seconds", type=float, help="Length of a quota day. [default: 86400]")
@click.option(
    "--quota-ledger",
    type=click.Path(dir_okay=False),
    help="The shared quota ledger. [default: the crawl's own, else $XDG_STATE_HOME/...]",
)
@click.option(
    "--older-than",
    help="The refresh window the compliance lines count against (15d, 36h). [default: 15d]",
)
@click.option("--config", "config_file", type=click.Path(), help="Settings file.")
@one_line_errors
def status(config_file: str | None, **flags: Any) -> None:
    """Progress, quota used today and what is left, from the database (also while a crawl runs)."""
    from tiktok_network.config import ConfigError, adopt_stored, resolve
    from tiktok_network.store import stored_settings
    from tiktok_network.store.errors import NotACrawlDatabase
    from tiktok_network.store.status import read_status

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
            window=settings.older_than,
        )
        st.info_quota = settings.info_quota
    except (ConfigError, NotACrawlDatabase) as exc:
        raise UserError(str(exc)) from None
    for line in st.lines(settings.max_depth, settings.follow_quota):
        click.echo(line)
    if settings.sampler != "bfs":  # a sample ends at its budget: no depth to forecast
        s = settings
        for line in st.sample_lines(s.sampler, s.walkers, s.sample_seed, s.max_requests):
            click.echo(line)
        return
    click.echo(f"forecast of what is left to depth {settings.max_depth} (as tiktok-network plan):")
    for line in _forecast(settings).lines():
        click.echo(line)


def _forecast(settings: CrawlSettings) -> Forecast:
    from tiktok_network.crawl.plan import forecast_crawl
    from tiktok_network.store.read import CrawlReader

    with CrawlReader(settings.db) as reader:
        return forecast_crawl(reader, settings)
