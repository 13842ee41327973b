"""`tiktok-network emulator`: serve the emulated Research API on loopback."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
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


@click.command(epilog=EXAMPLES)
@click.option(
    "--graph",
    "graph_spec",
    default="synthetic:20000",
    show_default=True,
    help="Edge-list file (SNAP or KONECT) or synthetic:N[,seed=S].",
)
@click.option("--undirected", is_flag=True, help="Each listed pair is a mutual follow.")
@click.option(
    "--port", default=8000, show_default=True, help="TCP port on 127.0.0.1; 0 picks a free one."
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed for faults, quirks and account states."
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    metavar="KEY:SECRET",
    help="Accepted client credentials (repeatable). Default demo-key:demo-secret.",
)
@click.option("--token-ttl", default=7200.0, show_default=True, help="Token lifetime in seconds.")
@click.option("--revoke-every", type=float, help="Invalidate every live token each N seconds.")
@click.option(
    "--oauth-error-status",
    default=200,
    show_default=True,
    help="HTTP status of OAuth error bodies (the service was seen answering 200).",
)
@click.option(
    "--scope-not-authorized",
    is_flag=True,
    help="Answer follow endpoints with 401 scope_not_authorized.",
)
@click.option(
    "--refused-fraction",
    default=0.0,
    show_default=True,
    help="Share of accounts the API refuses to return.",
)
@click.option(
    "--private-fraction",
    default=0.0,
    show_default=True,
    help="Share of private accounts (refused, and hidden by --followers-public-only).",
)
@click.option("--missing", default="", metavar="USER,...", help="Accounts answered as not found.")
@click.option(
    "--not-found-response",
    metavar="STATUS:CODE[:MESSAGE]",
    help="Replace the answer for unknown accounts (default 400:invalid_params).",
)
@click.option(
    "--refused-response",
    metavar="STATUS:CODE[:MESSAGE]",
    help="Replace the answer for refused accounts (default 400:invalid_params).",
)
@click.option(
    "--short-pages",
    default=0.0,
    show_default=True,
    help="Quirk: share of pages shorter than max_count while has_more is true.",
)
@click.option(
    "--omit-empty-list", is_flag=True, help="Quirk: drop the list key from empty OK pages."
)
@click.option(
    "--same-second-repeats",
    default=0.0,
    show_default=True,
    help="Quirk: share of page boundaries whose last entry repeats on the next page.",
)
@click.option("--followers-cap", type=int, help="Quirk: serve at most N followers per account.")
@click.option(
    "--followers-public-only", is_flag=True, help="Quirk: follower lists hide private accounts."
)
@click.option(
    "--follow-quota", default=20000, show_default=True, help="Follow calls per client per day."
)
@click.option(
    "--info-quota", default=1000, show_default=True, help="User-info calls per client per day."
)
@click.option(
    "--separate-follow-quotas",
    is_flag=True,
    help="Followers and following get a quota each instead of sharing one.",
)
@click.option(
    "--qps", type=float, help="Short-term limit: requests per second per client (429 beyond)."
)
@click.option(
    "--failed-requests-count/--failed-requests-free",
    default=True,
    show_default=True,
    help="Whether failed requests use quota.",
)
@click.option(
    "--day-seconds",
    default=86400.0,
    show_default=True,
    help="Length of a quota day in real seconds (tests cross midnight quickly).",
)
@click.option("--latency-ms", metavar="MEAN[,JITTER]", help="Added latency per request.")
@click.option(
    "--faults",
    metavar="KIND=P,...",
    help="Fault probabilities: 500, 500-empty, 504-html, truncated, cursor-400, reset.",
)
@click.option(
    "--request-log", type=click.Path(dir_okay=False), help="Append one JSON line per request."
)
def emulator(
    graph_spec: str, undirected: bool, port: int, request_log: str | None, **options: Any
) -> None:
    """Serve an emulated TikTok Research API on 127.0.0.1 until SIGINT or SIGTERM."""
    from tiktok_network.emulator.graph import GraphLoadError, parse_graph_spec
    from tiktok_network.emulator.settings import SettingsError

    try:
        settings = _emulator_settings(request_log=request_log, **options)
        graph = parse_graph_spec(graph_spec, undirected=undirected, seed=int(options["seed"]))
    except (GraphLoadError, SettingsError) as exc:
        raise UserError(str(exc)) from None
    try:
        asyncio.run(_serve_forever(graph, settings, port))
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None


def _emulator_settings(**o: Any) -> EmulatorSettings:
    from tiktok_network.emulator.settings import (
        NOT_FOUND_MESSAGE,
        REFUSED_MESSAGE,
        EmulatorSettings,
        ErrorTriple,
        parse_clients,
        parse_faults,
        parse_latency,
    )

    settings = EmulatorSettings(
        seed=int(o["seed"]),
        token_ttl=float(o["token_ttl"]),
        revoke_every=o["revoke_every"],
        oauth_error_status=int(o["oauth_error_status"]),
        scope_not_authorized=bool(o["scope_not_authorized"]),
        refused_fraction=float(o["refused_fraction"]),
        private_fraction=float(o["private_fraction"]),
        missing=frozenset(m.strip() for m in str(o["missing"]).split(",") if m.strip()),
        short_pages=float(o["short_pages"]),
        omit_empty_list=bool(o["omit_empty_list"]),
        same_second_repeats=float(o["same_second_repeats"]),
        followers_cap=o["followers_cap"],
        followers_public_only=bool(o["followers_public_only"]),
        follow_quota=int(o["follow_quota"]),
        info_quota=int(o["info_quota"]),
        separate_follow_quotas=bool(o["separate_follow_quotas"]),
        qps=o["qps"],
        failed_requests_count=bool(o["failed_requests_count"]),
        day_seconds=float(o["day_seconds"]),
        latency=parse_latency(o["latency_ms"]),
        faults=parse_faults(o["faults"]),
        request_log=o["request_log"],
    )
    if o["clients"]:
        settings.clients = parse_clients(o["clients"])
    if o["not_found_response"]:
        settings.not_found = ErrorTriple.parse(str(o["not_found_response"]), NOT_FOUND_MESSAGE)
    if o["refused_response"]:
        settings.refused = ErrorTriple.parse(str(o["refused_response"]), REFUSED_MESSAGE)
    return settings


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
