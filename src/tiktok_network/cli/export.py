"""`tiktok-network export`: every output format, at any moment."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from tiktok_network.cli.errors import UserError, one_line_errors

EXAMPLES = """\b
Examples:
  tiktok-network export --db lab.db --out outputs/
  tiktok-network export --db lab.db --out outputs/ --format csv,parquet,graphml,gexf
  tiktok-network export --db lab.db --out outputs/ --format videos     # after: videos
  tiktok-network export --db lab.db --out then/ --as-of 2026-11-01
  tiktok-network export --db lab.db --out shared/ --pseudonymize --key-file ~/.lab-key
  tiktok-network export --db lab.db --out to-publish/ --share ids       # ids and aggregates only
"""


@click.command(epilog=EXAMPLES)
@click.option("--db", default=None, help="Crawl database. [default: tiktok-network.db]")
@click.option("--out", default=None, help="Output folder. [default: outputs]")
@click.option(
    "--format",
    "formats",
    default="csv",
    show_default=True,
    help="Comma-separated: csv (the five classic CSVs, nodes.csv, edges.csv), parquet, graphml,"
    " gexf, videos (videos, account-video edges, the account-hashtag and hashtag co-occurrence"
    " networks as CSV, Parquet and GEXF: after tiktok-network videos).",
)
@click.option(
    "--force", is_flag=True, help="Write GraphML/GEXF even above the size Gephi can open."
)
@click.option(
    "--as-of",
    help="The graph as it stood at this moment (ISO 8601 date or UTC timestamp; a date means "
    "its end): follows first seen by then and not yet found gone.",
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    help="Usernames become keyed ids (HMAC-SHA256 with --key-file); display names, bios and "
    "avatar URLs are dropped; counts, completeness and times are kept.",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    help="The lab's secret key for --pseudonymize (the same key gives the same ids).",
)
@click.option(
    "--share",
    type=click.Choice(["ids"]),
    help="Only what the Research API's terms let leave the lab: accounts and follows as ids"
    " (usernames, or pseudonyms with --pseudonymize), the network's aggregates, a rehydration"
    " script, datapackage.json. No profile, bio or raw response.",
)
@click.option("--config", "config_file", type=click.Path(), help="Settings file.")
@one_line_errors
def export(
    share: str | None,
    formats: str,
    force: bool,
    as_of: str | None,
    pseudonymize: bool,
    key_file: str | None,
    config_file: str | None,
    **flags: Any,
) -> None:
    """Write the outputs from the database, at any moment (even while a crawl runs)."""
    from tiktok_network.config import ConfigError, resolve
    from tiktok_network.export.graph_formats import FORMATS, ExportTooLarge
    from tiktok_network.export.outputs import ExportRequest, check_destination, write_outputs
    from tiktok_network.moments import parse_moment
    from tiktok_network.pseudonyms import KeyFileError, load_key
    from tiktok_network.store.errors import NotACrawlDatabase

    wanted = [f.strip().lower() for f in formats.split(",") if f.strip()]
    unknown = [f for f in wanted if f != "csv" and f not in FORMATS]
    if unknown or not wanted:
        raise UserError(
            f"unknown export format {(unknown or [formats])[0]!r}: expected csv, parquet,"
            " graphml, gexf, videos"
        )
    # SIGTERM unwinds like Ctrl-C, so a half-written temporary file is removed and the
    # previous export stays in place.
    if pseudonymize != (key_file is not None):
        raise UserError(
            "--pseudonymize needs --key-file FILE (the lab's secret key)"
            if pseudonymize
            else "--key-file is for --pseudonymize: give both"
        )
    if share and formats != "csv":
        raise UserError("--share ids writes its own files: leave out --format")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        settings = resolve(flags, config=config_file)
        moment = parse_moment(as_of) if as_of is not None else None
        if key_file is not None:
            load_key(key_file)  # a bad key is said before any work
        request = ExportRequest(
            tuple(wanted),
            moment,
            str(Path(key_file).resolve()) if key_file else None,
            force,
            share,
        )
        check_destination(settings.db, settings.out, request)
        written = write_outputs(settings.db, settings.out, request)
    except (ConfigError, NotACrawlDatabase, ExportTooLarge, KeyFileError, ValueError) as exc:
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
