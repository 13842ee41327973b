"""`tiktok-network analyze`: statistics, fits, figures and the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tiktok_network.cli.errors import UserError, one_line_errors

if TYPE_CHECKING:
    from tiktok_network.analysis.report import Network

EXAMPLES = """\b
Examples:
  tiktok-network analyze --db lab.db --out report/
  tiktok-network analyze --edges other.csv --name Instagram --out report/
  tiktok-network analyze --db lab.db --compare insta.csv --compare twitter.txt --out report/
  tiktok-network analyze --edges year.parquet --out-of-core --memory-limit 8GB --out report/
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
@click.option(
    "--out-of-core",
    is_flag=True,
    help="Degree figures only (degrees, fits, reciprocity, assortativity, coverage), by DuckDB"
    " over Parquet or CSV: for graphs larger than memory.",
)
@click.option(
    "--memory-limit",
    default="4GB",
    show_default=True,
    callback=lambda ctx, param, value: _memory_size(value),
    help="With --out-of-core: DuckDB's memory; beyond it, it spills to a temporary folder.",
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
    out_of_core: bool,
    memory_limit: str,
) -> None:
    """Network statistics, fits and figures, side by side with published networks."""
    from tiktok_network.analysis.edgelist import EdgeListError
    from tiktok_network.analysis.report import analyse
    from tiktok_network.export.atomic import check_output_dir

    if not db and not edge_file:
        raise UserError("give --db CRAWL.db or --edges FILE (and optionally --compare FILE ...)")
    check_output_dir(out)  # before the statistics, which can take minutes
    try:
        networks = _networks(db, edge_file, name, undirected, compare, out_of_core, memory_limit)
    except EdgeListError as exc:
        raise UserError(str(exc)) from None
    niches = None
    if db:
        from tiktok_network.analysis.niches import analyse_niches

        niches = analyse_niches(db, Path(out), seed=seed)
    methods = None
    if db:
        from tiktok_network.analysis.methods import methods_paragraph
        from tiktok_network.export.datapackage import provenance

        methods = methods_paragraph(provenance(db))
    doc = analyse(networks, Path(out), seed=seed, niches=niches, methods=methods)
    if db:  # a purge rewrites it (tiktok-network refresh), with what it was compared with
        from tiktok_network.store import crawl_label, record_output

        others = [str(Path(p).resolve()) for p in (*([edge_file] if edge_file else []), *compare)]
        record_output(
            db,
            str(Path(out).resolve()),
            "analyze",
            {
                "name": name or crawl_label(db),
                "seed": seed,
                "compare": others,
                "out_of_core": out_of_core,
                "memory_limit": memory_limit,
            },
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


def _networks(
    db: str | None,
    edge_file: str | None,
    name: str | None,
    undirected: bool,
    compare: tuple[str, ...],
    out_of_core: bool,
    memory_limit: str,
) -> list[Network]:
    """The networks to analyse: in memory, or by their degrees only with ``--out-of-core``."""
    from tiktok_network.analysis.report import crawl_networks_as, file_network

    networks: list[Network] = []
    if db:
        from tiktok_network.store import crawl_label

        label = name or crawl_label(db)
        networks += crawl_networks_as(db, label, out_of_core=out_of_core, memory_limit=memory_limit)
    ooc = {"out_of_core": out_of_core, "memory_limit": memory_limit}
    if edge_file:
        networks.append(file_network(edge_file, name, undirected=undirected, **ooc))
    networks += [file_network(path, reference=True, **ooc) for path in compare]
    return networks


def _memory_size(value: str) -> str:
    """--memory-limit checked before anything is read (a usage error: exit 2)."""
    from tiktok_network.store.columnar import ColumnarError, memory_size

    try:
        return memory_size(value)
    except ColumnarError as exc:
        raise click.BadParameter(str(exc)) from None
