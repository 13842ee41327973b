"""`tiktok-network db`: moving a crawl between SQLite and PostgreSQL."""

from __future__ import annotations

import click

from tiktok_network.cli.errors import UserError, one_line_errors, say

EXAMPLES = """
\b
Examples:
  tiktok-network db copy crawl.db postgresql://me@dbhost/tiktok
  tiktok-network db copy postgresql://me@dbhost/tiktok crawl-copy.db
  (an interrupted or older copy is brought up to date when run again; stop the crawl first)
"""


@click.group(epilog=EXAMPLES)
def db() -> None:
    """Manage crawl databases."""


@db.command(epilog=EXAMPLES)
@click.argument("source")
@click.argument("destination")
@one_line_errors
def copy(source: str, destination: str) -> None:
    """Copy the crawl SOURCE into DESTINATION (a SQLite file or a postgresql:// URL), every
    table; an older copy of the same crawl is brought up to date (a copy that was crawled or
    refreshed since is refused). Then both are read again and compared row by row."""
    from tiktok_network.store import display_name
    from tiktok_network.store.copy import copy_crawl

    say(f"copying {display_name(source)} -> {display_name(destination)}")
    results = copy_crawl(source, destination)
    bad = [r for r in results if not r.verified]
    for r in results:
        click.echo(
            f"{r.table}: {r.destination_rows:,} rows ({r.copied_now:,} copied now)"
            + ("" if r.verified else f"  MISMATCH: the source has {r.source_rows:,}")
        )
    if bad:
        raise UserError(
            "the copy does not match its source in "
            + ", ".join(r.table for r in bad)
            + ": was the source crawled meanwhile? run the copy again"
        )
    click.echo(f"verified: every table of {display_name(destination)} matches the source")
