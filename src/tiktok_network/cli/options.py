"""Options shared by the commands that crawl, declared once; defaults live in the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    pass
from tiktok_network.cli.errors import UserError
from tiktok_network.config import SAMPLERS, CrawlSettings

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


# Every crawl setting as an option: (flag, type, help). The type is a click type or "flag";
# the default shown in the help is read from CrawlSettings, where defaults are written once.
CRAWL_OPTIONS: tuple[tuple[str, Any, str], ...] = (
    (
        "--db",
        str,
        "Crawl database: a SQLite file, or postgresql://user@host/dbname shared by workers"
        " (password from the URL, PGPASSWORD or ~/.pgpass).",
    ),
    ("--out", str, "Folder for the CSV outputs."),
    ("--api-base", str, "Research API base URL (or TIKTOK_API_BASE)."),
    ("--concurrency", int, "Requests in flight."),
    ("--qps", float, "Client-side limit of requests per second."),
    ("--max-depth", int, "Seeds are depth 0; 0 fetches only their lists."),
    ("--max-users", int, "Stop after this many users' lists were started."),
    (
        "--max-requests",
        int,
        "Stop this run after this many requests (with --sampler other than bfs: the sample's "
        "budget, counted over the whole crawl).",
    ),
    (
        "--sampler",
        click.Choice(list(SAMPLERS)),
        "Sampling design: breadth-first, snowball (k neighbours a node), forest fire, random "
        "walk, re-weighted, Metropolis-Hastings or non-backtracking walk (docs/sampling.md).",
    ),
    ("--walkers", int, "Walks: independent walkers, started at seeds drawn with --sample-seed."),
    ("--sample-seed", int, "Random seed of the sampler: the same seed gives the same sample."),
    ("--snowball-k", int, "Snowball: neighbours followed from each node, at most."),
    ("--burn-probability", float, "Forest fire: the chance that one more neighbour burns."),
    ("--direction", click.Choice(["following", "followers", "both"]), "Which lists to fetch."),
    (
        "--on-quota",
        click.Choice(["wait", "exit"]),
        "When the daily quota is used up: sleep to 00:00 UTC, or exit 75.",
    ),
    ("--info/--no-info", "flag", "Also fetch user info (1,000/day bucket)."),
    (
        "--info-for",
        click.Choice(["expanded", "all"]),
        "User info for the users whose lists are fetched, or for every user found (implies --info).",
    ),
    (
        "--followers-cap",
        int,
        "The API's follower cap, if known (reported near 4,000-5,000): lists reaching it are"
        " recorded capped. [default: unknown: compare with the profile counts]",
    ),
    (
        "--max-list-items",
        int,
        "Stop each list after N entries (recorded capped_by_choice). [default: no limit]",
    ),
    (
        "--skip-larger-than",
        int,
        "Do not expand accounts whose reported count in a crawled direction exceeds N (their "
        "user info is fetched first). [default: no limit]",
    ),
    (
        "--hidden-following-hint",
        str,
        "Text of the API's error for a following list hidden by its owner (undocumented: the "
        "default is a guess).",
    ),
    ("--follow-records-quota", int, "Follow-list records a day (plan's forecast)."),
    ("--info-records-quota", int, "Records a day of the general endpoints (plan's forecast)."),
    ("--drain-timeout", float, "Seconds in-flight requests get on shutdown."),
    ("--log-every", float, "Seconds between progress lines off a terminal."),
    ("--quiet", "flag", "Print only errors."),
    ("--log-file", click.Path(dir_okay=False), "Also append every log line to this file."),
    ("--follow-quota", int, "Follow calls per day for this client."),
    ("--info-quota", int, "User-info calls per day."),
    ("--separate-follow-quotas", "flag", "Followers and following have a quota each."),
    ("--day-seconds", float, "Length of a quota day (emulator tests)."),
    ("--request-timeout", float, "Seconds per request."),
    ("--max-retries", int, "Retries of a transient failure."),
    ("--retry-base-delay", float, "First backoff delay in seconds."),
    ("--rate-limit-delay", float, "First pause after a 429 rate limit, seconds."),
    (
        "--outage-tolerance",
        float,
        "Seconds the whole API may not answer before the crawl stops with work left "
        "(meanwhile it pauses and probes).",
    ),
    (
        "--lease",
        float,
        "PostgreSQL: seconds without a heartbeat before a worker's users are taken over.",
    ),
    ("--outage-probe-max", float, "Longest pause between probes of an API that does not answer."),
    (
        "--quota-ledger",
        click.Path(dir_okay=False),
        "The daily quota ledger shared by every crawl with these credentials. "
        "[default: $XDG_STATE_HOME/tiktok-network/quota.db]",
    ),
    ("--credentials", click.Path(), "File with TIKTOK_CLIENT_KEY=/TIKTOK_CLIENT_SECRET= lines."),
)
DEFAULTS = CrawlSettings()


def _help_with_default(flag: str, text: str) -> str:
    name = flag.split("/")[0].removeprefix("--").replace("-", "_")
    value = getattr(DEFAULTS, name, None)
    if value is None or isinstance(value, bool) or "[default:" in text:
        return text
    return (
        f"{text} [default: {value:g}]" if isinstance(value, float) else f"{text} [default: {value}]"
    )


def crawl_options(f: Any) -> Any:
    """The options of every crawl setting, the config file option and the refused secrets."""
    options = [
        click.option(flag, is_flag=True, default=None, help=text)
        if kind == "flag" and "/" not in flag
        else click.option(flag, default=None, help=text)
        if kind == "flag"
        else click.option(flag, type=kind, help=_help_with_default(flag, text))
        for flag, kind, text in CRAWL_OPTIONS
    ]
    options.append(
        click.option(
            "--config",
            "config_file",
            type=click.Path(),
            help="Settings file. [default: tiktok-network.toml]",
        )
    )
    for name in REFUSED_SECRET_FLAGS:
        options.append(
            click.option(
                name, hidden=True, expose_value=False, callback=_refuse_secret, is_eager=True
            )
        )
    for option in reversed(options):
        f = option(f)
    return f


def seed_options(f: Any) -> Any:
    """USERS as arguments, and --seeds FILE with its --column: how every command takes seeds."""
    f = click.option(
        "--column", help="Column of the seed CSV holding usernames (name or 1-based number)."
    )(f)
    f = click.option(
        "--seeds", "seed_file", type=click.Path(), help="CSV of usernames (header detected)."
    )(f)
    return click.argument("users", nargs=-1)(f)
