"""Options shared by the commands that crawl, declared once; defaults live in the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    pass
from tiktok_network.cli.errors import UserError
from tiktok_network.config import CrawlSettings

REFUSED_SECRET_FLAGS = (
    "--client-key",
    "--client-secret",
    "--key",
    "--secret",
    "--token",
    "--access-token",
)
CREDENTIALS_HELP = (
    "credentials are never accepted as arguments (every user of the machine can read them with ps): "
    "set TIKTOK_CLIENT_KEY and TIKTOK_CLIENT_SECRET in the environment, or use --credentials FILE"
)


def _refuse_secret(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        raise UserError(CREDENTIALS_HELP)


# Long by design: the option table of every crawl setting, one entry each (data, not logic).
def _default(name: str) -> str:
    """A setting's default, as help text shows it: read from the settings object, the one place
    defaults are written."""
    value = getattr(DEFAULTS, name)
    return f"{value:g}" if isinstance(value, float) else str(value)


DEFAULTS = CrawlSettings()


def crawl_options(f: Any) -> Any:
    options = [
        click.option("--db", help=f"Crawl database (SQLite). [default: {_default('db')}]"),
        click.option("--out", help=f"Folder for the CSV outputs. [default: {_default('out')}]"),
        click.option("--api-base", help="Research API base URL (or TIKTOK_API_BASE)."),
        click.option(
            "--concurrency",
            type=int,
            help=f"Requests in flight. [default: {_default('concurrency')}]",
        ),
        click.option("--qps", type=float, help="Client-side limit of requests per second."),
        click.option(
            "--max-depth",
            type=int,
            help=f"Seeds are depth 0; 0 fetches only their lists. [default: {_default('max_depth')}]",
        ),
        click.option(
            "--max-users", type=int, help="Stop after this many users' lists were started."
        ),
        click.option("--max-requests", type=int, help="Stop this run after this many requests."),
        click.option(
            "--direction",
            type=click.Choice(["following", "followers", "both"]),
            help=f"Which lists to fetch. [default: {_default('direction')}]",
        ),
        click.option(
            "--on-quota",
            type=click.Choice(["wait", "exit"]),
            help=f"When the daily quota is used up: sleep to 00:00 UTC, or exit 75. [default: {_default('on_quota')}]",
        ),
        click.option(
            "--info/--no-info", default=None, help="Also fetch user info (1,000/day bucket)."
        ),
        click.option(
            "--drain-timeout",
            type=float,
            help=f"Seconds in-flight requests get on shutdown. [default: {_default('drain_timeout')}]",
        ),
        click.option(
            "--log-every",
            type=float,
            help=f"Seconds between progress lines off a terminal. [default: {_default('log_every')}]",
        ),
        click.option("--quiet", is_flag=True, default=None, help="Print only errors."),
        click.option(
            "--log-file",
            type=click.Path(dir_okay=False),
            help="Also append every log line to this file.",
        ),
        click.option(
            "--follow-quota",
            type=int,
            help=f"Follow calls per day for this client. [default: {_default('follow_quota')}]",
        ),
        click.option(
            "--info-quota",
            type=int,
            help=f"User-info calls per day. [default: {_default('info_quota')}]",
        ),
        click.option(
            "--separate-follow-quotas",
            is_flag=True,
            default=None,
            help="Followers and following have a quota each.",
        ),
        click.option(
            "--day-seconds",
            type=float,
            help=f"Length of a quota day (emulator tests). [default: {_default('day_seconds')}]",
        ),
        click.option(
            "--request-timeout",
            type=float,
            help=f"Seconds per request. [default: {_default('request_timeout')}]",
        ),
        click.option(
            "--max-retries",
            type=int,
            help=f"Retries of a transient failure. [default: {_default('max_retries')}]",
        ),
        click.option(
            "--retry-base-delay",
            type=float,
            help=f"First backoff delay in seconds. [default: {_default('retry_base_delay')}]",
        ),
        click.option(
            "--rate-limit-delay",
            type=float,
            help=f"First pause after a 429 rate limit, seconds. [default: {_default('rate_limit_delay')}]",
        ),
        click.option(
            "--outage-tolerance",
            type=float,
            help="Seconds the whole API may not answer before the crawl stops with work left "
            f"(meanwhile it pauses and probes). [default: {_default('outage_tolerance')}]",
        ),
        click.option(
            "--outage-probe-max",
            type=float,
            help=f"Longest pause between probes of an API that does not answer. [default: {_default('outage_probe_max')}]",
        ),
        click.option(
            "--quota-ledger",
            type=click.Path(dir_okay=False),
            help="The daily quota ledger shared by every crawl with these credentials. "
            "[default: $XDG_STATE_HOME/tiktok-network/quota.db]",
        ),
        click.option(
            "--credentials",
            type=click.Path(),
            help="File with TIKTOK_CLIENT_KEY=/TIKTOK_CLIENT_SECRET= lines.",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(),
            help="Settings file. [default: tiktok-network.toml]",
        ),
    ]
    for name in REFUSED_SECRET_FLAGS:
        options.append(
            click.option(
                name, hidden=True, expose_value=False, callback=_refuse_secret, is_eager=True
            )
        )
    for option in reversed(options):
        f = option(f)
    return f
