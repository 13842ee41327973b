"""`tiktok-network demo`: the whole tool on embedded defaults, offline."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

if TYPE_CHECKING:
    pass
import shutil

from tiktok_network.cli.errors import one_line_errors

EXAMPLES = """\b
Examples:
  tiktok-network demo
  tiktok-network demo --users 5000 --max-depth 1 --out /tmp/demo
"""


@click.command(epilog=EXAMPLES)
@click.option("--out", default="demo-outputs", show_default=True, help="Folder for every output.")
@click.option(
    "--users", "n_users", default=20000, show_default=True, help="Users in the synthetic graph."
)
@click.option(
    "--max-depth", default=2, show_default=True, help="Depth of the crawl from the seeds."
)
@click.option(
    "--seeds", "n_seeds", default=3, show_default=True, help="How many seeds to start from."
)
@click.option(
    "--quirks/--no-quirks",
    default=True,
    show_default=True,
    help="Serve the API as researchers report it (follower cap, public followers only, hidden "
    "following lists, private accounts, drifting counts), so the report's coverage section "
    "has something to say.",
)
@one_line_errors
def demo(out: str, n_users: int, max_depth: int, n_seeds: int, quirks: bool) -> None:
    """Emulator + crawl + exports + summary, offline and without credentials."""
    sys.exit(
        run_demo(
            out,
            n_users=n_users,
            max_depth=max_depth,
            n_seeds=n_seeds,
            quirks=quirks,
            console=Console(stderr=True),
        )
    )


# The API as reported (docs/completeness.md): what the demo's emulator serves by default.
DEMO_QUIRKS = {
    "followers_cap": 200,
    "followers_public_only": True,
    "private_fraction": 0.05,
    "refused_fraction": 0.02,
    "hidden_following": 0.1,
    "count_drift": 0.02,
}


DEMO_KEY, DEMO_SECRET = "demo-key", "demo-secret"  # the emulator's default client
# The demo's user-info bucket: a day's worth for every account it expands, so the demo ends in
# minutes (a real crawl with --info waits for the next day once its 1,000 calls are spent).
DEMO_INFO_QUOTA = 100_000


def run_demo(
    out: str,
    *,
    n_users: int,
    max_depth: int,
    n_seeds: int,
    console: Console,
    quirks: bool = True,
) -> int:
    from tiktok_network.cli.progress import setup_logging

    out_dir = Path(out)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    setup_logging(False, console)
    return asyncio.run(_demo(out_dir, n_users, max_depth, n_seeds, quirks, console))


async def _demo(
    out_dir: Path, n_users: int, max_depth: int, n_seeds: int, quirks: bool, console: Console
) -> int:
    # Imported here, not at the top: every command's start-up would pay for them.
    from tiktok_network.api.auth import Credentials
    from tiktok_network.cli.progress import run_with_progress
    from tiktok_network.config import CrawlSettings
    from tiktok_network.crawl.engine import Engine, StopReason
    from tiktok_network.emulator.graph import parse_graph_spec
    from tiktok_network.emulator.server import running_emulator
    from tiktok_network.emulator.settings import EmulatorSettings
    from tiktok_network.export.csvs import export_csvs
    from tiktok_network.export.datapackage import write_datapackage

    start = time.monotonic()
    graph = await asyncio.to_thread(parse_graph_spec, f"synthetic:{n_users}")
    click.echo(
        f"emulator: synthetic graph of {graph.n_users:,} users and {graph.n_edges:,} follows",
        err=True,
    )
    emulated = EmulatorSettings(**(DEMO_QUIRKS if quirks else {}), info_quota=DEMO_INFO_QUOTA)
    if quirks:
        click.echo(
            "emulator quirks: "
            + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in DEMO_QUIRKS.items()),
            err=True,
        )
    async with running_emulator(graph, emulated) as server:
        # Seeds: accounts with a modest following list, like typical users.
        seeds = [
            graph.usernames[u]
            for u in range(graph.n_users)
            if 15 <= graph.following.degree(u) <= 40
        ][:n_seeds]
        settings = CrawlSettings(
            api_base=server.url,
            db=str(out_dir / "demo.db"),
            out=str(out_dir),
            concurrency=16,
            max_depth=max_depth,
            direction="both" if quirks else "following",
            info=quirks,  # the profile counts tell complete lists from capped ones
            info_quota=DEMO_INFO_QUOTA,
            followers_cap=DEMO_QUIRKS["followers_cap"] if quirks else None,  # as a lab sets it
            log_every=5,
        )
        click.echo(
            f"crawling {server.url} from seeds {', '.join(seeds)} to depth {max_depth}", err=True
        )
        engine = Engine(settings, Credentials(DEMO_KEY, DEMO_SECRET), seed=0)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, engine.request_stop, StopReason.SIGNAL)
        result = await run_with_progress(engine, seeds, settings, console)
        served = server.emulator.log.snapshot()["total_requests"]
    written = await asyncio.to_thread(export_csvs, settings.db, settings.out)
    await asyncio.to_thread(
        write_datapackage, settings.db, out_dir, title="TikTok follow network: the demo crawl"
    )
    click.echo("analysing the crawl (statistics, fits, figures, report)...", err=True)
    report = await asyncio.to_thread(_report, settings.db, out_dir / "report")
    users, edges, reciprocity = _summary_figures(settings.db)
    lines = [
        "",
        "demo summary",
        f"  users known: {users:,} (lists fetched for {sum(result.stats.users_done.values()):,})",
        f"  edges: {edges:,}   edge reciprocity: {reciprocity:.3f}",
        f"  requests: {result.requests:,} to the emulator ({served:,} served incl. tokens)",
        f"  time: {time.monotonic() - start:.1f} s",
        f"  outputs in {out_dir}/: "
        + ", ".join([*(f"{name}.csv" for name in written), "datapackage.json"]),
        f"  report: {report}",
        f"  database: {settings.db}  (try: {_this_command()} status --db {settings.db})",
    ]
    click.echo("\n".join(lines))
    return result.exit_code


def _this_command() -> str:
    """How the user can run this tool again: the bare name only if it is on PATH (after
    ``make demo`` it is in .venv/bin, which usually is not)."""
    import shutil
    import sys

    script = Path(sys.argv[0])
    found = shutil.which("tiktok-network")
    if found and script.name == "tiktok-network" and Path(found).resolve() == script.resolve():
        return "tiktok-network"
    if script.name == "tiktok-network" and script.exists():
        return os.path.relpath(script) if not script.is_absolute() else str(script)
    return f"{sys.executable} -m tiktok_network.cli"


def _report(db: str, out: Path) -> Path:
    from tiktok_network.analysis.methods import methods_paragraph
    from tiktok_network.analysis.report import analyse, crawl_networks
    from tiktok_network.export.datapackage import provenance

    methods = methods_paragraph(provenance(db))
    analyse(crawl_networks(db, "demo crawl"), out, methods=methods)
    return out / "report.html"


def _summary_figures(db: str) -> tuple[int, int, float]:
    from tiktok_network.store.read import CrawlReader

    with CrawlReader(db) as reader:
        return reader.summary()
