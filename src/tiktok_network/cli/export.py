"""`tiktok-network export`: every output format, at any moment."""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    pass
from tiktok_network.cli.errors import UserError, one_line_errors

EXAMPLES = """\b
Examples:
  tiktok-network export --db lab.db --out outputs/
  tiktok-network export --db lab.db --out outputs/ --format csv,parquet,graphml,gexf
"""


@click.command(epilog=EXAMPLES)
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
    from tiktok_network.export.atomic import check_output_dir
    from tiktok_network.export.csvs import export_csvs
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
