"""`tiktok-network analyze`: statistics, fits, figures and the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    pass
from tiktok_network.cli.errors import UserError, one_line_errors

EXAMPLES = """\b
Examples:
  tiktok-network analyze --db lab.db --out report/
  tiktok-network analyze --edges other.csv --name Instagram --out report/
  tiktok-network analyze --db lab.db --compare insta.csv --compare twitter.txt --out report/
"""


@click.command(epilog=EXAMPLES)
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
    from tiktok_network.analysis.edgelist import EdgeListError, read_edges
    from tiktok_network.analysis.report import Network, analyse, crawl_networks
    from tiktok_network.export.atomic import check_output_dir

    if not db and not edge_file:
        raise UserError("give --db CRAWL.db or --edges FILE (and optionally --compare FILE ...)")
    check_output_dir(out)  # before the statistics, which can take minutes
    networks: list[Network] = []
    try:
        if db:
            from tiktok_network.store import crawl_label

            networks += crawl_networks(db, name or crawl_label(db))
        if edge_file:
            el = read_edges(edge_file, name, undirected)
            networks.append(Network(name or el.name, el))
        for path in compare:
            el = read_edges(path)
            networks.append(Network(el.name, el))
    except EdgeListError as exc:
        raise UserError(str(exc)) from None
    niches = None
    if db:
        from tiktok_network.analysis.niches import analyse_niches

        niches = analyse_niches(db, Path(out), seed=seed)
    doc = analyse(networks, Path(out), seed=seed, niches=niches)
    if db:  # a purge rewrites it (tiktok-network refresh), with what it was compared with
        from tiktok_network.store import crawl_label, record_output

        others = [str(Path(p).resolve()) for p in (*([edge_file] if edge_file else []), *compare)]
        record_output(
            db,
            str(Path(out).resolve()),
            "analyze",
            {"name": name or crawl_label(db), "seed": seed, "compare": others},
        )
    for n in doc["networks"]:
        what = "empty graph" if n.get("empty") else f"{n['nodes']:,} nodes, {n['edges']:,} edges"
        click.echo(f"{n['label']}: {what}")
    if niches is not None:
        click.echo(
            f"niches: {len(niches['niches']):,} described from {niches['videos']:,} videos:"
            f" {out}/niches.csv, {out}/communities.csv, {out}/bursts.csv"
        )
    click.echo(
        f"report: {out}/report.html, {out}/report.md, {out}/stats.json ({doc['seconds']:.1f} s)"
    )
