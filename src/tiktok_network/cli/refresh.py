"""`tiktok-network refresh`: re-fetch what is older than the window, purge what is gone."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from tiktok_network.cli.errors import UserError, one_line_errors
from tiktok_network.cli.options import crawl_options
from tiktok_network.cli.running import adopt_crawl_settings, run_crawl
from tiktok_network.store import display_name

EXAMPLES = """\b
Examples:
  tiktok-network refresh --db lab.db                      # user info older than 15 days
  tiktok-network refresh --db lab.db --lists --older-than 30d
  tiktok-network refresh --db lab.db --lists --on-quota exit   # one day's quota, then exit 75
  tiktok-network refresh --db lab.db --videos             # and videos, by batch compliance
"""


@click.command(epilog=EXAMPLES)
@click.option(
    "--lists",
    is_flag=True,
    help="Also re-fetch the follow lists of expanded users (follows not seen again are closed).",
)
@click.option(
    "--videos",
    "check_videos",
    is_flag=True,
    help="Also re-check the stored videos last confirmed before the window, 10,000 at a time"
    " through the batch compliance task; those no longer valid are deleted.",
)
@click.option("--no-export", is_flag=True, help="Do not rewrite the recorded outputs at the end.")
@crawl_options("refresh")
@one_line_errors
def refresh(
    lists: bool,
    check_videos: bool,
    no_export: bool,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Refresh a crawl: re-fetch user info (and with --lists the follow lists) fetched before
    the window, oldest first, within the day's quota. An account that now answers as deleted,
    private or not found is purged (docs/compliance.md). Running it again continues the round.
    """
    from tiktok_network.config import ConfigError, load_credentials, resolve
    from tiktok_network.crawl.run import refuse_other_shape
    from tiktok_network.store import has_users
    from tiktok_network.store.base import RefreshMarks

    try:
        settings = resolve(flags, config=config_file)
        credentials, warnings = load_credentials(settings.credentials)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if not has_users(settings.db):
        raise UserError(f"{display_name(settings.db)} holds no crawl to refresh")
    refuse_other_shape(settings)
    adopt_crawl_settings(settings)
    out_given = flags.get("out") is not None
    if out_given and not no_export:
        from tiktok_network.export.outputs import ExportRequest, check_destination

        check_destination(settings.db, settings.out, ExportRequest())
    options = RefreshMarks(
        cutoff=time.time() - settings.older_than,
        lists=lists,
        directions=settings.directions,
        info_for_all=settings.info_for == "all",
        max_depth=settings.max_depth,
        videos=check_videos,
    )
    result = run_crawl(
        settings,
        credentials,
        [],
        export="never" if no_export else ("refresh+out" if out_given else "refresh"),
        refresh=options,
    )
    sys.exit(result.exit_code)
