"""`tiktok-network diff`: follows gained and lost between two moments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tiktok_network.cli.errors import UserError, one_line_errors

EXAMPLES = """\b
Examples:
  tiktok-network diff 2026-11-01 2026-11-30 --db lab.db
  tiktok-network diff 2026-11-01T00:00:00Z 2026-11-15T12:00:00Z --db lab.db --out changes.csv
"""


@click.command(epilog=EXAMPLES)
@click.argument("since")
@click.argument("until")
@click.option("--db", default=None, help="Crawl database. [default: tiktok-network.db]")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Write source,destination,change,time to this CSV instead of listing them.",
)
@click.option("--config", "config_file", type=click.Path(), help="Settings file.")
@one_line_errors
def diff(
    since: str, until: str, out_file: str | None, config_file: str | None, **flags: Any
) -> None:
    """Follows gained and lost between SINCE and UNTIL (ISO 8601 dates or UTC timestamps; a
    date alone means the end of that day), with when the crawl observed each change. Only
    lists the crawl fetched (and refreshed) can show a change."""
    from tiktok_network.config import ConfigError, resolve
    from tiktok_network.export.history import diff_rows, write_diff
    from tiktok_network.export.outputs import record_diff
    from tiktok_network.moments import parse_moment
    from tiktok_network.store.errors import NotACrawlDatabase
    from tiktok_network.store.read import CrawlReader

    try:
        settings = resolve(flags, config=config_file)
        start, end = parse_moment(since), parse_moment(until)
    except (ConfigError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if end < start:
        raise UserError(f"UNTIL ({until}) is before SINCE ({since})")
    try:
        with CrawlReader(settings.db) as reader:
            if out_file is not None:
                counts = write_diff(reader, start, end, Path(out_file))
                record_diff(settings.db, out_file, start, end)  # a purge rewrites it
                click.echo(f"{out_file}: {counts['gained']:,} gained, {counts['lost']:,} lost")
                return
            counts = {"gained": 0, "lost": 0}
            for source, destination, change, at in diff_rows(reader, start, end):
                counts[change] += 1
                click.echo(f"{at}  {change:<6}  {source} -> {destination}")
    except NotACrawlDatabase as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {out_file}: {exc.strerror or exc}") from None
    click.echo(f"{counts['gained']:,} follows gained, {counts['lost']:,} lost")
