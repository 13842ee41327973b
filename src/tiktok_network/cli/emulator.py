"""`tiktok-network emulator`: serve the emulated Research API on loopback."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from tiktok_network.emulator.graph import FollowGraph
    from tiktok_network.emulator.settings import EmulatorSettings
from tiktok_network.cli.errors import UserError

EXAMPLES = """\b
Examples:
  tiktok-network emulator --port 8000 --graph synthetic:20000
  tiktok-network emulator --port 0 --graph wiki-vote --request-log requests.jsonl
  tiktok-network emulator --graph ego-facebook --faults 500=0.05,reset=0.01 --seed 7
"""


def emulator_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The emulator's settings as options, from the one table in ``emulator/settings.py``;
    the help shows each default as the settings object holds it."""
    from tiktok_network.emulator.settings import OPTIONS, EmulatorSettings

    defaults = EmulatorSettings()
    for option in reversed(OPTIONS):
        default = getattr(defaults, option.field)
        shown = option.kind in ("float", "int") and default is not None
        help_text = option.help + (f" [default: {default:g}]" if shown else "")
        kwargs: dict[str, Any] = {"help": help_text, "metavar": option.metavar}
        if option.kind == "flag":
            kwargs.update(is_flag=True, default=None)
        elif option.kind == "switch":
            kwargs.update(
                default=None, help=f"{option.help} [default: {option.flag.split('/')[0]}]"
            )
        elif option.kind == "many":
            kwargs.update(multiple=True)
        else:
            kwargs["type"] = {"float": float, "int": int}.get(option.kind, str)
        f = click.option(option.flag, option.field, **kwargs)(f)
    return f


@click.command(epilog=EXAMPLES)
@click.option(
    "--graph",
    "graph_spec",
    default="synthetic:20000",
    show_default=True,
    help="Edge-list file (SNAP or KONECT, gzip or plain), synthetic:N[,seed=S],"
    " planted:N[,k=K][,mix=M][,seed=S] (K niches, each with its own hashtags and some with a"
    " burst: GET /_emulator/truth), or a bundled graph: wiki-vote, ego-facebook.",
)
@click.option("--undirected", is_flag=True, help="Each listed pair is a mutual follow.")
@click.option(
    "--port", default=8000, show_default=True, help="TCP port on 127.0.0.1; 0 picks a free one."
)
@emulator_options
def emulator(graph_spec: str, undirected: bool, port: int, **options: Any) -> None:
    """Serve an emulated TikTok Research API on 127.0.0.1 until SIGINT or SIGTERM."""
    from tiktok_network.emulator.graph import GraphLoadError, parse_graph_spec
    from tiktok_network.emulator.settings import SettingsError, settings_from_options

    try:
        settings = settings_from_options(options)
        graph = parse_graph_spec(graph_spec, undirected=undirected, seed=settings.seed)
    except (GraphLoadError, SettingsError) as exc:
        raise UserError(str(exc)) from None
    try:
        asyncio.run(_serve_forever(graph, settings, port))
    except SettingsError as exc:  # found when the service is built (a --videos file)
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


async def _serve_forever(graph: FollowGraph, settings: EmulatorSettings, port: int) -> None:
    from tiktok_network.emulator.server import start_emulator

    # A client that drops a connection is routine here (kill tests, benchmarks): no tracebacks.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    server = await start_emulator(graph, settings, port=port)
    click.echo(f"listening on {server.url}", nl=True)
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
