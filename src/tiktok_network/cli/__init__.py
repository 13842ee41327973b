"""The command line: one module per command, registered here. Only the CLI prints.

Nothing below the CLI imports it: commands call the library (``crawl``, ``store``, ``export``,
``analysis``, ``emulator``) and turn its results and errors into lines and exit statuses.
"""

from __future__ import annotations

import click

from tiktok_network._version import __version__
from tiktok_network.cli.analyze import analyze
from tiktok_network.cli.crawl import crawl
from tiktok_network.cli.db import db
from tiktok_network.cli.demo import demo
from tiktok_network.cli.diff import diff
from tiktok_network.cli.emulator import emulator
from tiktok_network.cli.export import export
from tiktok_network.cli.plan import plan
from tiktok_network.cli.refresh import refresh
from tiktok_network.cli.seeds import seeds
from tiktok_network.cli.status import status
from tiktok_network.cli.videos import videos

COMMANDS = (crawl, refresh, videos, seeds, plan, status, export, diff, analyze, emulator, demo, db)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tiktok-network")
def app() -> None:
    """Map the TikTok follow graph through the TikTok Research API."""


for command in COMMANDS:
    app.add_command(command)


def main() -> None:
    app()
